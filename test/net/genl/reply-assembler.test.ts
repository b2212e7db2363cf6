import t from 'tap';
import { NLM_F_DUMP_INTR, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN } from '../../../src/net/genl/genl-message';
import type { NetlinkMessage } from '../../../src/net/genl/genl-message';
import { DumpInterruptedError, NetlinkError } from '../../../src/net/genl/netlink-error';
import { ReplyAssembler } from '../../../src/net/genl/reply-assembler';

const FAMILY = 0x1d;

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
function data(cmd: number, flags = 0): NetlinkMessage {
  return { type: FAMILY, flags, seq: 1, pid: 0, payload: Buffer.from([cmd, 1, 0, 0]) };
}
function err(code: number): NetlinkMessage {
  return { type: NLMSG_ERROR, flags: 0, seq: 1, pid: 0, payload: Buffer.concat([int32(code), Buffer.alloc(16)]) };
}
function done(code = 0, flags = NLM_F_MULTI): NetlinkMessage {
  return { type: NLMSG_DONE, flags, seq: 1, pid: 0, payload: int32(code) };
}
const noop: NetlinkMessage = { type: NLMSG_NOOP, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(0) };
const overrun: NetlinkMessage = { type: NLMSG_OVERRUN, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(0) };

type Outcome = { state: 'pending' } | { state: 'done'; cmds: number[] } | { state: 'failed'; errno?: number; interrupted?: boolean };

const cases: { name: string; kind: 'do' | 'dump'; messages: NetlinkMessage[]; outcome: Outcome }[] = [
  { name: 'do: ACK alone', kind: 'do', messages: [err(0)], outcome: { state: 'done', cmds: [] } },
  { name: 'do: reply then ACK', kind: 'do', messages: [data(1), err(0)], outcome: { state: 'done', cmds: [1] } },
  { name: 'do: reply without ACK yet', kind: 'do', messages: [data(1)], outcome: { state: 'pending' } },
  { name: 'do: errno', kind: 'do', messages: [err(-17)], outcome: { state: 'failed', errno: 17 } },
  { name: 'do: NOOP ignored', kind: 'do', messages: [noop, err(0)], outcome: { state: 'done', cmds: [] } },
  { name: 'dump: parts then DONE', kind: 'dump', messages: [data(1, NLM_F_MULTI), data(1, NLM_F_MULTI), done()], outcome: { state: 'done', cmds: [1, 1] } },
  { name: 'dump: empty', kind: 'dump', messages: [done()], outcome: { state: 'done', cmds: [] } },
  { name: 'dump: DONE without payload (old kernels)', kind: 'dump', messages: [{ ...done(), payload: Buffer.alloc(0) }], outcome: { state: 'done', cmds: [] } },
  { name: 'dump: error in DONE', kind: 'dump', messages: [data(1, NLM_F_MULTI), done(-1)], outcome: { state: 'failed', errno: 1 } },
  { name: 'dump: refused up front', kind: 'dump', messages: [err(-1)], outcome: { state: 'failed', errno: 1 } },
  { name: 'dump: a stray ACK does not end it', kind: 'dump', messages: [data(1, NLM_F_MULTI), err(0)], outcome: { state: 'pending' } },
  {
    name: 'dump: interrupted part',
    kind: 'dump',
    messages: [data(1, NLM_F_MULTI | NLM_F_DUMP_INTR), done()],
    outcome: { state: 'failed', interrupted: true },
  },
  { name: 'dump: interrupted DONE', kind: 'dump', messages: [done(0, NLM_F_MULTI | NLM_F_DUMP_INTR)], outcome: { state: 'failed', interrupted: true } },
  { name: 'overrun', kind: 'dump', messages: [overrun], outcome: { state: 'failed', errno: 105 } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const a = new ReplyAssembler('test request', c.kind);
    let step: ReturnType<ReplyAssembler['feed']> = { state: 'pending' };
    for (const m of c.messages) {
      step = a.feed(m);
      if (step.state !== 'pending') break;
    }
    if (c.outcome.state === 'pending') t.equal(step.state, 'pending');
    else if (c.outcome.state === 'done') {
      t.equal(step.state, 'done');
      if (step.state === 'done') t.same(step.replies.map((r) => r.cmd), c.outcome.cmds);
    } else {
      t.equal(step.state, 'failed');
      if (step.state !== 'failed') return;
      if (c.outcome.errno !== undefined) {
        t.type(step.error, NetlinkError);
        t.equal((step.error as NetlinkError).errno, c.outcome.errno);
        t.match(step.error.message, /^test request/);
      }
      if (c.outcome.interrupted) {
        t.type(step.error, DumpInterruptedError);
        t.equal((step.error as DumpInterruptedError).temporary, true);
      }
    }
  });
}

t.test('NetlinkError names its errno', async (t) => {
  const e = new NetlinkError('IPVS new-service tcp/10.0.0.2:80', 17);
  t.equal(e.errnoName, 'EEXIST');
  t.equal(e.message, 'IPVS new-service tcp/10.0.0.2:80: EEXIST (errno 17)');
  t.equal(new NetlinkError('x', 9999).errnoName, 'errno 9999');
});
