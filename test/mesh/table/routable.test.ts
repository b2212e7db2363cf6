import t from 'tap';
import { isRoutable, nodesById } from '../../../src/mesh/table/routable';
import type { HealthCheck, Node, Task, TaskStatus } from '../../../src/model/types';
import { makeNode, makeService, makeTask, makeTaskTemplate } from '../../support/builders';

const T0 = '2024-01-01T00:00:00.000Z';

function node(id: string, state: Node['status']['state']): Node {
  return makeNode(id, { hostname: id, status: { state, since: T0, message: '' }, createdAt: T0, updatedAt: T0 });
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
  const web = { ...makeService('s1'), spec: { ...makeService('s1').spec, name: 'web', task: makeTaskTemplate({ command: ['true'] }) } };
  const base = makeTask('t1', web, { nodeId: o.nodeId ?? 'ready', desired: o.desired });
  const status = { state: o.state ?? 'running', since: T0, message: '', ...(o.health ? { health: o.health } : {}) };
  return { ...base, spec: o.checked ? { ...base.spec, healthcheck: check } : base.spec, status, address: o.address ?? '127.100.0.1', createdAt: T0, updatedAt: T0 };
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
