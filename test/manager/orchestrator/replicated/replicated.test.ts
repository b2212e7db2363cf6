import t from 'tap';
import { reconcileReplicated } from '../../../../src/manager/orchestrator/replicated/replicated';
import type { Node, RestartPolicy, Task } from '../../../../src/model/types';
import { T0, at, fakeDeps, makeNode, makeService, makeTask } from '../../../support/builders';
import type { ServiceOptions, TaskOptions } from '../../../support/builders';
import { summarize } from '../../fixtures/action-summary';

const NOW = T0 + 100_000;
const down = { state: 'down' as const, since: at(0), message: 'heartbeat missed' };

interface Case {
  name: string;
  service?: ServiceOptions;
  restart?: Partial<RestartPolicy>;
  nodes?: Node[];
  tasks: [string, TaskOptions][];
  historyLimit?: number;
  want: string[];
  wake?: number;
}

const cases: Case[] = [
  {
    name: 'scale up from nothing fills slots 1..replicas',
    service: { replicas: 3 },
    tasks: [],
    want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=2 node=- pending', 'create new-3 slot=3 node=- pending'],
  },
  {
    name: 'steady state writes nothing',
    service: { replicas: 2 },
    tasks: [
      ['a', { slot: 1 }],
      ['b', { slot: 2, nodeId: '', state: 'pending' }],
    ],
    want: [],
  },
  {
    name: 'scale up keeps existing slots and adds the missing ones',
    service: { replicas: 3 },
    tasks: [['a', { slot: 2 }]],
    want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=3 node=- pending'],
  },
  {
    name: 'scale down retires the highest slots; an unassigned task is shut down at once',
    service: { replicas: 1 },
    tasks: [
      ['a', { slot: 1 }],
      ['b', { slot: 2 }],
      ['c', { slot: 3, nodeId: '', state: 'pending' }],
    ],
    want: ['update b desired=shutdown running', 'update c desired=shutdown shutdown'],
  },
  {
    name: 'failed task, condition any: replaced in its slot',
    tasks: [['a', { state: 'failed' }]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown failed'],
  },
  {
    name: 'completed task, condition any: replaced',
    tasks: [['a', { state: 'complete', exitCode: 0 }]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown complete'],
  },
  {
    name: 'failed task, condition on-failure: replaced',
    restart: { condition: 'on-failure' },
    tasks: [['a', { state: 'failed', exitCode: 1 }]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown failed'],
  },
  {
    name: 'clean exit, condition on-failure: let go, slot stays empty',
    restart: { condition: 'on-failure' },
    tasks: [['a', { state: 'complete', exitCode: 0 }]],
    want: ['update a desired=shutdown complete'],
  },
  {
    name: 'failed task, condition none: let go',
    restart: { condition: 'none' },
    tasks: [['a', { state: 'failed' }]],
    want: ['update a desired=shutdown failed'],
  },
  {
    name: 'a slot the policy gave up on stays empty on later passes',
    restart: { condition: 'none' },
    tasks: [['a', { state: 'failed', desired: 'shutdown' }]],
    want: [],
  },
  {
    name: 'a service update fills a slot given up at an older version',
    service: { version: 2 },
    restart: { condition: 'none' },
    tasks: [['a', { state: 'failed', desired: 'shutdown', version: 1 }]],
    want: ['create new-1 slot=1 node=- pending'],
  },
  {
    name: 'a slot emptied by shoal (not given up) is filled',
    tasks: [['a', { state: 'shutdown', desired: 'shutdown' }]],
    want: ['create new-1 slot=1 node=- pending'],
  },
  {
    name: 'restart delay not over: nothing yet, wake when due',
    restart: { delayMs: 5_000 },
    tasks: [['a', { state: 'failed', since: 97_000 }]],
    want: [],
    wake: T0 + 102_000,
  },
  {
    name: 'restart delay over: replaced',
    restart: { delayMs: 5_000 },
    tasks: [['a', { state: 'failed', since: 95_000 }]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown failed'],
  },
  {
    name: 'max attempts spent: let go',
    restart: { maxAttempts: 2 },
    tasks: [
      ['a', { state: 'failed', created: 3, since: 90_000 }],
      ['b', { state: 'failed', desired: 'shutdown', created: 2 }],
      ['c', { state: 'failed', desired: 'shutdown', created: 1 }],
    ],
    want: ['update a desired=shutdown failed'],
  },
  {
    name: 'max attempts left: replaced',
    restart: { maxAttempts: 2 },
    tasks: [
      ['a', { state: 'failed', created: 3, since: 90_000 }],
      ['b', { state: 'failed', desired: 'shutdown', created: 2 }],
    ],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown failed'],
  },
  {
    name: 'node down: task orphaned and replaced, whatever the policy',
    restart: { condition: 'none', delayMs: 60_000 },
    nodes: [makeNode('n1', { status: down })],
    tasks: [['a', {}]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown orphaned'],
  },
  {
    name: 'node removed from the cluster: same as down',
    nodes: [],
    tasks: [['a', {}]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown orphaned'],
  },
  {
    name: 'node drained: task asked to stop and replaced',
    restart: { condition: 'none' },
    nodes: [makeNode('n1', { availability: 'drain' })],
    tasks: [['a', {}]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown running'],
  },
  {
    name: 'node paused: tasks stay',
    nodes: [makeNode('n1', { availability: 'pause' })],
    tasks: [['a', {}]],
    want: [],
  },
  {
    name: 'node no longer matches the task’s constraints: moved',
    service: { constraints: ['node.labels.zone==east'] },
    nodes: [makeNode('n1', { labels: { zone: 'west' } })],
    tasks: [['a', {}]],
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown running'],
  },
  {
    name: 'a stopping task on a node that went down is orphaned',
    service: { replicas: 0 },
    nodes: [makeNode('n1', { status: down })],
    tasks: [['a', { desired: 'shutdown' }]],
    want: ['update a desired=shutdown orphaned'],
  },
  {
    name: 'duplicate slot: the running task wins over a newer pending one',
    tasks: [
      ['a', { created: 1 }],
      ['b', { created: 2, nodeId: '', state: 'pending' }],
    ],
    want: ['update b desired=shutdown shutdown'],
  },
  {
    name: 'duplicate slot: of two running tasks the newer wins',
    tasks: [
      ['a', { created: 1 }],
      ['b', { created: 2, nodeId: 'n2' }],
    ],
    want: ['update a desired=shutdown running'],
  },
  {
    name: 'a dead task beside a live one in its slot is let go, not restarted',
    tasks: [
      ['a', { created: 1, state: 'failed' }],
      ['b', { created: 2, nodeId: '', state: 'pending' }],
    ],
    want: ['update a desired=shutdown failed'],
  },
  {
    name: 'history: the oldest finished tasks beyond the limit are deleted',
    historyLimit: 2,
    tasks: [
      ['live', { created: 10 }],
      ['h1', { created: 1, state: 'failed', desired: 'shutdown' }],
      ['h2', { created: 2, state: 'failed', desired: 'shutdown' }],
      ['h3', { created: 3, state: 'shutdown', desired: 'shutdown' }],
      ['h4', { created: 4, state: 'complete', desired: 'shutdown' }],
      ['stopping', { created: 5, state: 'running', desired: 'shutdown', nodeId: 'n2' }],
    ],
    want: ['delete h1', 'delete h2'],
  },
  {
    name: 'history: default limit is 5, and a restart in the same pass is trimmed at once',
    tasks: [
      ['dead', { created: 10, state: 'failed' }],
      ...[1, 2, 3, 4, 5].map((i): [string, TaskOptions] => [`h${i}`, { created: i, state: 'failed', desired: 'shutdown' }]),
    ],
    want: ['create new-1 slot=1 node=- pending', 'update dead desired=shutdown failed', 'delete h1'],
  },
  {
    name: 'history: an empty slot keeps its newest task as the give-up mark, even with limit 0',
    historyLimit: 0,
    restart: { condition: 'none' },
    tasks: [
      ['a', { created: 2, state: 'failed', desired: 'shutdown' }],
      ['b', { created: 1, state: 'failed', desired: 'shutdown' }],
    ],
    want: ['delete b'],
  },
  {
    name: 'history of scaled-away slots is trimmed too',
    service: { replicas: 0 },
    historyLimit: 1,
    tasks: [
      ['a', { slot: 4, created: 2, state: 'shutdown', desired: 'shutdown' }],
      ['b', { slot: 4, created: 1, state: 'shutdown', desired: 'shutdown' }],
    ],
    want: ['delete b'],
  },
];

t.test('reconcileReplicated', async (t) => {
  for (const c of cases) {
    const svc = makeService('web', { ...c.service, restart: { ...c.service?.restart, ...c.restart } });
    const tasks: Task[] = c.tasks.map(([id, o]) => makeTask(id, svc, o));
    const nodes = c.nodes ?? [makeNode('n1'), makeNode('n2')];
    const r = reconcileReplicated({ service: svc, tasks, nodes, now: NOW, historyLimit: c.historyLimit }, fakeDeps());
    t.same(summarize(r), c.want, c.name);
    t.equal(r.nextWakeMs, c.wake, `${c.name}: nextWakeMs`);
  }
});

t.test('writes carry whole tasks stamped with now', async (t) => {
  const svc = makeService('web', { replicas: 1 });
  const before = makeTask('a', svc, { nodeId: 'n1' });
  const r = reconcileReplicated(
    { service: svc, tasks: [before], nodes: [makeNode('n1', { status: down })], now: NOW },
    fakeDeps(),
  );
  const update = r.actions.find((a) => a.type === 'update');
  t.ok(update);
  if (update?.type !== 'update') return;
  const iso = new Date(NOW).toISOString();
  t.same(update.task, {
    ...before,
    desiredState: 'shutdown',
    status: { state: 'orphaned', since: iso, message: 'node is down' },
    updatedAt: iso,
  });
  t.equal(before.desiredState, 'running', 'input not mutated');
});

t.test('a scenario over several passes: crash, delayed restart, give up', async (t) => {
  const svc = makeService('web', { replicas: 1, restart: { condition: 'on-failure', delayMs: 1_000, maxAttempts: 1 } });
  const deps = fakeDeps();
  let tasks: Task[] = [];
  const pass = (now: number) => {
    const r = reconcileReplicated({ service: svc, tasks, nodes: [makeNode('n1')], now }, deps);
    for (const a of r.actions) {
      if (a.type === 'create') tasks.push(a.task);
      else if (a.type === 'update') tasks = tasks.map((x) => (x.id === a.task.id ? a.task : x));
      else tasks = tasks.filter((x) => x.id !== a.taskId);
    }
    return r;
  };
  const fail = (id: string, ms: number) => {
    tasks = tasks.map((x) => (x.id === id ? { ...x, nodeId: 'n1', status: { state: 'failed', since: at(ms), message: 'exit 1', exitCode: 1 } } : x));
  };
  pass(T0);
  t.same(tasks.map((x) => x.id), ['new-1']);
  fail('new-1', 10_000);
  t.equal(pass(T0 + 10_500).nextWakeMs, T0 + 11_000, 'restart waits for its delay');
  t.same(summarize(pass(T0 + 11_000)), ['create new-2 slot=1 node=- pending', 'update new-1 desired=shutdown failed']);
  fail('new-2', 20_000);
  t.same(summarize(pass(T0 + 30_000)), ['update new-2 desired=shutdown failed'], 'one attempt allowed, now spent');
  t.same(summarize(pass(T0 + 40_000)), [], 'and it stays given up');
});

t.test('a slot handed over by a start-first update', async (t) => {
  const svc = makeService('web', { replicas: 1 });
  const old = (id: string, o: TaskOptions) => {
    const task = makeTask(id, svc, { created: 1, ...o });
    task.spec = { ...task.spec, command: ['node', 'old.js'] };
    return task;
  };
  const check = { kind: 'tcp' as const, intervalMs: 100, timeoutMs: 100, retries: 1, startPeriodMs: 0 };
  const fresh = (id: string, o: TaskOptions, health?: 'starting' | 'healthy') => {
    const task = makeTask(id, svc, { created: 2, ...o });
    if (health) {
      task.spec = { ...task.spec, healthcheck: check };
      task.status.health = health;
    }
    return task;
  };
  const pass = (service: typeof svc, tasks: Task[]) =>
    summarize(reconcileReplicated({ service, tasks, nodes: [makeNode('n1')], now: NOW }, fakeDeps()));
  const withCheck = { ...svc, spec: { ...svc.spec, task: { ...svc.spec.task, healthcheck: check } } };

  t.same(pass(svc, [old('a', {}), fresh('b', { nodeId: '', state: 'pending' })]), [], 'old keeps serving while the new one starts');
  t.same(pass(svc, [old('a', {}), fresh('b', {})]), ['update a desired=shutdown running'], 'new one running: old one retired');
  t.same(pass(withCheck, [old('a', {}), fresh('b', {}, 'starting')]), [], 'running is not enough when there is a check');
  t.same(pass(withCheck, [old('a', {}), fresh('b', {}, 'healthy')]), ['update a desired=shutdown running'], 'healthy: old one retired');
  t.same(
    pass(svc, [old('a', {}), old('a2', { created: 0 }), fresh('b', { nodeId: '', state: 'pending' })]),
    ['update a2 desired=shutdown running'],
    'two old ones: the best stays beside the new one',
  );
  t.same(
    pass(svc, [old('a', {}), fresh('b', { state: 'failed' })]),
    ['update b desired=shutdown failed'],
    'a new one that died is let go; the old one keeps the slot',
  );
});
