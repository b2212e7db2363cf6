import t from 'tap';
import { isJobMode, reconcileJobs } from '../../../../src/manager/orchestrator/jobs/jobs';
import type { Node, RestartPolicy, Service, ServiceModeName, Task } from '../../../../src/model/types';
import { summarize } from '../../fixtures/action-summary';
import { T0, at, fakeDeps, makeNode, makeService, makeTask } from '../../../support/builders';
import type { TaskOptions } from '../../../support/builders';

const NOW = T0 + 60_000;

interface JobOptions {
  mode?: ServiceModeName;
  replicas?: number;
  maxConcurrent?: number;
  version?: number;
  forceUpdate?: number;
  constraints?: string[];
  restart?: Partial<RestartPolicy>;
}

/** A job service; jobs restart on failure by default, as Docker's are. */
function job(o: JobOptions = {}): Service {
  const s = makeService('job', {
    replicas: o.replicas ?? 3,
    version: o.version,
    constraints: o.constraints,
    restart: { condition: 'on-failure', ...o.restart },
  });
  s.spec.mode = o.mode ?? 'replicated-job';
  if (o.maxConcurrent !== undefined) s.spec.maxConcurrent = o.maxConcurrent;
  if (o.forceUpdate !== undefined) s.forceUpdate = o.forceUpdate;
  return s;
}

/** A task of the job; `forceUpdate` follows the service unless told. */
function task(id: string, service: Service, o: TaskOptions & { forceUpdate?: number } = {}): Task {
  const x = makeTask(id, service, o);
  const force = o.forceUpdate ?? service.forceUpdate;
  return force === undefined ? x : { ...x, forceUpdate: force };
}

function completed(id: string, service: Service, o: TaskOptions = {}): Task {
  return task(id, service, { state: 'complete', exitCode: 0, ...o });
}

function failed(id: string, service: Service, o: TaskOptions = {}): Task {
  return task(id, service, { state: 'failed', exitCode: 1, ...o });
}

const nodes3 = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

function run(service: Service, tasks: Task[], nodes: Node[] = nodes3, now = NOW, historyLimit?: number) {
  return reconcileJobs({ service, tasks, nodes, now, historyLimit }, fakeDeps());
}

t.test('job modes', async (t) => {
  t.equal(isJobMode('replicated-job'), true);
  t.equal(isJobMode('global-job'), true);
  t.equal(isJobMode('replicated'), false);
  t.equal(isJobMode('global'), false);
});

t.test('replicated job: completions, concurrency and restarts', async (t) => {
  const cases: { name: string; service: Service; tasks: (s: Service) => Task[]; want: string[]; wake?: number }[] = [
    {
      name: 'a new job starts maxConcurrent slots',
      service: job({ replicas: 5, maxConcurrent: 2 }),
      tasks: () => [],
      want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=2 node=- pending'],
    },
    {
      name: 'maxConcurrent defaults to the completions wanted',
      service: job({ replicas: 3 }),
      tasks: () => [],
      want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=2 node=- pending', 'create new-3 slot=3 node=- pending'],
    },
    {
      name: 'maxConcurrent 0 means the completions wanted too',
      service: job({ replicas: 2, maxConcurrent: 0 }),
      tasks: () => [],
      want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=2 node=- pending'],
    },
    {
      name: 'no room while maxConcurrent tasks run, pending or not',
      service: job({ replicas: 5, maxConcurrent: 2 }),
      tasks: (s) => [task('a', s, { slot: 1 }), task('b', s, { slot: 2, nodeId: '', state: 'pending' })],
      want: [],
    },
    {
      name: 'a completion frees its share for the next slot and is marked complete',
      service: job({ replicas: 5, maxConcurrent: 2 }),
      tasks: (s) => [completed('a', s, { slot: 1 }), task('b', s, { slot: 2 })],
      want: ['create new-1 slot=3 node=- pending', 'update a desired=complete complete'],
    },
    {
      name: 'every slot complete: the job is done and nothing moves',
      service: job({ replicas: 2 }),
      tasks: (s) => [completed('a', s, { slot: 1, desired: 'complete' }), completed('b', s, { slot: 2, desired: 'complete' })],
      want: [],
    },
    {
      name: 'a completed task is never restarted, even with condition any',
      service: job({ replicas: 1, restart: { condition: 'any' } }),
      tasks: (s) => [completed('a', s, { slot: 1 })],
      want: ['update a desired=complete complete'],
    },
    {
      name: 'a failed task is restarted in its slot',
      service: job({ replicas: 2 }),
      tasks: (s) => [failed('a', s, { slot: 1 }), completed('b', s, { slot: 2, desired: 'complete' })],
      want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown failed'],
    },
    {
      name: 'a restart waits for its delay and keeps its share meanwhile',
      service: job({ replicas: 3, maxConcurrent: 1, restart: { delayMs: 5_000 } }),
      tasks: (s) => [failed('a', s, { slot: 1, since: 58_000 })],
      want: [],
      wake: T0 + 63_000,
    },
    {
      name: 'restart condition none: the slot fails for good, the others go on',
      service: job({ replicas: 3, maxConcurrent: 1, restart: { condition: 'none' } }),
      tasks: (s) => [failed('a', s, { slot: 1 })],
      want: ['create new-1 slot=2 node=- pending', 'update a desired=shutdown failed'],
    },
    {
      name: 'a slot the policy gave up on stays given up',
      service: job({ replicas: 2, maxConcurrent: 1, restart: { condition: 'none' } }),
      tasks: (s) => [failed('a', s, { slot: 1, desired: 'shutdown' }), completed('b', s, { slot: 2, desired: 'complete' })],
      want: [],
    },
    {
      name: 'max attempts: the third failure with two restarts spent gives up',
      service: job({ replicas: 1, restart: { maxAttempts: 2 } }),
      tasks: (s) => [
        failed('a', s, { slot: 1, desired: 'shutdown', created: 1 }),
        failed('b', s, { slot: 1, desired: 'shutdown', created: 2 }),
        failed('c', s, { slot: 1, created: 3 }),
      ],
      want: ['update c desired=shutdown failed'],
    },
    {
      name: 'a task on a node that went down is orphaned and replaced at once',
      service: job({ replicas: 1, restart: { delayMs: 60_000 } }),
      tasks: (s) => [task('a', s, { slot: 1, nodeId: 'gone' })],
      want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown orphaned'],
    },
    {
      name: 'two live tasks in one slot: the one furthest along stays',
      service: job({ replicas: 1 }),
      tasks: (s) => [task('a', s, { slot: 1 }), task('b', s, { slot: 1, state: 'assigned', created: 5 })],
      want: ['update b desired=shutdown assigned'],
    },
    {
      name: 'a task beyond the slot count stops',
      service: job({ replicas: 1 }),
      tasks: (s) => [completed('a', s, { slot: 1, desired: 'complete' }), task('b', s, { slot: 2 })],
      want: ['update b desired=shutdown running'],
    },
  ];
  for (const c of cases) {
    const r = run(c.service, c.tasks(c.service));
    t.same(summarize(r), c.want, c.name);
    t.equal(r.nextWakeMs, c.wake, `${c.name}: wake-up`);
  }
});

t.test('a new spec version or --force runs the job again', async (t) => {
  const v1 = job({ replicas: 2, maxConcurrent: 1 });
  const history = [completed('a', v1, { slot: 1, desired: 'complete' }), task('b', v1, { slot: 2 })];
  const v2 = job({ replicas: 2, maxConcurrent: 1, version: 2 });
  t.same(
    summarize(run(v2, history)),
    ['create new-1 slot=1 node=- pending', 'update b desired=shutdown running'],
    'version 2: the old run stops, the new one starts from slot 1',
  );
  const forced = job({ replicas: 2, maxConcurrent: 1, forceUpdate: 1 });
  t.same(
    summarize(run(forced, history)),
    ['create new-1 slot=1 node=- pending', 'update b desired=shutdown running'],
    '--force: the same',
  );
  const done = [completed('a', v1, { slot: 1, desired: 'complete' }), completed('b', v1, { slot: 2, desired: 'complete' })];
  t.same(summarize(run(v1, done)), [], 'the same version stays done');
  const created = run(forced, done).actions.find((a) => a.type === 'create');
  t.equal(created?.type === 'create' && created.task.forceUpdate, 1, 'new tasks carry the force counter');
});

t.test('history: the completion is kept, old failures are trimmed', async (t) => {
  const s = job({ replicas: 1 });
  const tasks = [
    ...[1, 2, 3, 4].map((i) => failed(`f${i}`, s, { slot: 1, desired: 'shutdown', created: i })),
    completed('ok', s, { slot: 1, desired: 'complete', created: 10 }),
    failed('old', { ...s, version: 0 }, { slot: 1, desired: 'shutdown', created: 0, version: 0 }),
  ];
  t.same(summarize(run(s, tasks, nodes3, NOW, 2)), ['delete f2', 'delete f1', 'delete old']);
});

t.test('global job: one completion per eligible node', async (t) => {
  const nodes = [
    makeNode('n1'),
    makeNode('n2', { availability: 'drain' }),
    makeNode('n3', { role: 'manager' }),
    makeNode('n4'),
    makeNode('n5', { status: { state: 'down', since: at(0), message: '' } }),
  ];
  const g = (o: JobOptions = {}) => job({ mode: 'global-job', constraints: ['node.role==worker'], ...o });
  const cases: { name: string; service: Service; tasks: (s: Service) => Task[]; want: string[]; wake?: number }[] = [
    {
      name: 'a task on every ready, active, matching node',
      service: g(),
      tasks: () => [],
      want: ['create new-1 slot=0 node=n1 pending', 'create new-2 slot=0 node=n4 pending'],
    },
    {
      name: 'maxConcurrent 1: one node at a time, in id order',
      service: g({ maxConcurrent: 1 }),
      tasks: () => [],
      want: ['create new-1 slot=0 node=n1 pending'],
    },
    {
      name: 'a node done is not run again; the next one starts',
      service: g({ maxConcurrent: 1 }),
      tasks: (s) => [completed('a', s, { slot: 0, nodeId: 'n1' })],
      want: ['create new-1 slot=0 node=n4 pending', 'update a desired=complete complete'],
    },
    {
      name: 'all eligible nodes done',
      service: g(),
      tasks: (s) => [completed('a', s, { slot: 0, nodeId: 'n1', desired: 'complete' }), completed('b', s, { slot: 0, nodeId: 'n4', desired: 'complete' })],
      want: [],
    },
    {
      name: 'a failed task is restarted on its node',
      service: g(),
      tasks: (s) => [failed('a', s, { slot: 0, nodeId: 'n1' }), completed('b', s, { slot: 0, nodeId: 'n4', desired: 'complete' })],
      want: ['create new-1 slot=0 node=n1 pending', 'update a desired=shutdown failed'],
    },
    {
      name: 'a failed task waits out its delay',
      service: g({ restart: { delayMs: 10_000 } }),
      tasks: (s) => [failed('a', s, { slot: 0, nodeId: 'n1', since: 55_000 }), completed('b', s, { slot: 0, nodeId: 'n4', desired: 'complete' })],
      want: [],
      wake: T0 + 65_000,
    },
    {
      name: 'drained while running: stopped, not moved',
      service: g(),
      tasks: (s) => [
        task('a', s, { slot: 0, nodeId: 'n2' }),
        completed('b', s, { slot: 0, nodeId: 'n1', desired: 'complete' }),
        completed('c', s, { slot: 0, nodeId: 'n4', desired: 'complete' }),
      ],
      want: ['update a desired=shutdown running'],
    },
    {
      name: 'a node that left the cluster: its task stops',
      service: g(),
      tasks: (s) => [
        task('a', s, { slot: 0, nodeId: 'n9', state: 'pending' }),
        completed('b', s, { slot: 0, nodeId: 'n1', desired: 'complete' }),
        completed('c', s, { slot: 0, nodeId: 'n4', desired: 'complete' }),
      ],
      want: ['update a desired=shutdown shutdown'],
    },
  ];
  for (const c of cases) {
    const r = run(c.service, c.tasks(c.service), nodes);
    t.same(summarize(r), c.want, c.name);
    t.equal(r.nextWakeMs, c.wake, `${c.name}: wake-up`);
  }
});

t.test('global job: nodes that join or come back run it; a new iteration reruns everywhere', async (t) => {
  const s = job({ mode: 'global-job' });
  const doneOnN1 = [completed('a', s, { slot: 0, nodeId: 'n1', desired: 'complete' })];
  t.same(summarize(run(s, doneOnN1, [makeNode('n1'), makeNode('n2')])), ['create new-1 slot=0 node=n2 pending'], 'a node joining later runs the job');

  const stoppedByDrain = [task('a', s, { slot: 0, nodeId: 'n1', state: 'shutdown', desired: 'shutdown' })];
  t.same(summarize(run(s, stoppedByDrain, [makeNode('n1')])), ['create new-1 slot=0 node=n1 pending'], 'a run shoal stopped starts again when the node is back');

  const v2 = job({ mode: 'global-job', version: 2 });
  t.same(
    summarize(run(v2, [...doneOnN1, task('b', s, { slot: 0, nodeId: 'n2' })], [makeNode('n1'), makeNode('n2')])),
    ['create new-1 slot=0 node=n1 pending', 'create new-2 slot=0 node=n2 pending', 'update b desired=shutdown running'],
  );
});
