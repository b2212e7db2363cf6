/**
 * Multi-pass runs of orchestrator + updater + a fake agent on a fake clock:
 * the whole walk, pass after pass, as the control loop would drive it.
 */
import t from 'tap';
import type { Service, Task } from '../../../../src/model/types';
import { isDirty } from '../../../../src/spec/task-spec';
import { T0, makeNode } from '../../../support/builders';
import { START, World, oldTask, startingAgent, walkService } from './walk-fixtures';
import type { WalkServiceOptions } from './walk-fixtures';

const STEP_MS = 100;

function world(o: WalkServiceOptions, fails?: (t: Task) => boolean): World {
  const svc = walkService(o);
  const replicas = o.mode === 'global' ? 0 : svc.spec.replicas;
  const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];
  const tasks =
    o.mode === 'global'
      ? nodes.map((n) => oldTask(`old-${n.id}`, svc, { slot: 0, nodeId: n.id }))
      : Array.from({ length: replicas }, (_, i) => oldTask(`old-${i + 1}`, svc, { slot: i + 1 }));
  const w = new World(svc, tasks, nodes, startingAgent(fails));
  w.now = T0 + START - STEP_MS;
  return w;
}

const state = (w: World) => w.service.updateStatus?.state;
const runs = (cmd: string) => (t: Task) => t.spec.command[1] === cmd;
const liveTasks = (w: World) => w.tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

t.test('stop-first, 6 replicas, parallelism 2, delay 1s: batches of two, a delay apart', async (t) => {
  const w = world({ replicas: 6, update: { parallelism: 2, delayMs: 1_000, monitorMs: 500 } });
  const done = w.runUntil(
    (w) => state(w) === 'completed',
    STEP_MS,
    500,
    (w) => {
      for (let slot = 1; slot <= 6; slot++) {
        const running = w.tasks.filter((x) => x.slot === slot && x.status.state === 'running' && x.desiredState === 'running');
        if (running.length > 1) t.fail(`slot ${slot} runs twice at ${w.now - T0}`);
      }
    },
  );
  t.ok(done, 'the update completes');
  const live = liveTasks(w);
  t.same(live.map((x) => x.slot).sort(), [1, 2, 3, 4, 5, 6], 'one running task per slot');
  t.ok(live.every((x) => !isDirty(x, w.service)), 'every slot runs the new spec');
  const births = [...new Set(w.tasks.filter(runs('v2.js')).map((x) => Date.parse(x.createdAt)))].sort((a, b) => a - b);
  t.equal(births.length, 3, 'three batches');
  t.same(
    births.map((b) => w.tasks.filter((x) => runs('v2.js')(x) && Date.parse(x.createdAt) === b).length),
    [2, 2, 2],
    'of two tasks each',
  );
  for (let i = 1; i < births.length; i++) t.ok(births[i] - births[i - 1] >= 1_000, `batch ${i + 1} waits the delay`);
  t.ok(w.tasks.filter(runs('v1.js')).every((x) => x.desiredState === 'shutdown' && x.status.state === 'shutdown'), 'old tasks kept as history');
});

t.test('start-first, 1 replica with a health check: the old task goes only once the new one is healthy', async (t) => {
  const w = world({ replicas: 1, health: true, update: { order: 'start-first', monitorMs: 500 } });
  let handedOver = false;
  const done = w.runUntil(
    (w) => state(w) === 'completed',
    STEP_MS,
    200,
    (w) => {
      // Judge what the cores wrote against the statuses they saw, before the agent moved on.
      const old = w.written.find((x) => x.id === 'old-1') as Task;
      const serving = w.tasks.filter((x) => x.status.state === 'running' && (!x.spec.healthcheck || x.status.health === 'healthy'));
      if (old.desiredState === 'shutdown') {
        handedOver = true;
        if (!w.written.some((x) => x.id !== 'old-1' && x.status.health === 'healthy')) t.fail(`old task retired before the new one was healthy, at ${w.now - T0}`);
      }
      if (serving.length === 0) t.fail(`nothing serving at ${w.now - T0}`);
    },
  );
  t.ok(done, 'the update completes');
  t.ok(handedOver, 'the old task was retired');
  t.equal(liveTasks(w).length, 1);
  t.equal(liveTasks(w)[0].status.health, 'healthy');
});

t.test('a new spec failing its health check, action rollback: stops after the first batch and rolls back', async (t) => {
  const w = world({ replicas: 4, health: true, update: { parallelism: 2, failureAction: 'rollback', monitorMs: 500 }, rollback: { parallelism: 2, monitorMs: 500 } }, runs('v2.js'));
  const states: string[] = [];
  const done = w.runUntil(
    (w) => state(w) === 'rollback_completed',
    STEP_MS,
    500,
    (w) => {
      const s = state(w);
      if (s && states[states.length - 1] !== s) states.push(s);
    },
  );
  t.ok(done, 'the rollback completes');
  t.same(states, ['updating', 'rollback_started', 'rollback_completed']);
  t.equal(w.tasks.filter(runs('v2.js')).length, 2, 'only the first batch ran the new spec');
  t.same(w.service.spec.task.command, ['node', 'v1.js'], 'the spec is the old one again');
  t.ok(liveTasks(w).every((x) => runs('v1.js')(x)), 'every live task runs the old spec');
  t.equal(liveTasks(w).length, 4);
  t.match(w.log.find((l) => l.result.service?.updateStatus?.state === 'rollback_started')?.result.service?.updateStatus?.message, /^update rolled back due to failure or early termination of task new-\d+$/);
});

t.test('a rollback that fails too ends rollback_paused, never rolling back again', async (t) => {
  // Both specs crash: the rollback's own tasks fail.
  const w = world({ replicas: 2, update: { failureAction: 'rollback', monitorMs: 500 } }, () => true);
  const done = w.runUntil((w) => state(w) === 'rollback_paused', STEP_MS, 300);
  t.ok(done, 'the rollback pauses');
  for (let i = 0; i < 50; i++) w.tick(w.now + STEP_MS);
  t.equal(state(w), 'rollback_paused', 'and stays paused');
  t.equal(w.service.version, 3, 'one rollback only');
});

t.test('action pause: paused with a message, other slots untouched; a new update resumes', async (t) => {
  const w = world({ replicas: 3, update: { monitorMs: 500 } }, runs('v2.js'));
  t.ok(
    w.runUntil((w) => state(w) === 'paused', STEP_MS, 100),
    'the update pauses',
  );
  t.match(w.service.updateStatus?.message, /^update paused due to failure or early termination of task new-1$/);
  for (let i = 0; i < 30; i++) w.tick(w.now + STEP_MS);
  t.equal(state(w), 'paused', 'paused stays paused');
  t.same(
    [2, 3].map((slot) => w.live(slot).map((x) => x.id)),
    [['old-2'], ['old-3']],
    'the walk went no further',
  );

  // `service update` with a spec that works: a new walk from where things are.
  const fixed: Service = structuredClone(w.service);
  fixed.previousSpec = w.service.spec;
  fixed.spec.task.command = ['node', 'v3.js'];
  fixed.version += 1;
  fixed.updateStatus = { state: 'updating', startedAt: new Date(w.now).toISOString(), message: 'update in progress' };
  w.service = fixed;
  t.ok(
    w.runUntil((w) => state(w) === 'completed', STEP_MS, 300),
    'the new update completes',
  );
  t.same(
    liveTasks(w).map((x) => [x.slot, x.spec.command[1]]).sort(),
    [
      [1, 'v3.js'],
      [2, 'v3.js'],
      [3, 'v3.js'],
    ],
  );
});

t.test('a global service is updated node by node', async (t) => {
  const w = world({ mode: 'global', update: { monitorMs: 300 } });
  const order: string[] = [];
  t.ok(
    w.runUntil(
      (w) => state(w) === 'completed',
      STEP_MS,
      300,
      (w) => {
        const last = w.log[w.log.length - 1].result;
        for (const a of last.actions) if (a.type === 'create') order.push(a.task.nodeId);
      },
    ),
    'the update completes',
  );
  t.same(order, ['n1', 'n2', 'n3'], 'one node at a time, in order');
  t.same(liveTasks(w).map((x) => [x.nodeId, x.spec.command[1]]).sort(), [
    ['n1', 'v2.js'],
    ['n2', 'v2.js'],
    ['n3', 'v2.js'],
  ]);
});

t.test('--force with an unchanged spec redeploys every task', async (t) => {
  const w = world({ replicas: 2, state: null, update: { monitorMs: 300 } });
  // Tasks already run the spec; only the counter moves.
  w.tasks = w.tasks.map((x) => ({ ...x, spec: structuredClone(w.service.spec.task) }));
  w.tick(w.now + STEP_MS);
  t.same(w.log[0].result.actions, [], 'nothing to do before the bump');
  w.service = { ...w.service, forceUpdate: 1 };
  t.ok(
    w.runUntil((w) => state(w) === 'completed', STEP_MS, 200),
    'the redeploy completes',
  );
  t.same(
    liveTasks(w).map((x) => x.id).sort(),
    ['new-1', 'new-2'],
    'both tasks replaced',
  );
  t.ok(liveTasks(w).every((x) => x.forceUpdate === 1));
});
