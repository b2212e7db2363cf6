import t from 'tap';
import { buildDnsView, type DnsServiceEntry } from '../../../src/mesh/dns/view';
import type { HealthCheck, Node, Service, Task, TaskState, TaskStatus } from '../../../src/model/types';
import { makeNode, makeService, makeTask, makeTaskTemplate } from '../../support/builders';

const T0 = '2024-01-01T00:00:00.000Z';

function node(id: string, index: number, state: Node['status']['state'] = 'ready'): Node {
  return makeNode(id, { hostname: id, address: `127.0.1.${index}`, index, status: { state, since: T0, message: '' }, createdAt: T0, updatedAt: T0 });
}

function service(id: string, name: string, mode: 'vip' | 'dnsrr', vipIndex: number | null): Service {
  const s = makeService(id);
  const spec = { ...s.spec, name, task: makeTaskTemplate({ command: ['true'] }), endpoint: { mode, ports: [] } };
  return { ...s, spec, endpoint: { vipIndex }, createdAt: T0, updatedAt: T0 };
}

const httpCheck: HealthCheck = { kind: 'http', path: '/', intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };

/** A running task whose spec has a health check, with the health it last reported (none: not yet). */
function checkedTask(id: string, serviceId: string, address: string, health: TaskStatus['health']): Task {
  const t = task(id, serviceId, 'n1', address);
  return { ...t, spec: { ...t.spec, healthcheck: httpCheck }, status: { ...t.status, ...(health ? { health } : {}) } };
}

function task(id: string, serviceId: string, nodeId: string, address: string, state: TaskState = 'running', desired: TaskState = 'running'): Task {
  const base = makeTask(id, service(serviceId, serviceId, 'vip', 1), { nodeId, desired });
  return { ...base, status: { state, since: T0, message: '' }, address, createdAt: T0, updatedAt: T0 };
}

const n1 = node('n1', 1);
const n2 = node('n2', 2);
const down = node('n3', 3, 'down');

interface Case {
  name: string;
  services: Service[];
  tasks: Task[];
  self?: Node;
  want: Record<string, DnsServiceEntry>;
}

const cases: Case[] = [
  {
    name: 'VIP is the one the local node serves',
    services: [service('s1', 'web', 'vip', 1)],
    tasks: [],
    self: n2,
    want: { web: { vip: '127.22.0.1', mode: 'vip', taskAddresses: [] } },
  },
  {
    name: 'VIP index above 255 spans the third octet',
    services: [service('s1', 'web', 'vip', 258)],
    tasks: [],
    want: { web: { vip: '127.21.1.2', mode: 'vip', taskAddresses: [] } },
  },
  {
    name: 'no VIP before allocation, none in dnsrr, none for an out-of-range index',
    services: [service('s1', 'a', 'vip', null), service('s2', 'b', 'dnsrr', 3), service('s3', 'c', 'vip', 70_000)],
    tasks: [],
    want: {
      a: { vip: null, mode: 'vip', taskAddresses: [] },
      b: { vip: null, mode: 'dnsrr', taskAddresses: [] },
      c: { vip: null, mode: 'vip', taskAddresses: [] },
    },
  },
  {
    name: 'only running tasks meant to run, on ready nodes; sorted numerically, deduplicated',
    services: [service('s1', 'Web', 'dnsrr', null), service('s2', 'db', 'vip', 2)],
    tasks: [
      task('t1', 's1', 'n1', '127.100.0.10'),
      task('t2', 's1', 'n2', '127.100.0.9'),
      task('t3', 's1', 'n1', '127.100.0.9'),
      task('t4', 's1', 'n3', '127.100.0.11'),
      task('t5', 's1', 'n1', '127.100.0.12', 'starting'),
      task('t6', 's1', 'n1', '127.100.0.13', 'running', 'shutdown'),
      task('t7', 's1', 'n1', '127.100.0.14', 'failed', 'running'),
      task('t8', 's1', 'nX', '127.100.0.15'),
      task('t9', 's1', 'n1', ''),
      task('t10', 's2', 'n2', '127.100.1.1'),
    ],
    want: {
      web: { vip: null, mode: 'dnsrr', taskAddresses: ['127.100.0.9', '127.100.0.10'] },
      db: { vip: '127.21.0.2', mode: 'vip', taskAddresses: ['127.100.1.1'] },
    },
  },
  {
    name: 'tasks.<svc> and dnsrr answers follow health: checked tasks only once healthy',
    services: [service('s1', 'rr', 'dnsrr', null), service('s2', 'web', 'vip', 2)],
    tasks: [
      checkedTask('t1', 's1', '127.100.0.1', 'healthy'),
      checkedTask('t2', 's1', '127.100.0.2', 'starting'),
      checkedTask('t3', 's1', '127.100.0.3', 'unhealthy'),
      checkedTask('t4', 's1', '127.100.0.4', undefined),
      task('t5', 's1', 'n1', '127.100.0.5'),
      checkedTask('t6', 's2', '127.100.1.1', 'unhealthy'),
      checkedTask('t7', 's2', '127.100.1.2', 'healthy'),
    ],
    want: {
      rr: { vip: null, mode: 'dnsrr', taskAddresses: ['127.100.0.1', '127.100.0.5'] },
      web: { vip: '127.21.0.2', mode: 'vip', taskAddresses: ['127.100.1.2'] },
    },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const view = buildDnsView(c.services, c.tasks, [n1, n2, down], c.self ?? n1);
    t.same(Object.fromEntries(view.services), c.want);
  });
}
