import t from 'tap';
import type { DesiredService } from '../../../../src/mesh/dataplane/ipvs/ipvs-desired';
import { parseCidr, planIpvs } from '../../../../src/mesh/dataplane/ipvs/ipvs-plan';
import type { IpvsOp, IpvsPlanInput, ObservedService } from '../../../../src/mesh/dataplane/ipvs/ipvs-plan';
import type { IpvsDest, IpvsDestEntry, IpvsService } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';
import { destKey, serviceKey } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';

const HASHED = 0x2;

function svc(address: string, port = 80, scheduler = 'rr', flags = 0): IpvsService {
  return { af: 2, protocol: 6, address, port, fwmark: 0, scheduler, flags, timeout: 0, netmask: 0xffffffff };
}
function mark(fwmark: number, scheduler = 'rr'): IpvsService {
  return { af: 2, protocol: 0, address: '', port: 0, fwmark, scheduler, flags: 0, timeout: 0, netmask: 0xffffffff };
}
function want(service: IpvsService, dests: IpvsDest[] = []): DesiredService {
  return { frontendId: `fe:${serviceKey(service)}`, service, dests };
}
function d(address: string, weight = 1, upperThreshold = 0): IpvsDest {
  return { af: 2, address, port: 8080, fwdMethod: 0, weight, upperThreshold, lowerThreshold: 0 };
}
function e(address: string, weight: number, active = 0, inactive = 0): IpvsDestEntry {
  return { ...d(address, weight), activeConns: active, inactiveConns: inactive, persistConns: 0 };
}
/** A kernel service as dumped: the kernel adds HASHED. */
function have(service: IpvsService, dests: IpvsDestEntry[] | null = []): ObservedService {
  return { service: { ...service, flags: service.flags | HASHED }, dests };
}

/** One line per op, so expectations read like a log. */
function describe(op: IpvsOp): string {
  const s = serviceKey(op.service);
  switch (op.op) {
    case 'new-service':
    case 'set-service':
      return `${op.op} ${s} ${op.service.scheduler}${op.service.flags ? ` flags=${op.service.flags}` : ''}`;
    case 'del-service':
      return `del-service ${s}`;
    case 'new-dest':
    case 'set-dest':
      return `${op.op} ${s} ${destKey(op.dest)} w${op.dest.weight}${op.dest.upperThreshold ? ` u${op.dest.upperThreshold}` : ''}`;
    case 'del-dest':
      return `del-dest ${s} ${destKey(op.dest)} ${op.reason}`;
  }
}

const A = svc('10.0.0.2');
const B = svc('10.0.0.3');
const C = svc('10.0.0.4');
const NOW = 1_000_000;
const DRAIN = 60_000;

interface Case {
  name: string;
  input: Partial<IpvsPlanInput>;
  ops: string[];
  owned?: string[];
  adopted?: string[];
  draining?: [string, number][];
}

const cases: Case[] = [
  {
    name: 'new frontend: service, then its serving destinations (a draining one is not created)',
    input: { desired: [want(A, [d('10.0.1.5'), d('10.0.1.6', 0)])] },
    ops: ['new-service tcp/10.0.0.2:80 rr', 'new-dest tcp/10.0.0.2:80 10.0.1.5:8080 w1'],
    owned: ['tcp/10.0.0.2:80'],
  },
  {
    name: 'idempotent: kernel already matches (HASHED flag ignored, connections irrelevant)',
    input: { desired: [want(A, [d('10.0.1.5')])], observed: [have(A, [e('10.0.1.5', 1, 5, 9)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: [],
    owned: ['tcp/10.0.0.2:80'],
    adopted: [],
  },
  {
    name: 'backend added',
    input: { desired: [want(A, [d('10.0.1.5'), d('10.0.1.6')])], observed: [have(A, [e('10.0.1.5', 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['new-dest tcp/10.0.0.2:80 10.0.1.6:8080 w1'],
  },
  {
    name: 'backend removed with no connections: deleted at once',
    input: { desired: [want(A, [d('10.0.1.5')])], observed: [have(A, [e('10.0.1.5', 1), e('10.0.1.6', 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['del-dest tcp/10.0.0.2:80 10.0.1.6:8080 removed'],
  },
  {
    name: 'backend removed with connections: weight 0 and the drain clock starts',
    input: { desired: [want(A, [d('10.0.1.5')])], observed: [have(A, [e('10.0.1.5', 1), e('10.0.1.6', 1, 2, 0)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['set-dest tcp/10.0.0.2:80 10.0.1.6:8080 w0'],
    draining: [['tcp/10.0.0.2:80 10.0.1.6:8080', NOW]],
  },
  {
    name: 'removed backend still draining within the deadline: nothing to do, clock kept',
    input: {
      desired: [want(A, [d('10.0.1.5')])],
      observed: [have(A, [e('10.0.1.5', 1), e('10.0.1.6', 0, 0, 3)])],
      owned: new Set(['tcp/10.0.0.2:80']),
      drainingSince: new Map([['tcp/10.0.0.2:80 10.0.1.6:8080', NOW - DRAIN + 1]]),
    },
    ops: [],
    draining: [['tcp/10.0.0.2:80 10.0.1.6:8080', NOW - DRAIN + 1]],
  },
  {
    name: 'removed backend past the drain deadline: deleted with its connections',
    input: {
      desired: [want(A, [d('10.0.1.5')])],
      observed: [have(A, [e('10.0.1.5', 1), e('10.0.1.6', 0, 1, 0)])],
      owned: new Set(['tcp/10.0.0.2:80']),
      drainingSince: new Map([['tcp/10.0.0.2:80 10.0.1.6:8080', NOW - DRAIN]]),
    },
    ops: ['del-dest tcp/10.0.0.2:80 10.0.1.6:8080 drain-deadline'],
    draining: [],
  },
  {
    name: 'backend drained in the table while it has connections: weight 0',
    input: { desired: [want(A, [d('10.0.1.5', 0)])], observed: [have(A, [e('10.0.1.5', 1, 4, 0)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['set-dest tcp/10.0.0.2:80 10.0.1.5:8080 w0'],
    draining: [],
  },
  {
    name: 'drained backend already at weight 0 with connections: wait',
    input: { desired: [want(A, [d('10.0.1.5', 0)])], observed: [have(A, [e('10.0.1.5', 0, 0, 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: [],
  },
  {
    name: 'drained backend with zero connections: deleted',
    input: { desired: [want(A, [d('10.0.1.5', 0), d('10.0.1.6')])], observed: [have(A, [e('10.0.1.5', 0), e('10.0.1.6', 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['del-dest tcp/10.0.0.2:80 10.0.1.5:8080 drained'],
  },
  {
    name: 'drained backend the kernel no longer has is not created again',
    input: { desired: [want(A, [d('10.0.1.5', 0)])], observed: [have(A, [])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: [],
  },
  {
    name: 'policy change: SET_SERVICE, destinations untouched',
    input: { desired: [want(svc('10.0.0.2', 80, 'lc'), [d('10.0.1.5')])], observed: [have(A, [e('10.0.1.5', 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['set-service tcp/10.0.0.2:80 lc'],
  },
  {
    name: 'sh without the fallback flag is corrected',
    input: { desired: [want(svc('10.0.0.2', 80, 'sh', 8))], observed: [have(svc('10.0.0.2', 80, 'sh', 0))], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['set-service tcp/10.0.0.2:80 sh flags=8'],
  },
  {
    name: 'per-backend limit changed: SET_DEST',
    input: { desired: [want(A, [d('10.0.1.5', 1, 100)])], observed: [have(A, [e('10.0.1.5', 1)])], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['set-dest tcp/10.0.0.2:80 10.0.1.5:8080 w1 u100'],
  },
  {
    name: 'foreign service left alone, destinations and all',
    input: { desired: [want(A)], observed: [have(A), have(svc('10.9.9.9'), null)], owned: new Set(['tcp/10.0.0.2:80']), ownedRanges: ['10.0.0.0/24'] },
    ops: [],
    owned: ['tcp/10.0.0.2:80'],
  },
  {
    name: 'service shoal created, no longer in the table: deleted',
    input: { desired: [], observed: [have(A, null)], owned: new Set(['tcp/10.0.0.2:80']) },
    ops: ['del-service tcp/10.0.0.2:80'],
    owned: [],
  },
  {
    name: 'after a restart (nothing owned in memory): services in shoal VIP ranges are deleted, others kept',
    input: { desired: [], observed: [have(A, null), have(svc('192.168.5.5'), null)], ownedRanges: ['10.0.0.0/24'] },
    ops: ['del-service tcp/10.0.0.2:80'],
  },
  {
    name: 'after a restart: fwmark services in shoal block are deleted, foreign marks kept',
    input: { desired: [], observed: [have(mark(0x53481f90), null), have(mark(0x100), null), have(mark(0x4000), null)] },
    ops: [`del-service fwmark/${0x53481f90}`],
  },
  {
    name: 'adoption: a frontend wants a service someone left; shoal takes it over',
    input: { desired: [want(A, [d('10.0.1.5')])], observed: [have(svc('10.0.0.2', 80, 'wlc'), [e('10.0.9.9', 3)])] },
    ops: ['set-service tcp/10.0.0.2:80 rr', 'new-dest tcp/10.0.0.2:80 10.0.1.5:8080 w1', 'del-dest tcp/10.0.0.2:80 10.0.9.9:8080 removed'],
    owned: ['tcp/10.0.0.2:80'],
    adopted: ['tcp/10.0.0.2:80'],
  },
  {
    name: 'adopting a service already known as shoal (range) is not reported as adoption',
    input: { desired: [want(A)], observed: [have(A)], ownedRanges: ['10.0.0.0/16'] },
    ops: [],
    adopted: [],
  },
  {
    name: 'order: by service key; within one, new, then changed, then removed destinations; deletions last',
    input: {
      desired: [want(B, [d('10.0.1.7')]), want(A, [d('10.0.1.5'), d('10.0.1.6', 0)])],
      observed: [have(C, null), have(A, [e('10.0.1.4', 1), e('10.0.1.6', 1, 1, 0)])],
      owned: new Set(['tcp/10.0.0.2:80', 'tcp/10.0.0.4:80']),
    },
    ops: [
      'new-dest tcp/10.0.0.2:80 10.0.1.5:8080 w1',
      'set-dest tcp/10.0.0.2:80 10.0.1.6:8080 w0',
      'del-dest tcp/10.0.0.2:80 10.0.1.4:8080 removed',
      'new-service tcp/10.0.0.3:80 rr',
      'new-dest tcp/10.0.0.3:80 10.0.1.7:8080 w1',
      'del-service tcp/10.0.0.4:80',
    ],
    owned: ['tcp/10.0.0.2:80', 'tcp/10.0.0.3:80'],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const plan = planIpvs({
      desired: [],
      observed: [],
      owned: new Set(),
      ownedRanges: [],
      now: NOW,
      drainingSince: new Map(),
      orphanDrainMs: DRAIN,
      ...c.input,
    });
    t.same(plan.ops.map(describe), c.ops, 'operations');
    if (c.owned) t.same([...plan.owned.keys()].sort(), c.owned, 'owned');
    if (c.adopted) t.same(plan.adopted, c.adopted, 'adopted');
    if (c.draining) t.same([...plan.drainingSince.entries()], c.draining, 'draining');
    for (const op of plan.ops) if (op.op !== 'del-service') t.ok(op.frontendId.startsWith('fe:'), `${op.op} names its frontend`);
  });
}

t.test('applying the plan to a model of the kernel converges: a second plan is empty', async (t) => {
  const desired = [want(A, [d('10.0.1.5'), d('10.0.1.6')]), want(svc('10.0.0.3', 53, 'sh', 8), [d('10.0.2.1')])];
  let kernel: ObservedService[] = [have(A, [e('10.0.1.4', 1)]), have(svc('10.9.9.9'), [])];
  const first = planIpvs({ desired, observed: kernel, owned: new Set(['tcp/10.0.0.2:80']), ownedRanges: [], now: NOW, drainingSince: new Map(), orphanDrainMs: DRAIN });
  t.ok(first.ops.length > 0);
  kernel = applyToModel(kernel, first.ops);
  const second = planIpvs({ desired, observed: kernel, owned: first.owned, ownedRanges: [], now: NOW, drainingSince: first.drainingSince, orphanDrainMs: DRAIN });
  t.same(second.ops, []);
  t.ok(kernel.some((o) => serviceKey(o.service) === 'tcp/10.9.9.9:80'), 'foreign service survived');
});

/** A tiny model of what each op does to the kernel table. */
function applyToModel(kernel: ObservedService[], ops: IpvsOp[]): ObservedService[] {
  const m = new Map(kernel.map((o) => [serviceKey(o.service), { service: o.service, dests: [...(o.dests ?? [])] }]));
  for (const op of ops) {
    const k = serviceKey(op.service);
    const entry = m.get(k);
    switch (op.op) {
      case 'new-service':
      case 'set-service':
        m.set(k, { service: { ...op.service, flags: op.service.flags | HASHED }, dests: entry?.dests ?? [] });
        break;
      case 'del-service':
        m.delete(k);
        break;
      case 'new-dest':
      case 'set-dest':
        entry!.dests = [...entry!.dests.filter((x) => destKey(x) !== destKey(op.dest)), { ...op.dest, activeConns: 0, inactiveConns: 0, persistConns: 0 }];
        break;
      case 'del-dest':
        entry!.dests = entry!.dests.filter((x) => destKey(x) !== destKey(op.dest));
        break;
    }
  }
  return [...m.values()];
}

t.test('CIDR parsing', async (t) => {
  t.same(parseCidr('10.0.0.0/24'), { network: 0x0a000000, mask: 0xffffff00 });
  t.same(parseCidr('10.0.0.77/24'), { network: 0x0a000000, mask: 0xffffff00 }, 'host bits dropped');
  t.same(parseCidr('10.0.0.1'), { network: 0x0a000001, mask: 0xffffffff }, 'bare address is /32');
  t.same(parseCidr('0.0.0.0/0'), { network: 0, mask: 0 });
  for (const bad of ['10.0.0.0/', '10.0.0.0/33', '10.0.0/8', 'fd00::/64', '10.0.0.0/8/1', '10.0.0.0/x']) t.equal(parseCidr(bad), undefined, bad);
});
