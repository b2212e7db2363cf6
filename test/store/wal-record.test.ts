import t from 'tap';
import { crc32 } from '../../src/store/crc32';
import { encodeRecords, FRAME_HEADER_BYTES, scanSegment, type SegmentScan } from '../../src/store/wal-record';

/** A segment written as these group-commit batches of revisions, and where each frame starts. */
function segment(batches: number[][]): { buf: Buffer; frame: Map<number, number> } {
  const frame = new Map<number, number>();
  const parts: Buffer[] = [];
  let offset = 0;
  for (const batch of batches) {
    for (const revision of batch) {
      const one = encodeRecords([
        { revision, batchStart: batch[0], batchEnd: batch[batch.length - 1], ops: [{ type: 'put', key: `/k/${revision}`, value: { revision } }] },
      ]);
      frame.set(revision, offset);
      offset += one.length;
      parts.push(one);
    }
  }
  return { buf: Buffer.concat(parts), frame };
}

/** A frame whose checksum is right but whose payload is not a record. */
function frameOf(payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

function flip(buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf);
  out[at] ^= 0x40;
  return out;
}

type Damage = (s: { buf: Buffer; frame: Map<number, number> }) => Buffer;

const PAYLOAD = FRAME_HEADER_BYTES + 4;

const cases: { name: string; batches: number[][]; damage?: Damage; records: number[]; kind?: 'torn' | 'corrupt'; reason?: string }[] = [
  { name: 'empty segment', batches: [], records: [] },
  { name: 'intact batches', batches: [[1], [2, 3], [4, 5, 6]], records: [1, 2, 3, 4, 5, 6] },
  {
    name: 'cut inside the last payload',
    batches: [[1], [2, 3]],
    damage: ({ buf, frame }) => buf.subarray(0, frame.get(3)! + PAYLOAD),
    records: [1, 2],
    kind: 'torn',
    reason: 'short-payload',
  },
  {
    name: 'cut inside the last header',
    batches: [[1], [2, 3]],
    damage: ({ buf, frame }) => buf.subarray(0, frame.get(3)! + 5),
    records: [1, 2],
    kind: 'torn',
    reason: 'short-header',
  },
  {
    name: 'cut at a frame boundary is a clean end',
    batches: [[1], [2, 3]],
    damage: ({ buf, frame }) => buf.subarray(0, frame.get(3)!),
    records: [1, 2],
  },
  {
    name: 'zeros after the last frame',
    batches: [[1], [2]],
    damage: ({ buf }) => Buffer.concat([buf, Buffer.alloc(64)]),
    records: [1, 2],
    kind: 'torn',
    reason: 'bad-length',
  },
  {
    name: 'garbage after the last frame',
    batches: [[1], [2]],
    damage: ({ buf }) => Buffer.concat([buf, Buffer.from('this is not a frame at all, just text')]),
    records: [1, 2],
    kind: 'torn',
  },
  {
    name: 'bit flip in the last record',
    batches: [[1], [2]],
    damage: ({ buf, frame }) => flip(buf, frame.get(2)! + PAYLOAD),
    records: [1],
    kind: 'torn',
    reason: 'bad-checksum',
  },
  {
    name: 'damage in the middle of the final batch',
    batches: [[1], [2, 3, 4]],
    damage: ({ buf, frame }) => flip(buf, frame.get(3)! + PAYLOAD),
    records: [1, 2],
    kind: 'torn',
  },
  {
    name: 'damage at the start of the final batch',
    batches: [[1], [2, 3, 4]],
    damage: ({ buf, frame }) => flip(buf, frame.get(2)! + PAYLOAD),
    records: [1],
    kind: 'torn',
  },
  {
    name: 'damage at the start of the segment inside its only batch',
    batches: [[1, 2, 3]],
    damage: ({ buf }) => flip(buf, PAYLOAD),
    records: [],
    kind: 'torn',
  },
  {
    name: 'damage in an earlier batch',
    batches: [[1], [2, 3], [4]],
    damage: ({ buf, frame }) => flip(buf, frame.get(2)! + PAYLOAD),
    records: [1],
    kind: 'corrupt',
  },
  {
    name: 'damage to a whole one-record batch before the final one',
    batches: [[1], [2], [3, 4]],
    damage: ({ buf, frame }) => flip(buf, frame.get(2)! + PAYLOAD),
    records: [1],
    kind: 'corrupt',
  },
  {
    name: 'damage to the end of an earlier batch',
    batches: [[1, 2], [3, 4]],
    damage: ({ buf, frame }) => flip(buf, frame.get(2)! + PAYLOAD),
    records: [1],
    kind: 'corrupt',
  },
  {
    name: 'damage to the first batch of a segment',
    batches: [[1], [2, 3]],
    damage: ({ buf }) => flip(buf, PAYLOAD),
    records: [],
    kind: 'corrupt',
  },
  {
    name: 'a damaged length in the middle',
    batches: [[1], [2], [3]],
    damage: ({ buf, frame }) => {
      const out = Buffer.from(buf);
      out.writeUInt32LE(0xfffffff0, frame.get(2)!);
      return out;
    },
    records: [1],
    kind: 'corrupt',
    reason: 'short-payload',
  },
  {
    name: 'a checksummed frame that is no record',
    batches: [[1]],
    damage: ({ buf }) => Buffer.concat([buf, frameOf('{"hello":"world"}')]),
    records: [1],
    kind: 'corrupt',
    reason: 'bad-payload',
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const s = segment(c.batches);
    const buf = c.damage ? c.damage(s) : s.buf;
    const scan: SegmentScan = scanSegment(buf);
    t.same(
      scan.records.map((r) => r.revision),
      c.records,
    );
    t.same(scan.records.map((r) => r.ops[0]), c.records.map((r) => ({ type: 'put', key: `/k/${r}`, value: { revision: r } })));
    if (!c.kind) {
      t.equal(scan.damage, undefined);
      t.equal(scan.validBytes, buf.length);
      return;
    }
    t.equal(scan.damage?.kind, c.kind);
    if (c.reason) t.equal(scan.damage?.reason, c.reason);
    const end = c.records.length ? (s.frame.get(c.records[c.records.length - 1] + 1) ?? s.buf.length) : 0;
    t.equal(scan.validBytes, end, 'valid prefix ends where the damage starts');
    t.equal(scan.damage?.offset, scan.validBytes);
  });
}
