import t from 'tap';
import { ReplayBuffer } from '../../../../src/mesh/dataplane/userspace/replay-buffer';

interface Case {
  name: string;
  limit: number;
  /** Chunks added in order; `end` half-closes. */
  steps: (string | 'end')[];
  /** What add() returned for each chunk. */
  accepted: boolean[];
  held: string;
  replayable: boolean;
  ended: boolean;
  size: number;
}

const cases: Case[] = [
  { name: 'nothing sent', limit: 8, steps: [], accepted: [], held: '', replayable: true, ended: false, size: 0 },
  { name: 'chunks are kept in order', limit: 8, steps: ['ab', 'cd'], accepted: [true, true], held: 'abcd', replayable: true, ended: false, size: 4 },
  { name: 'exactly the limit still fits', limit: 8, steps: ['abcd', 'efgh'], accepted: [true, true], held: 'abcdefgh', replayable: true, ended: false, size: 8 },
  {
    name: 'one byte past the limit lets go of everything',
    limit: 8,
    steps: ['abcd', 'efghi'],
    accepted: [true, false],
    held: '',
    replayable: false,
    ended: false,
    size: 9,
  },
  {
    name: 'after an overflow nothing is kept again, even small chunks',
    limit: 4,
    steps: ['abcdef', 'g'],
    accepted: [false, false],
    held: '',
    replayable: false,
    ended: false,
    size: 6,
  },
  { name: 'a half-close is remembered', limit: 8, steps: ['ping', 'end'], accepted: [true], held: 'ping', replayable: true, ended: true, size: 4 },
  { name: 'a half-close with nothing sent', limit: 8, steps: ['end'], accepted: [], held: '', replayable: true, ended: true, size: 0 },
  { name: 'a zero limit holds only empty chunks', limit: 0, steps: ['', 'x'], accepted: [true, false], held: '', replayable: false, ended: false, size: 1 },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const buffer = new ReplayBuffer(c.limit);
    const accepted: boolean[] = [];
    for (const step of c.steps) {
      if (step === 'end') buffer.end();
      else accepted.push(buffer.add(Buffer.from(step)));
    }
    t.same(accepted, c.accepted, 'add results');
    t.equal(Buffer.concat(buffer.chunks).toString(), c.held, 'held bytes');
    t.equal(buffer.replayable, c.replayable, 'replayable');
    t.equal(buffer.ended, c.ended, 'ended');
    t.equal(buffer.size, c.size, 'size');
  });
}

t.test('fits: whether a chunk would pass the limit, without adding it', async (t) => {
  const buffer = new ReplayBuffer(8);
  buffer.add(Buffer.from('abcd'));
  t.ok(buffer.fits(4), 'up to the limit');
  t.notOk(buffer.fits(5), 'past the limit');
  t.equal(buffer.size, 4, 'nothing added');
  buffer.add(Buffer.from('efghi'));
  t.notOk(buffer.fits(0), 'nothing fits after an overflow');
});
