import t from 'tap';
import { buildTable, frontendId } from '../../../src/mesh/table/build-table';
import type { BuildTableInput } from '../../../src/mesh/table/build-table';
import type { Frontend, LbTable } from '../../../src/mesh/table/table';
import type { HealthCheck, Node, PortConfig, Service, Task, TaskState, TaskStatus } from '../../../src/model/types';
import { makeNode, makeService, makeTask, makeTaskTemplate } from '../../support/builders';

const T0 = '2024-01-01T00:00:00.000Z';
const T1 = '2024-01-02T00:00:00.000Z';

function node(id: string, index: number, state: Node['status']['state'] = 'ready'): Node {
  return makeNode(id, { hostname: id, address: `127.0.1.${index}`, index, status: { state, since: T0, message: '' }, createdAt: T0, updatedAt: T0 });
}

function service(
  id: string,
  name: string,
  ports: PortConfig[],
  opts: { mode?: 'vip' | 'dnsrr'; vipIndex?: number | null; createdAt?: string } = {},
): Service {
  const s = makeService(id);
  const spec = { ...s.spec, name, task: makeTaskTemplate({ command: ['true'] }), endpoint: { mode: opts.mode ?? 'vip', ports } };
  return { ...s, spec, endpoint: { vipIndex: opts.vipIndex === undefined ? 1 : opts.vipIndex }, createdAt: opts.createdAt ?? T0, updatedAt: T0 };
}

function task(
  id: string,
  serviceId: string,
  nodeId: string,
  address: string,
  ports: Record<string, number> | undefined,
  opts: { state?: TaskState; desired?: TaskState; checked?: boolean; health?: TaskStatus['health'] } = {},
): Task {
  const base = makeTask(id, service(serviceId, serviceId, []), { nodeId, desired: opts.desired });
  const status = { state: opts.state ?? 'running', since: T0, message: '', ports, ...(opts.health ? { health: opts.health } : {}) };
  return { ...base, spec: opts.checked ? { ...base.spec, healthcheck: tcpCheck } : base.spec, status, address, createdAt: T0, updatedAt: T0 };
}

const tcpCheck: HealthCheck = { kind: 'tcp', intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
const tcp80: PortConfig = { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' };
const host9000: PortConfig = { protocol: 'tcp', targetPort: 80, publishedPort: 9000, publishMode: 'host' };
const n1 = node('n1', 1);
const n2 = node('n2', 2);
const down = node('n3', 3, 'down');

/** Shorthand for a frontend in the expected tables. */
function fe(
  kind: Frontend['kind'],
  protocol: Frontend['protocol'],
  address: string,
  port: number,
  serviceName: string,
  backends: [string, string, number][],
): Frontend {
  return {
    id: frontendId(kind, protocol, address, port),
    kind,
    protocol,
    address,
    port,
    service: serviceName,
    backends: backends.map(([id, addr, p]) => ({ id, address: addr, port: p, weight: 1 })),
  };
}

interface Case {
  name: string;
  input: Omit<BuildTableInput, 'self'> & { self?: Node };
  want: LbTable;
}

const cases: Case[] = [
  {
    name: 'empty cluster gives an empty table',
    input: { nodes: [n1], services: [], tasks: [] },
    want: { frontends: [] },
  },
  {
    name: 'ingress port and VIP of one service share the running backends, sorted by task id',
    input: {
      nodes: [n1, n2],
      services: [service('s1', 'web', [tcp80], { vipIndex: 3 })],
      tasks: [
        task('t2', 's1', 'n2', '127.100.0.2', { 'tcp/80': 31002 }),
        task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }),
      ],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8080, 'web', [
          ['t1', '127.100.0.1', 31001],
          ['t2', '127.100.0.2', 31002],
        ]),
        fe('vip', 'tcp', '127.21.0.3', 80, 'web', [
          ['t1', '127.100.0.1', 31001],
          ['t2', '127.100.0.2', 31002],
        ]),
      ],
    },
  },
  {
    name: 'tasks not running, not desired running, on a node not ready, or without the port are left out',
    input: {
      nodes: [n1, down],
      services: [service('s1', 'web', [tcp80])],
      tasks: [
        task('ok', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }),
        task('starting', 's1', 'n1', '127.100.0.2', { 'tcp/80': 31002 }, { state: 'starting' }),
        task('stopping', 's1', 'n1', '127.100.0.3', { 'tcp/80': 31003 }, { desired: 'shutdown' }),
        task('on-down-node', 's1', 'n3', '127.100.0.4', { 'tcp/80': 31004 }),
        task('unknown-node', 's1', 'n9', '127.100.0.5', { 'tcp/80': 31005 }),
        task('other-port', 's1', 'n1', '127.100.0.6', { 'tcp/81': 31006 }),
        task('udp-only', 's1', 'n1', '127.100.0.7', { 'udp/80': 31007 }),
        task('no-ports', 's1', 'n1', '127.100.0.8', undefined),
        task('no-address', 's1', 'n1', '', { 'tcp/80': 31009 }),
      ],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8080, 'web', [['ok', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'web', [['ok', '127.100.0.1', 31001]]),
      ],
    },
  },
  {
    name: 'tasks with a health check are backends only once healthy; tasks without one need no health',
    input: {
      nodes: [n1],
      services: [service('s1', 'web', [tcp80])],
      tasks: [
        task('healthy', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }, { checked: true, health: 'healthy' }),
        task('starting', 's1', 'n1', '127.100.0.2', { 'tcp/80': 31002 }, { checked: true, health: 'starting' }),
        task('unhealthy', 's1', 'n1', '127.100.0.3', { 'tcp/80': 31003 }, { checked: true, health: 'unhealthy' }),
        task('not-reported', 's1', 'n1', '127.100.0.4', { 'tcp/80': 31004 }, { checked: true }),
        task('unchecked', 's1', 'n1', '127.100.0.5', { 'tcp/80': 31005 }),
        task('healthy-but-stopping', 's1', 'n1', '127.100.0.6', { 'tcp/80': 31006 }, { checked: true, health: 'healthy', desired: 'shutdown' }),
      ],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8080, 'web', [
          ['healthy', '127.100.0.1', 31001],
          ['unchecked', '127.100.0.5', 31005],
        ]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'web', [
          ['healthy', '127.100.0.1', 31001],
          ['unchecked', '127.100.0.5', 31005],
        ]),
      ],
    },
  },
  {
    name: 'a service without running tasks still gets its frontends, with no backends',
    input: { nodes: [n1], services: [service('s1', 'web', [tcp80])], tasks: [] },
    want: {
      frontends: [fe('ingress', 'tcp', '127.0.1.1', 8080, 'web', []), fe('vip', 'tcp', '127.21.0.1', 80, 'web', [])],
    },
  },
  {
    name: 'a host-mode published port is served on the node address, to the local tasks only; the VIP reaches every task',
    input: {
      nodes: [n1, n2],
      services: [service('s1', 'web', [host9000])],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }), task('t2', 's1', 'n2', '127.100.0.2', { 'tcp/80': 31002 })],
    },
    want: {
      frontends: [
        fe('host', 'tcp', '127.0.1.1', 9000, 'web', [['t1', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'web', [
          ['t1', '127.100.0.1', 31001],
          ['t2', '127.100.0.2', 31002],
        ]),
      ],
    },
  },
  {
    name: 'a node without a task of the service does not serve its host-mode port',
    input: {
      self: n2,
      nodes: [n1, n2],
      services: [service('s1', 'web', [host9000], { vipIndex: 258 })],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 })],
    },
    want: { frontends: [fe('vip', 'tcp', '127.22.1.2', 80, 'web', [['t1', '127.100.0.1', 31001]])] },
  },
  {
    name: 'a local task that is starting, unhealthy or stopping holds the host-mode port with no backend; an ended one does not',
    input: {
      nodes: [n1],
      services: [
        service('s1', 'starting', [host9000], { vipIndex: 1 }),
        service('s2', 'unhealthy', [{ ...host9000, publishedPort: 9001 }], { vipIndex: 2 }),
        service('s3', 'stopping', [{ ...host9000, publishedPort: 9002 }], { vipIndex: 3 }),
        service('s4', 'ended', [{ ...host9000, publishedPort: 9003 }], { vipIndex: 4 }),
        service('s5', 'pending', [{ ...host9000, publishedPort: 9004 }], { vipIndex: 5 }),
      ],
      tasks: [
        task('a', 's1', 'n1', '127.100.0.1', undefined, { state: 'starting' }),
        task('b', 's2', 'n1', '127.100.0.2', { 'tcp/80': 31002 }, { checked: true, health: 'unhealthy' }),
        task('c', 's3', 'n1', '127.100.0.3', { 'tcp/80': 31003 }, { desired: 'shutdown' }),
        task('d', 's4', 'n1', '127.100.0.4', { 'tcp/80': 31004 }, { state: 'failed' }),
        task('e', 's5', 'n1', '', undefined, { state: 'pending' }),
      ],
    },
    want: {
      frontends: [
        fe('host', 'tcp', '127.0.1.1', 9000, 'starting', []),
        fe('host', 'tcp', '127.0.1.1', 9001, 'unhealthy', []),
        fe('host', 'tcp', '127.0.1.1', 9002, 'stopping', []),
        fe('vip', 'tcp', '127.21.0.1', 80, 'starting', []),
        fe('vip', 'tcp', '127.21.0.2', 80, 'unhealthy', []),
        fe('vip', 'tcp', '127.21.0.3', 80, 'stopping', []),
        fe('vip', 'tcp', '127.21.0.4', 80, 'ended', []),
        fe('vip', 'tcp', '127.21.0.5', 80, 'pending', []),
      ],
    },
  },
  {
    name: 'host mode: two services on one port stay apart by node; each node serves the one it runs',
    input: {
      self: n2,
      nodes: [n1, n2],
      services: [service('s1', 'a', [host9000], { vipIndex: null }), service('s2', 'b', [host9000], { vipIndex: null })],
      tasks: [task('ta', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }), task('tb', 's2', 'n2', '127.100.0.2', { 'tcp/80': 31002 })],
    },
    want: { frontends: [fe('host', 'tcp', '127.0.1.2', 9000, 'b', [['tb', '127.100.0.2', 31002]])] },
  },
  {
    name: 'host mode over udp, in a dnsrr service: the port without a VIP',
    input: {
      nodes: [n1],
      services: [service('s1', 'dns', [{ protocol: 'udp', targetPort: 53, publishedPort: 5300, publishMode: 'host' }], { mode: 'dnsrr' })],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'udp/53': 31053 })],
    },
    want: { frontends: [fe('host', 'udp', '127.0.1.1', 5300, 'dns', [['t1', '127.100.0.1', 31053]])] },
  },
  {
    name: 'a host-mode port entry without a published port only has its VIP frontend',
    input: {
      nodes: [n1],
      services: [service('s1', 'web', [{ protocol: 'tcp', targetPort: 80, publishMode: 'host' }])],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 })],
    },
    want: { frontends: [fe('vip', 'tcp', '127.21.0.1', 80, 'web', [['t1', '127.100.0.1', 31001]])] },
  },
  {
    name: 'an ingress port entry without a published port only has its VIP frontend',
    input: {
      nodes: [n1],
      services: [service('s1', 'web', [{ protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }])],
      tasks: [],
    },
    want: { frontends: [fe('vip', 'tcp', '127.21.0.1', 80, 'web', [])] },
  },
  {
    name: 'dnsrr services and services without a VIP yet get no VIP frontend',
    input: {
      nodes: [n1],
      services: [
        service('s1', 'rr', [tcp80], { mode: 'dnsrr' }),
        service('s2', 'novip', [{ ...tcp80, publishedPort: 9090 }], { vipIndex: null }),
        service('s3', 'internal', [{ protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }], { mode: 'dnsrr' }),
      ],
      tasks: [],
    },
    want: {
      frontends: [fe('ingress', 'tcp', '127.0.1.1', 8080, 'rr', []), fe('ingress', 'tcp', '127.0.1.1', 9090, 'novip', [])],
    },
  },
  {
    name: 'tcp and udp on the same port are separate frontends with their own backends',
    input: {
      nodes: [n1],
      services: [
        service('s1', 'dns', [
          { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress' },
          { protocol: 'tcp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress' },
        ]),
      ],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'udp/53': 31053, 'tcp/53': 32053 })],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 5353, 'dns', [['t1', '127.100.0.1', 32053]]),
        fe('ingress', 'udp', '127.0.1.1', 5353, 'dns', [['t1', '127.100.0.1', 31053]]),
        fe('vip', 'tcp', '127.21.0.1', 53, 'dns', [['t1', '127.100.0.1', 32053]]),
        fe('vip', 'udp', '127.21.0.1', 53, 'dns', [['t1', '127.100.0.1', 31053]]),
      ],
    },
  },
  {
    name: 'a table for node 2 listens on node 2 address and VIP range',
    input: {
      self: n2,
      nodes: [n1, n2],
      services: [service('s1', 'web', [tcp80], { vipIndex: 258 })],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 })],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.2', 8080, 'web', [['t1', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.22.1.2', 80, 'web', [['t1', '127.100.0.1', 31001]]),
      ],
    },
  },
  {
    name: 'two published ports to one target port share one VIP frontend',
    input: {
      nodes: [n1],
      services: [service('s1', 'web', [tcp80, { ...tcp80, publishedPort: 8081 }])],
      tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 })],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8080, 'web', [['t1', '127.100.0.1', 31001]]),
        fe('ingress', 'tcp', '127.0.1.1', 8081, 'web', [['t1', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'web', [['t1', '127.100.0.1', 31001]]),
      ],
    },
  },
  {
    name: 'a published port claimed twice goes to the older service',
    input: {
      nodes: [n1],
      services: [
        service('s-new', 'newer', [tcp80], { vipIndex: 2, createdAt: T1 }),
        service('s-old', 'older', [tcp80], { vipIndex: 1, createdAt: T0 }),
      ],
      tasks: [
        task('a', 's-old', 'n1', '127.100.0.1', { 'tcp/80': 31001 }),
        task('b', 's-new', 'n1', '127.100.0.2', { 'tcp/80': 31002 }),
      ],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8080, 'older', [['a', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'older', [['a', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.2', 80, 'newer', [['b', '127.100.0.2', 31002]]),
      ],
    },
  },
  {
    name: 'tasks of other services never leak into a frontend',
    input: {
      nodes: [n1],
      services: [
        service('s1', 'a', [{ ...tcp80, publishedPort: 8001 }], { vipIndex: 1 }),
        service('s2', 'b', [{ ...tcp80, publishedPort: 8002 }], { vipIndex: 2 }),
      ],
      tasks: [
        task('ta', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }),
        task('tb', 's2', 'n1', '127.100.0.2', { 'tcp/80': 31002 }),
        task('orphan', 's9', 'n1', '127.100.0.3', { 'tcp/80': 31003 }),
      ],
    },
    want: {
      frontends: [
        fe('ingress', 'tcp', '127.0.1.1', 8001, 'a', [['ta', '127.100.0.1', 31001]]),
        fe('ingress', 'tcp', '127.0.1.1', 8002, 'b', [['tb', '127.100.0.2', 31002]]),
        fe('vip', 'tcp', '127.21.0.1', 80, 'a', [['ta', '127.100.0.1', 31001]]),
        fe('vip', 'tcp', '127.21.0.2', 80, 'b', [['tb', '127.100.0.2', 31002]]),
      ],
    },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const input: BuildTableInput = { self: c.input.self ?? n1, ...c.input };
    t.same(buildTable(input), c.want);
  });
}

t.test('the table does not depend on input order and does not share backend arrays', async (t) => {
  const services = [service('s1', 'web', [tcp80, { protocol: 'udp', targetPort: 53, publishMode: 'host' }])];
  const tasks = [
    task('t3', 's1', 'n1', '127.100.0.3', { 'tcp/80': 31003, 'udp/53': 31053 }),
    task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 }),
    task('t2', 's1', 'n2', '127.100.0.2', { 'tcp/80': 31002 }),
  ];
  const a = buildTable({ self: n1, nodes: [n1, n2], services, tasks });
  const b = buildTable({ self: n1, nodes: [n2, n1], services: [...services].reverse(), tasks: [...tasks].reverse() });
  t.same(a, b);
  t.same(
    a.frontends.map((f) => f.id),
    ['ingress/tcp/127.0.1.1:8080', 'vip/tcp/127.21.0.1:80', 'vip/udp/127.21.0.1:53'],
  );
  a.frontends[0].backends[0].weight = 0;
  t.equal(a.frontends[1].backends[0].weight, 1, 'frontends of one port entry do not alias backends');
});

t.test('PROXY protocol goes to the published frontend only; LB settings to every frontend of the service', async (t) => {
  const svc = service('s1', 'web', [{ ...tcp80, proxyProtocol: 'v2' }]);
  svc.spec.endpoint.lb = { policy: 'least-connections', idleTimeoutMs: 60_000 };
  const table = buildTable({ self: n1, nodes: [n1], services: [svc], tasks: [task('t1', 's1', 'n1', '127.100.0.1', { 'tcp/80': 31001 })] });
  const ingress = table.frontends.find((f) => f.kind === 'ingress')!;
  const vip = table.frontends.find((f) => f.kind === 'vip')!;
  t.equal(ingress.proxyProtocol, 'v2', 'the published port sends the header');
  t.equal(vip.proxyProtocol, undefined, 'the VIP (task to task) does not');
  t.same(ingress.lb, { policy: 'least-connections', idleTimeoutMs: 60_000 });
  t.same(vip.lb, { policy: 'least-connections', idleTimeoutMs: 60_000 });
  t.equal(buildTable({ self: n1, nodes: [n1], services: [service('s2', 'api', [tcp80])], tasks: [] }).frontends[0].lb, undefined, 'no settings, no lb field');
});
