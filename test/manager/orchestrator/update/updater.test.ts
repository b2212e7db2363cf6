import t from 'tap';
import { reconcileUpdate } from '../../../../src/manager/orchestrator/update/updater';
import type { Node, Task, UpdateStatus } from '../../../../src/model/types';
import { summarize } from '../../fixtures/action-summary';
import { T0, at, fakeDeps, makeNode } from '../../../support/builders';
import type { TaskOptions } from '../../../support/builders';
import { START, oldTask, walkService, walkTask } from './walk-fixtures';
import type { WalkServiceOptions } from './walk-fixtures';

type TaskSpec = ['old' | 'new', string, (TaskOptions & { health?: Task['status']['health'] })?];

interface Case {
  name: string;
  service?: WalkServiceOptions;
  /** Bump the service's force-update counter after the tasks are made. */
  force?: boolean;
  nodes?: Node[];
  /** A pass the updater made earlier in the same walk, for what it remembers. */
  before?: { now: number; tasks: TaskSpec[] };
  tasks: TaskSpec[];
  /** ms after T0. */
  now: number;
  want: string[];
  status?: UpdateStatus['state'];
  message?: string;
  /** ms after T0. */
  wake?: number;
}

const old3: TaskSpec[] = [
  ['old', 'a', { slot: 1 }],
  ['old', 'b', { slot: 2 }],
  ['old', 'c', { slot: 3 }],
];
const retiredA: TaskSpec = ['old', 'a', { slot: 1, desired: 'shutdown', state: 'shutdown' }];
const firstBatch = ['create new-1 slot=1 node=- pending', 'update a desired=shutdown running'];
const globalNodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

const cases: Case[] = [
  {
    name: 'no status and nothing dirty: nothing to do',
    service: { state: null },
    tasks: [
      ['new', 'a', { slot: 1, created: 0 }],
      ['new', 'b', { slot: 2, created: 0 }],
    ],
    now: START,
    want: [],
  },
  {
    name: 'scaling (3 to 5 replicas) leaves tasks clean: nothing to do',
    service: { state: null, replicas: 5 },
    tasks: [
      ['new', 'a', { slot: 1, created: 0 }],
      ['new', 'b', { slot: 2, created: 0 }],
      ['new', 'c', { slot: 3, created: 0 }],
    ],
    now: START,
    want: [],
  },
  {
    name: 'a spec written without a status starts an update',
    service: { state: null },
    tasks: old3,
    now: START,
    want: firstBatch,
    status: 'updating',
    message: 'update in progress',
  },
  {
    name: 'an update that made nothing dirty completes at once',
    tasks: [['new', 'a', { slot: 1, created: 0 }]],
    service: { replicas: 1 },
    now: START,
    want: [],
    status: 'completed',
    message: 'update completed',
  },
  { name: 'parallelism 1: one slot; stop-first retires the old task in the same step', tasks: old3, now: START, want: firstBatch },
  {
    name: 'parallelism 2: two slots per batch',
    service: { update: { parallelism: 2 } },
    tasks: old3,
    now: START,
    want: ['create new-1 slot=1 node=- pending', 'create new-2 slot=2 node=- pending', 'update a desired=shutdown running', 'update b desired=shutdown running'],
  },
  {
    name: 'parallelism 0: every slot at once',
    service: { update: { parallelism: 0 } },
    tasks: old3,
    now: START,
    want: [
      'create new-1 slot=1 node=- pending',
      'create new-2 slot=2 node=- pending',
      'create new-3 slot=3 node=- pending',
      'update a desired=shutdown running',
      'update b desired=shutdown running',
      'update c desired=shutdown running',
    ],
  },
  {
    name: 'the batch in flight holds the next one',
    tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)],
    now: START + 500,
    want: [],
  },
  {
    name: 'delay: the next batch waits `delay` after the last task got ready',
    service: { update: { delayMs: 10_000 } },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000 }], ...old3.slice(1)],
    now: 5_000,
    want: [],
    // The earliest thing due: x's monitor window closes before the delay is over.
    wake: 7_000,
  },
  {
    name: 'delay: the wake-up is the end of the delay once monitor windows are closed',
    service: { update: { delayMs: 10_000, monitorMs: 1_000 } },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000 }], ...old3.slice(1)],
    now: 5_000,
    want: [],
    wake: 12_000,
  },
  {
    name: 'delay over: the next batch',
    service: { update: { delayMs: 10_000 } },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000 }], ...old3.slice(1)],
    now: 12_000,
    want: ['create new-1 slot=2 node=- pending', 'update b desired=shutdown running'],
  },
  {
    name: 'start-first: the new task starts beside the old one, which keeps running',
    service: { update: { order: 'start-first' } },
    tasks: old3,
    now: START,
    want: ['create new-1 slot=1 node=- pending'],
  },
  {
    name: 'start-first with no old task running in the slot: replaced at once',
    service: { update: { order: 'start-first' } },
    tasks: [['old', 'a', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)],
    now: START,
    want: ['create new-1 slot=1 node=- pending', 'update a desired=shutdown shutdown'],
  },
  {
    name: 'start-first hand-over in flight: the walk waits for the new task',
    service: { update: { order: 'start-first' } },
    tasks: [...old3, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }]],
    now: START + 500,
    want: [],
  },
  {
    name: 'a clean task an earlier walk left handing over is not replaced again, and holds the batch',
    tasks: [...old3, ['new', 'h', { slot: 1, created: 500, nodeId: '', state: 'pending' }]],
    now: START,
    want: [],
  },
  {
    name: 'such a hand-over holds the end of the walk too',
    service: { replicas: 1 },
    tasks: [
      ['old', 'a', { slot: 1 }],
      ['new', 'h', { slot: 1, created: 500, nodeId: '', state: 'pending' }],
    ],
    now: START,
    want: [],
  },
  {
    name: 'slots above the replica count are the orchestrator’s',
    service: { replicas: 1 },
    tasks: old3.slice(0, 2),
    now: START,
    want: firstBatch,
  },
  {
    name: 'every slot done, the last in its monitor window: wait for it',
    tasks: [
      ['new', 'x', { slot: 1, since: 2_000 }],
      ['new', 'y', { slot: 2, since: 3_000 }],
      ['new', 'z', { slot: 3, since: 4_000 }],
    ],
    now: 6_000,
    want: [],
    wake: 7_000,
  },
  {
    name: 'every slot done, one window still open: wake when it closes',
    tasks: [
      ['new', 'x', { slot: 1, since: 2_000 }],
      ['new', 'y', { slot: 2, since: 3_000 }],
      ['new', 'z', { slot: 3, since: 4_000 }],
    ],
    now: 8_500,
    want: [],
    wake: 9_000,
  },
  {
    name: 'every monitor window closed: completed',
    tasks: [
      ['new', 'x', { slot: 1, since: 2_000 }],
      ['new', 'y', { slot: 2, since: 3_000 }],
      ['new', 'z', { slot: 3, since: 4_000 }],
    ],
    now: 9_000,
    want: [],
    status: 'completed',
    message: 'update completed',
  },
  {
    name: 'a walk task that ended before this manager watched it is not counted',
    tasks: [['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: ['create new-1 slot=2 node=- pending', 'update b desired=shutdown running'],
  },
  {
    name: 'failure, action pause: paused, naming the task',
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000, exitCode: 1 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'paused',
    message: 'update paused due to failure or early termination of task x',
  },
  {
    name: 'early exit (complete) inside the monitor window is a failure too',
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000 }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'complete', since: 3_000, exitCode: 0 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'paused',
  },
  {
    name: 'failure, action continue: the walk goes on',
    service: { update: { failureAction: 'continue' } },
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: ['create new-1 slot=2 node=- pending', 'update b desired=shutdown running'],
  },
  {
    name: 'failure, action rollback: the previous spec comes back',
    service: { update: { failureAction: 'rollback' } },
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'rollback_started',
    message: 'update rolled back due to failure or early termination of task x',
  },
  {
    name: 'failure, action rollback, but no previous spec: paused',
    service: { update: { failureAction: 'rollback' }, noPrevious: true },
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'paused',
  },
  {
    name: 'maxFailureRatio 0.5: one failure in two tasks is tolerated',
    service: { update: { parallelism: 2, maxFailureRatio: 0.5 } },
    before: {
      now: 2_000,
      tasks: [
        ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }],
        ['new', 'y', { slot: 2, nodeId: '', state: 'pending' }],
        ['old', 'c', { slot: 3 }],
      ],
    },
    tasks: [
      ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }],
      ['new', 'y', { slot: 2, since: 3_000 }],
      ['old', 'c', { slot: 3 }],
    ],
    now: 3_500,
    want: ['create new-1 slot=3 node=- pending', 'update c desired=shutdown running'],
    wake: 8_000,
  },
  {
    name: 'maxFailureRatio 0.5: two failures in three tasks pause',
    service: { update: { parallelism: 0, maxFailureRatio: 0.5 } },
    before: {
      now: 2_000,
      tasks: [
        ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }],
        ['new', 'y', { slot: 2, nodeId: '', state: 'pending' }],
        ['new', 'z', { slot: 3, nodeId: '', state: 'pending' }],
      ],
    },
    tasks: [
      ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }],
      ['new', 'y', { slot: 2, state: 'rejected', since: 3_000 }],
      ['new', 'z', { slot: 3, since: 3_000 }],
    ],
    now: 3_500,
    want: [],
    status: 'paused',
    message: 'update paused due to failure or early termination of task y',
  },
  {
    name: 'a failing rollback pauses as rollback_paused',
    service: { state: 'rollback_started' },
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'rollback_paused',
    message: 'rollback paused due to failure or early termination of task x',
  },
  {
    name: 'a rollback never rolls back again, whatever its config says',
    service: { state: 'rollback_started', rollback: { failureAction: 'rollback' } },
    before: { now: 2_000, tasks: [retiredA, ['new', 'x', { slot: 1, nodeId: '', state: 'pending' }], ...old3.slice(1)] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 3_000 }], ...old3.slice(1)],
    now: 4_000,
    want: [],
    status: 'rollback_paused',
  },
  {
    name: 'a rollback walks with the rollback config (parallelism 0 here)',
    service: { state: 'rollback_started', rollback: { parallelism: 0 } },
    tasks: old3,
    now: START,
    want: [
      'create new-1 slot=1 node=- pending',
      'create new-2 slot=2 node=- pending',
      'create new-3 slot=3 node=- pending',
      'update a desired=shutdown running',
      'update b desired=shutdown running',
      'update c desired=shutdown running',
    ],
  },
  {
    name: 'a finished rollback: rollback_completed',
    service: { state: 'rollback_started', replicas: 1 },
    tasks: [['new', 'x', { slot: 1, since: 1_500 }]],
    now: 10_000,
    want: [],
    status: 'rollback_completed',
    message: 'rollback completed',
  },
  { name: 'paused stays paused', service: { state: 'paused' }, tasks: old3, now: 60_000, want: [] },
  { name: 'rollback_paused stays paused', service: { state: 'rollback_paused' }, tasks: old3, now: 60_000, want: [] },
  { name: 'completed: leftover dirty tasks wait for the next update', service: { state: 'completed' }, tasks: old3, now: 60_000, want: [] },
  {
    name: 'health check: running but not yet healthy holds the batch until its verdict is due',
    service: { health: true },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000, health: 'starting' }], ...old3.slice(1)],
    now: 2_500,
    want: [],
    wake: 7_000,
  },
  {
    name: 'health check: unhealthy before ever healthy is a failure',
    service: { health: true },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000, health: 'unhealthy' }], ...old3.slice(1)],
    now: 2_500,
    want: [],
    status: 'paused',
    message: 'update paused due to failure or early termination of task x',
  },
  {
    name: 'health check: no verdict by the deadline is a failure',
    service: { health: true },
    tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000, health: 'starting' }], ...old3.slice(1)],
    now: 7_000,
    want: [],
    status: 'paused',
  },
  {
    name: 'health check: the monitor window opens when the task is first seen healthy',
    service: { health: true, replicas: 1 },
    tasks: [['new', 'x', { slot: 1, since: 2_000, health: 'healthy' }]],
    now: 2_500,
    want: [],
    wake: 7_500,
  },
  {
    name: 'health check: unhealthy inside the monitor window is a failure',
    service: { health: true, replicas: 1 },
    before: { now: 2_500, tasks: [['new', 'x', { slot: 1, since: 2_000, health: 'healthy' }]] },
    tasks: [['new', 'x', { slot: 1, since: 2_000, health: 'unhealthy' }]],
    now: 4_000,
    want: [],
    status: 'paused',
  },
  {
    name: 'a failure after the monitor window is not the update’s',
    service: { replicas: 2 },
    before: { now: 2_500, tasks: [retiredA, ['new', 'x', { slot: 1, since: 2_000 }], ['old', 'b', { slot: 2 }]] },
    tasks: [retiredA, ['new', 'x', { slot: 1, state: 'failed', since: 8_000 }], ['old', 'b', { slot: 2, nodeId: '', state: 'pending' }]],
    now: 8_500,
    want: ['create new-1 slot=2 node=- pending', 'update b desired=shutdown shutdown'],
  },
  {
    name: 'global: one node per batch, in node order, the new task bound to it',
    service: { mode: 'global' },
    nodes: globalNodes,
    tasks: [
      ['old', 'a', { slot: 0, nodeId: 'n1' }],
      ['old', 'b', { slot: 0, nodeId: 'n2' }],
      ['old', 'c', { slot: 0, nodeId: 'n3' }],
    ],
    now: START,
    want: ['create new-1 slot=0 node=n1 pending', 'update a desired=shutdown running'],
  },
  {
    name: 'global: a paused node is skipped',
    service: { mode: 'global' },
    nodes: [makeNode('n1'), makeNode('n2', { availability: 'pause' }), makeNode('n3')],
    tasks: [
      ['new', 'x', { slot: 0, nodeId: 'n1', since: 1_500 }],
      ['old', 'b', { slot: 0, nodeId: 'n2' }],
      ['old', 'c', { slot: 0, nodeId: 'n3' }],
    ],
    now: 2_000,
    want: ['create new-1 slot=0 node=n3 pending', 'update c desired=shutdown running'],
    wake: 6_500,
  },
  {
    name: 'global: the walk completes without nodes that take no tasks',
    service: { mode: 'global' },
    nodes: [makeNode('n1'), makeNode('n2', { availability: 'pause' }), makeNode('n3')],
    tasks: [
      ['new', 'x', { slot: 0, nodeId: 'n1', since: 1_500 }],
      ['old', 'b', { slot: 0, nodeId: 'n2' }],
      ['new', 'z', { slot: 0, nodeId: 'n3', since: 1_500 }],
    ],
    now: 10_000,
    want: [],
    status: 'completed',
  },
  {
    name: '--force: tasks of the same spec are redeployed',
    service: { state: null },
    force: true,
    tasks: [
      ['new', 'a', { slot: 1, created: 0 }],
      ['new', 'b', { slot: 2, created: 0 }],
      ['new', 'c', { slot: 3, created: 0 }],
    ],
    now: START,
    want: firstBatch,
    status: 'updating',
  },
  {
    name: 'job modes are not walked',
    service: { state: null, mode: 'replicated-job' },
    tasks: old3,
    now: START,
    want: [],
  },
];

t.test('reconcileUpdate', async (t) => {
  for (const c of cases) {
    const svc = walkService(c.service);
    const make = ([kind, id, o]: TaskSpec) => (kind === 'old' ? oldTask(id, svc, o) : walkTask(id, svc, o));
    const tasks = c.tasks.map(make);
    const nodes = c.nodes ?? [makeNode('n1'), makeNode('n2')];
    const observations = c.before
      ? reconcileUpdate({ service: svc, tasks: c.before.tasks.map(make), nodes, now: T0 + c.before.now }, fakeDeps()).observations
      : undefined;
    if (c.force) svc.forceUpdate = 1;
    const r = reconcileUpdate({ service: svc, tasks, nodes, now: T0 + c.now, observations }, fakeDeps());
    t.same(summarize(r), c.want, c.name);
    t.equal(r.service?.updateStatus?.state, c.status, `${c.name}: status`);
    if (c.message) t.equal(r.service?.updateStatus?.message, c.message, `${c.name}: message`);
    t.equal(r.nextWakeMs, c.wake === undefined ? undefined : T0 + c.wake, `${c.name}: nextWakeMs`);
  }
});

t.test('status writes keep the walk’s start and stamp completion', async (t) => {
  const svc = walkService({ replicas: 1 });
  const r = reconcileUpdate({ service: svc, tasks: [walkTask('x', svc, { since: 2_000 })], nodes: [makeNode('n1')], now: T0 + 9_000 }, fakeDeps());
  t.same(r.service?.updateStatus, { state: 'completed', startedAt: at(START), completedAt: at(9_000), message: 'update completed' });
  t.equal(r.service?.version, 2, 'a status write is not a new spec');
  t.equal(r.observations, undefined, 'nothing to remember once the walk is over');
});

t.test('an automatic rollback swaps the specs and bumps the version', async (t) => {
  const svc = walkService({ update: { failureAction: 'rollback' } });
  const nodes = [makeNode('n1')];
  const pending = walkTask('x', svc, { nodeId: '', state: 'pending' });
  const first = reconcileUpdate({ service: svc, tasks: [pending], nodes, now: T0 + 2_000 }, fakeDeps());
  const failed = walkTask('x', svc, { state: 'failed', since: 3_000 });
  const r = reconcileUpdate({ service: svc, tasks: [failed], nodes, now: T0 + 4_000, observations: first.observations }, fakeDeps());
  t.equal(r.service?.version, 3);
  t.same(r.service?.spec.task.command, ['node', 'v1.js'], 'the previous spec is the spec');
  t.same(r.service?.previousSpec?.task.command, ['node', 'v2.js'], 'and the failed one is kept as previous');
  t.same(r.service?.updateStatus?.startedAt, at(4_000), 'the rollback is a new walk');
  t.same(r.actions, [], 'no task moves in the pass that decides');
});

t.test('input is not mutated', async (t) => {
  const svc = walkService();
  const tasks = [oldTask('a', svc, { slot: 1 })];
  const before = structuredClone({ svc, tasks });
  reconcileUpdate({ service: svc, tasks, nodes: [makeNode('n1')], now: T0 + START }, fakeDeps());
  t.same({ svc, tasks }, before);
});
