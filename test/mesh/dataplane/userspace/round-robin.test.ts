import t from 'tap';
import { RoundRobin, backendKey } from '../../../../src/mesh/dataplane/userspace/round-robin';
import type { Backend } from '../../../../src/mesh/table/table';

function b(id: string, weight = 1, port = 1000): Backend {
  return { id, address: '127.0.0.1', port, weight };
}

/** Ids of the first pick of `n` successive connections. */
function picks(rr: RoundRobin, n: number): string[] {
  return Array.from({ length: n }, () => rr.next()[0]?.id ?? '-');
}

const cases: { name: string; backends: Backend[]; n: number; want: string[] }[] = [
  { name: 'no backends', backends: [], n: 2, want: ['-', '-'] },
  { name: 'equal weights rotate in list order', backends: [b('a'), b('b'), b('c')], n: 6, want: ['a', 'b', 'c', 'a', 'b', 'c'] },
  { name: 'weight 0 is skipped', backends: [b('a'), b('b', 0), b('c')], n: 4, want: ['a', 'c', 'a', 'c'] },
  { name: 'all draining gives nothing', backends: [b('a', 0), b('b', 0)], n: 2, want: ['-', '-'] },
  {
    name: 'weights spread smoothly',
    backends: [b('a', 5), b('b', 1), b('c', 1)],
    n: 7,
    want: ['a', 'a', 'b', 'a', 'c', 'a', 'a'],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const rr = new RoundRobin();
    rr.setBackends(c.backends);
    t.same(picks(rr, c.n), c.want);
  });
}

t.test('fallbacks list every other live backend once, after the pick', async (t) => {
  const rr = new RoundRobin();
  rr.setBackends([b('a'), b('b', 0), b('c'), b('d')]);
  t.same(rr.next().map((x) => x.id), ['a', 'c', 'd']);
  t.same(rr.next().map((x) => x.id), ['c', 'd', 'a']);
  t.same(rr.next().map((x) => x.id), ['d', 'a', 'c']);
});

t.test('a new backend list keeps the rotation going', async (t) => {
  const rr = new RoundRobin();
  rr.setBackends([b('a'), b('b'), b('c')]);
  t.same(picks(rr, 1), ['a']);
  rr.setBackends([b('a'), b('b'), b('c'), b('d')]);
  t.same(picks(rr, 4).sort(), ['a', 'b', 'c', 'd'], 'each backend once per round after the change');
  rr.setBackends([b('c')]);
  t.same(picks(rr, 2), ['c', 'c']);
});

t.test('isLive: present, same address and port, weight > 0', async (t) => {
  const rr = new RoundRobin();
  rr.setBackends([b('a'), b('b', 0), b('c', 1, 2000)]);
  t.ok(rr.isLive(b('a')));
  t.notOk(rr.isLive(b('b')), 'draining');
  t.notOk(rr.isLive(b('c')), 'moved to another port');
  t.notOk(rr.isLive(b('z')), 'gone');
});

t.test('nextUntried: the arrival order first, live and untried only, then backends added since', async (t) => {
  const order = [b('a'), b('b'), b('c')];
  const key = (id: string, port = 1000) => backendKey(b(id, 1, port));
  const cases: { name: string; now: Backend[]; tried: string[]; want: string | undefined }[] = [
    { name: 'first untried in arrival order', now: order, tried: [key('a')], want: 'b' },
    { name: 'skips every tried one', now: order, tried: [key('a'), key('b')], want: 'c' },
    { name: 'all tried', now: order, tried: [key('a'), key('b'), key('c')], want: undefined },
    { name: 'a backend drained since is skipped', now: [b('a'), b('b', 0), b('c')], tried: [key('a')], want: 'c' },
    { name: 'a backend removed since is skipped', now: [b('a'), b('c')], tried: [key('a')], want: 'c' },
    { name: 'a backend that moved port is skipped as listed, found again at its new port', now: [b('a'), b('b', 1, 2000)], tried: [key('a')], want: 'b' },
    { name: 'a backend added since comes after the arrival order', now: [b('a'), b('d'), b('c')], tried: [key('a')], want: 'c' },
    { name: 'a backend added since is used when the rest are gone', now: [b('a'), b('d')], tried: [key('a')], want: 'd' },
    { name: 'only draining backends left', now: [b('a'), b('b', 0), b('c', 0)], tried: [key('a')], want: undefined },
    { name: 'an empty list', now: [], tried: [], want: undefined },
  ];
  for (const c of cases) {
    const rr = new RoundRobin();
    rr.setBackends(c.now);
    const got = rr.nextUntried(order, new Set(c.tried));
    t.equal(got?.id, c.want, c.name);
  }
  const moved = new RoundRobin();
  moved.setBackends([b('a'), b('b', 1, 2000)]);
  t.equal(moved.nextUntried(order, new Set([key('a')]))?.port, 2000, 'the moved backend is tried at its new port');
});

t.test('nextUntried does not move the rotation', async (t) => {
  const rr = new RoundRobin();
  rr.setBackends([b('a'), b('b'), b('c')]);
  const order = rr.next();
  rr.nextUntried(order, new Set([backendKey(order[0])]));
  rr.nextUntried(order, new Set());
  t.same(picks(rr, 2), ['b', 'c']);
});
