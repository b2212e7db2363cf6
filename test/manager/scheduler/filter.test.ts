import t from 'tap';
import { CpuFilter, MaxReplicasFilter, MemoryFilter, boundFilters } from '../../../src/manager/scheduler/filter';
import type { Filter } from '../../../src/manager/scheduler/filter';
import { NodeInfo } from '../../../src/manager/scheduler/node-info';
import type { Node, Resources, Service, Task } from '../../../src/model/types';
import { makeNode, makeService, makeTask } from '../../support/builders';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A service whose tasks reserve `reservations` and may run `maxReplicas` per node. */
function svc(o: { reserve?: Partial<Resources>; maxReplicas?: number } = {}): Service {
  const s = makeService('web', { replicas: 10 });
  if (o.reserve) s.spec.task.resources = { reservations: o.reserve };
  if (o.maxReplicas !== undefined) s.spec.task.placement.maxReplicas = o.maxReplicas;
  return s;
}

/** A node loaded with `tasks`. */
function loaded(node: Node, tasks: Task[] = []): NodeInfo {
  const i = new NodeInfo(node);
  for (const task of tasks) i.addTask(task, []);
  return i;
}

function run(filter: Filter, service: Service, node: NodeInfo): boolean | 'skipped' {
  if (!filter.setTask(makeTask('x', service), service)) return 'skipped';
  return filter.check(node);
}

t.test('memory filter: reservation against what the node has left', async (t) => {
  const other = makeService('db');
  other.spec.task.resources = { reservations: { memoryBytes: 768 * MiB }, limits: { memoryBytes: 2 * GiB } };
  const node = (memoryBytes: number) => makeNode('n1', { resources: { nanoCpus: 2e9, memoryBytes } });
  const cases: { name: string; service: Service; node: NodeInfo; want: boolean | 'skipped' }[] = [
    { name: 'no reservation: filter off', service: svc(), node: loaded(node(0)), want: 'skipped' },
    { name: 'zero reservation: filter off', service: svc({ reserve: { memoryBytes: 0 } }), node: loaded(node(0)), want: 'skipped' },
    { name: 'cpu only: memory filter off', service: svc({ reserve: { nanoCpus: 1e9 } }), node: loaded(node(0)), want: 'skipped' },
    { name: 'fits exactly', service: svc({ reserve: { memoryBytes: GiB } }), node: loaded(node(GiB)), want: true },
    { name: 'one byte short', service: svc({ reserve: { memoryBytes: GiB } }), node: loaded(node(GiB - 1)), want: false },
    {
      name: 'a live task’s reservation is taken, not its limit',
      service: svc({ reserve: { memoryBytes: 256 * MiB } }),
      node: loaded(node(GiB), [makeTask('d1', other)]),
      want: true,
    },
    {
      name: 'two live tasks leave too little',
      service: svc({ reserve: { memoryBytes: 256 * MiB } }),
      node: loaded(node(GiB), [makeTask('d1', other), makeTask('d2', other, { slot: 2, state: 'assigned' })]),
      want: false,
    },
    {
      name: 'a task being stopped still holds its memory',
      service: svc({ reserve: { memoryBytes: 512 * MiB } }),
      node: loaded(node(GiB), [makeTask('d1', other, { desired: 'shutdown' })]),
      want: false,
    },
    {
      name: 'finished tasks hold nothing',
      service: svc({ reserve: { memoryBytes: 512 * MiB } }),
      node: loaded(node(GiB), [makeTask('d1', other, { state: 'failed' }), makeTask('d2', other, { state: 'complete', desired: 'shutdown' })]),
      want: true,
    },
    {
      name: 'a node that never reported resources is not limited',
      service: svc({ reserve: { memoryBytes: 64 * GiB } }),
      node: loaded({ ...makeNode('n1'), resources: undefined } as unknown as Node),
      want: true,
    },
  ];
  for (const c of cases) t.equal(run(new MemoryFilter(), c.service, c.node), c.want, c.name);
});

t.test('cpu filter: reservation against what the node has left', async (t) => {
  const other = makeService('db');
  other.spec.task.resources = { reservations: { nanoCpus: 1.5e9 } };
  const node = (nanoCpus: number) => makeNode('n1', { resources: { nanoCpus, memoryBytes: GiB } });
  const cases: { name: string; service: Service; node: NodeInfo; want: boolean | 'skipped' }[] = [
    { name: 'no reservation: filter off', service: svc(), node: loaded(node(0)), want: 'skipped' },
    { name: 'memory only: cpu filter off', service: svc({ reserve: { memoryBytes: GiB } }), node: loaded(node(0)), want: 'skipped' },
    { name: 'fits exactly', service: svc({ reserve: { nanoCpus: 2e9 } }), node: loaded(node(2e9)), want: true },
    { name: 'half a cpu short', service: svc({ reserve: { nanoCpus: 2e9 } }), node: loaded(node(1.5e9)), want: false },
    { name: 'left over after a live task', service: svc({ reserve: { nanoCpus: 0.5e9 } }), node: loaded(node(2e9), [makeTask('d1', other)]), want: true },
    { name: 'not enough left', service: svc({ reserve: { nanoCpus: 1e9 } }), node: loaded(node(2e9), [makeTask('d1', other)]), want: false },
  ];
  for (const c of cases) t.equal(run(new CpuFilter(), c.service, c.node), c.want, c.name);
});

t.test('max replicas filter: tasks of this service on the node against the limit', async (t) => {
  const web = svc({ maxReplicas: 2 });
  const db = makeService('db');
  const cases: { name: string; service: Service; tasks: Task[]; want: boolean | 'skipped' }[] = [
    { name: 'no limit: filter off', service: svc(), tasks: [], want: 'skipped' },
    { name: 'limit 0 means none', service: svc({ maxReplicas: 0 }), tasks: [], want: 'skipped' },
    { name: 'empty node', service: web, tasks: [], want: true },
    { name: 'one below the limit', service: web, tasks: [makeTask('w1', web)], want: true },
    { name: 'at the limit', service: web, tasks: [makeTask('w1', web), makeTask('w2', web, { slot: 2, state: 'pending' })], want: false },
    { name: 'other services do not count', service: web, tasks: [makeTask('w1', web), makeTask('d1', db), makeTask('d2', db, { slot: 2 })], want: true },
    {
      name: 'stopping and finished tasks do not count',
      service: web,
      tasks: [makeTask('w1', web), makeTask('w2', web, { slot: 2, desired: 'shutdown' }), makeTask('w3', web, { slot: 3, state: 'failed' })],
      want: true,
    },
  ];
  for (const c of cases) t.equal(run(new MaxReplicasFilter(), c.service, loaded(makeNode('n1'), c.tasks)), c.want, c.name);
});

t.test('explanations name the amount the task wanted, in human units', async (t) => {
  const explain = (f: Filter, service: Service, count: number) => {
    f.setTask(makeTask('x', service), service);
    return f.explain(count);
  };
  const cases: [string, string][] = [
    [explain(new MemoryFilter(), svc({ reserve: { memoryBytes: 512 * MiB } }), 1), '1 node lacked 512MiB memory'],
    [explain(new MemoryFilter(), svc({ reserve: { memoryBytes: 2 * GiB } }), 3), '3 nodes lacked 2GiB memory'],
    [explain(new MemoryFilter(), svc({ reserve: { memoryBytes: 1.5 * GiB } }), 2), '2 nodes lacked 1.5GiB memory'],
    [explain(new CpuFilter(), svc({ reserve: { nanoCpus: 2e9 } }), 1), '1 node lacked 2 CPUs'],
    [explain(new CpuFilter(), svc({ reserve: { nanoCpus: 1e9 } }), 2), '2 nodes lacked 1 CPU'],
    [explain(new CpuFilter(), svc({ reserve: { nanoCpus: 0.25e9 } }), 2), '2 nodes lacked 0.25 CPUs'],
    [explain(new MaxReplicasFilter(), svc({ maxReplicas: 1 }), 1), '1 node had max replicas per node limit exceeded'],
    [explain(new MaxReplicasFilter(), svc({ maxReplicas: 1 }), 4), '4 nodes had max replicas per node limit exceeded'],
  ];
  for (const [got, want] of cases) t.equal(got, want);
});

t.test('bound tasks are checked for what the node is and has, not for replicas or ports', async (t) => {
  t.same(
    boundFilters().map((f) => f.name),
    ['ReadyFilter', 'AvailabilityFilter', 'ConstraintFilter', 'MemoryFilter', 'CpuFilter'],
  );
});
