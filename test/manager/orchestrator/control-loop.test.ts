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
import { KEYS } from '../../../src/model/types';
import type { Service, Task } from '../../../src/model/types';
import { MemoryStore } from '../../../src/store/memory-store';
import { eventually, satisfying } from '../../support/eventually';
import { fakeAgent } from '../fixtures/fake-agent';
import { makeNode, makeService } from '../../support/builders';

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
  const agent = fakeAgent(store, { fails });
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
  await eventually(satisfying(tasks, (ts) => liveOf(ts).length === 3), 'three running tasks');

  await store.put(KEYS.service(v1.id), withCommand(v1, 'v2.js'));
  const done = await eventually(satisfying(() => service(v1.id), (s) => s.updateStatus?.state === 'completed'), 'the update to complete');
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
  await eventually(satisfying(tasks, (ts) => liveOf(ts).length === 3), 'three running tasks');

  await store.put(KEYS.service(v1.id), withCommand(v1, 'bad.js'));
  const done = await eventually(satisfying(() => service(v1.id), (s) => s.updateStatus?.state === 'rollback_completed'), 'the rollback to complete');
  t.same(done.spec.task.command, ['node', 'server.js'], 'the old spec is back');
  t.equal(done.version, v1.version + 2, 'the update and the rollback each bumped the version');
  const ts = await eventually(satisfying(tasks, (x) => liveOf(x).length === 3), 'three running tasks again');
  t.ok(liveOf(ts).every((x) => x.spec.command[1] === 'server.js'));
  t.ok(ts.filter((x) => x.spec.command[1] === 'bad.js').length >= 1, 'the bad spec was tried');
});
