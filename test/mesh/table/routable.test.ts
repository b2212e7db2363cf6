import t from 'tap';
import { isRoutable, nodesById } from '../../../src/mesh/table/routable';
import type { HealthCheck, Node, Task, TaskStatus } from '../../../src/model/types';

const T0 = '2024-01-01T00:00:00.000Z';

function node(id: string, state: Node['status']['state']): Node {
  return {
    id,
    hostname: id,
    role: 'worker',
    availability: 'active',
    labels: {},
    address: '127.0.1.1',
    index: 1,
    platform: { os: 'linux', arch: 'x64' },
    resources: { nanoCpus: 1e9, memoryBytes: 1 << 30 },
    ports: { dns: 53, metrics: 9100 },
    status: { state, since: T0, message: '' },
    createdAt: T0,
    updatedAt: T0,
  };
}

const check: HealthCheck = { kind: 'cmd', command: ['true'], intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };

interface Over {
  state?: TaskStatus['state'];
  desired?: Task['desiredState'];
  nodeId?: string;
  address?: string;
  checked?: boolean;
  health?: TaskStatus['health'];
}

function task(o: Over = {}): Task {
  return {
    id: 't1',
    serviceId: 's1',
    serviceName: 'web',
    slot: 1,
    nodeId: o.nodeId ?? 'ready',
    specVersion: 1,
    spec: {
      command: ['true'],
      env: {},
      restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [] },
      stopGracePeriodMs: 10_000,
      ...(o.checked ? { healthcheck: check } : {}),
    },
    targetPorts: [],
    desiredState: o.desired ?? 'running',
    status: { state: o.state ?? 'running', since: T0, message: '', ...(o.health ? { health: o.health } : {}) },
    address: o.address ?? '127.100.0.1',
    createdAt: T0,
    updatedAt: T0,
  };
}

const nodes = nodesById([node('ready', 'ready'), node('down', 'down'), node('unknown', 'unknown')]);

const cases: [string, Over, boolean][] = [
  ['running, desired running, ready node, no check', {}, true],
  ['starting', { state: 'starting' }, false],
  ['complete', { state: 'complete' }, false],
  ['desired shutdown while running (draining)', { desired: 'shutdown' }, false],
  ['desired remove while running', { desired: 'remove' }, false],
  ['node down', { nodeId: 'down' }, false],
  ['node unknown state', { nodeId: 'unknown' }, false],
  ['node not in the view', { nodeId: 'gone' }, false],
  ['no address', { address: '' }, false],
  ['check, healthy', { checked: true, health: 'healthy' }, true],
  ['check, starting', { checked: true, health: 'starting' }, false],
  ['check, unhealthy', { checked: true, health: 'unhealthy' }, false],
  ['check, no health reported yet', { checked: true }, false],
  ['no check, stray health is ignored', { health: 'unhealthy' }, true],
  ['check, healthy, but draining', { checked: true, health: 'healthy', desired: 'shutdown' }, false],
];

for (const [name, over, want] of cases) {
  t.test(name, async (t) => {
    t.equal(isRoutable(task(over), nodes), want);
  });
}
