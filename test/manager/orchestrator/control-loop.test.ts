/**
 * The control loop with a real in-memory store and a fake agent: a rolling
 * update goes through the orchestrator, updater and scheduler writes, with
 * the updater's timers (the monitor window) waking the loop.
 */
import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ControlLoop } from '../../../src/manager/orchestrator/control-loop';
import { isDirty } from '../../../src/spec/task-spec';
import { updatingStatus } from '../../../src/manager/orchestrator/update/update-status';
import { KEYS, isTerminal } from '../../../src/model/types';
import type { Service, Task } from '../../../src/model/types';
import { MemoryStore } from '../../../src/store/memory-store';
import type { Store, WatchEvent } from '../../../src/store/store';
import { makeNode, makeService } from '../fixtures/model';

const WAIT_MS = 10_000;

/** Poll `read` until `ok` holds, or fail after WAIT_MS. */
async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts what is assigned, stops what is asked to stop; writes with compare-and-swap like the real dispatcher path. */
function fakeAgent(store: Store, fails: (t: Task) => boolean) {
  const onEvents = (events: WatchEvent[]) => {
    for (const e of events) {
      if (e.type !== 'put') continue;
      const task = e.kv.value as Task;
      const since = new Date().toISOString();
      let next: Task | undefined;
      if (task.desiredState === 'running' && task.status.state === 'assigned') {
        next = fails(task)
          ? { ...task, status: { state: 'failed', since, message: 'exit 1', exitCode: 1 } }
          : { ...task, status: { state: 'running', since, message: 'started' } };
      } else if (task.desiredState === 'shutdown' && !isTerminal(task.status.state) && task.status.state !== 'pending') {
        next = { ...task, status: { state: 'shutdown', since, message: 'stopped' } };
      }
      if (next) void store.txn({ compare: [{ key: e.kv.key, modRevision: e.kv.modRevision }], success: [{ type: 'put', key: e.kv.key, value: next }] });
    }
  };
  return store.watch(KEYS.tasks, 1, { onEvents });
}

async function setup(t: Test, fails: (t: Task) => boolean = () => false) {
  const store = new MemoryStore();
  await store.put(KEYS.node('n1'), makeNode('n1'));
  const loop = new ControlLoop(
    { store, logger: pino({ level: 'silent' }), registry: new Registry(), now: Date.now, newId: (() => {
      let n = 0;
      return () => `task-${++n}`;
    })() },
    { historyLimit: 5 },
  );
  const agent = fakeAgent(store, fails);
  t.teardown(async () => {
    agent.cancel();
    await loop.stop();
    await store.close();
  });
  const tasks = async () => (await store.range<Task>(KEYS.tasks)).kvs.map((kv) => kv.value);
  const service = async (id: string) => (await store.get<Service>(KEYS.service(id)))!.value;
  return { store, loop, tasks, service };
}

function v1Service(): Service {
  const svc = makeService('web', { replicas: 3 });
  svc.spec.updateConfig = { parallelism: 2, delayMs: 0, failureAction: 'rollback', monitorMs: 50, maxFailureRatio: 0, order: 'stop-first' };
  svc.spec.rollbackConfig = { ...svc.spec.updateConfig, failureAction: 'pause', parallelism: 0 };
  return svc;
}

function withCommand(svc: Service, cmd: string): Service {
  const next = structuredClone(svc);
  next.previousSpec = svc.spec;
  next.spec.task.command = ['node', cmd];
  next.version += 1;
  next.updateStatus = updatingStatus(Date.now());
  return next;
}

const liveOf = (tasks: Task[]) => tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running');

t.test('a rolling update runs to completed through the store', async (t) => {
  const { store, loop, tasks, service } = await setup(t);
  const v1 = v1Service();
  await store.put(KEYS.service(v1.id), v1);
  loop.run();
  await waitFor('three running tasks', tasks, (ts) => liveOf(ts).length === 3);

  await store.put(KEYS.service(v1.id), withCommand(v1, 'v2.js'));
  const done = await waitFor('the update to complete', () => service(v1.id), (s) => s.updateStatus?.state === 'completed');
  const ts = await tasks();
  t.equal(liveOf(ts).length, 3, 'three tasks running');
  t.ok(liveOf(ts).every((x) => !isDirty(x, done)), 'all on the new spec');
  t.same(liveOf(ts).map((x) => x.slot).sort(), [1, 2, 3]);
  t.ok(done.updateStatus?.completedAt, 'completion is stamped');
});

t.test('a failing update rolls back by itself through the store', async (t) => {
  const { store, loop, tasks, service } = await setup(t, (x) => x.spec.command[1] === 'bad.js');
  const v1 = v1Service();
  await store.put(KEYS.service(v1.id), v1);
  loop.run();
  await waitFor('three running tasks', tasks, (ts) => liveOf(ts).length === 3);

  await store.put(KEYS.service(v1.id), withCommand(v1, 'bad.js'));
  const done = await waitFor('the rollback to complete', () => service(v1.id), (s) => s.updateStatus?.state === 'rollback_completed');
  t.same(done.spec.task.command, ['node', 'server.js'], 'the old spec is back');
  t.equal(done.version, v1.version + 2, 'the update and the rollback each bumped the version');
  const ts = await waitFor('three running tasks again', tasks, (x) => liveOf(x).length === 3);
  t.ok(liveOf(ts).every((x) => x.spec.command[1] === 'server.js'));
  t.ok(ts.filter((x) => x.spec.command[1] === 'bad.js').length >= 1, 'the bad spec was tried');
});
