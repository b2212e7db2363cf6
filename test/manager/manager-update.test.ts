/**
 * The manager API's side of updates: `service update` starts a walk only
 * when tasks become dirty, `service rollback` swaps the specs or says why it
 * cannot. Real HTTP on loopback, an in-memory store, no loops running.
 */
import t from 'tap';
import { newTask } from '../../src/manager/orchestrator/task-factory';
import { KEYS } from '../../src/model/types';
import type { Service } from '../../src/model/types';
import { startManagerApi } from './fixtures/manager-api';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const { store, post } = await startManagerApi(t);
  return { store, post: (path: string, body: unknown) => post<Service>(path, body) };
}

const spec = (command: string, replicas = 2) => ({ name: 'web', replicas, task: { command: ['node', command] } });

t.test('service update starts a walk only when tasks become dirty', async (t) => {
  const { store, post } = await setup(t);
  const created = await post('/v1/services', { spec: spec('v1.js') });
  t.equal(created.status, 200);
  let n = 0;
  const deps = { newId: () => `t${++n}`, allocateAddress: () => `127.100.0.${n}` };
  for (const slot of [1, 2]) {
    const task = newTask(created.body, slot, '', Date.now(), deps);
    await store.put(KEYS.task(task.id), task);
  }

  const scaled = await post(`/v1/services/${created.body.id}/update`, { spec: spec('v1.js', 4), version: 1 });
  t.equal(scaled.status, 200);
  t.equal(scaled.body.updateStatus, undefined, 'scaling alone is no update');

  const updated = await post(`/v1/services/web/update`, { spec: spec('v2.js', 4), version: 2 });
  t.equal(updated.body.updateStatus?.state, 'updating');
  t.equal(updated.body.updateStatus?.message, 'update in progress');

  const reverted = await post(`/v1/services/web/update`, { spec: spec('v1.js', 4), version: 3 });
  t.equal(reverted.body.updateStatus?.state, 'updating', 'back to the tasks’ spec: nothing dirty, the status is left as it was');
  const paused = { ...reverted.body, updateStatus: { state: 'paused' as const, startedAt: new Date().toISOString(), message: 'update paused due to failure or early termination of task t1' } };
  await store.put(KEYS.service(paused.id), paused);
  const force = await post(`/v1/services/web/update`, { spec: spec('v1.js', 4), version: 4, force: true });
  t.equal(force.body.updateStatus?.state, 'updating', '--force makes every task dirty and resumes a paused update');
  t.equal(force.body.forceUpdate, 1);
});

t.test('service rollback', async (t) => {
  const { post } = await setup(t);
  const created = await post('/v1/services', { spec: spec('v1.js') });

  const none = await post(`/v1/services/web/rollback`, { version: 1 });
  t.equal(none.status, 400);
  t.same(none.body.error, { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: 'service web has no previous spec to roll back to' });

  const updated = await post(`/v1/services/${created.body.id}/update`, { spec: spec('v2.js'), version: 1 });
  const stale = await post(`/v1/services/web/rollback`, { version: 1 });
  t.equal(stale.status, 409, 'a rollback based on an old version is refused');
  t.equal((await post(`/v1/services/web/rollback`, { version: 'x' })).status, 400);

  const rolled = await post(`/v1/services/web/rollback`, { version: updated.body.version });
  t.equal(rolled.status, 200);
  t.same(rolled.body.spec.task.command, ['node', 'v1.js']);
  t.same(rolled.body.previousSpec?.task.command, ['node', 'v2.js']);
  t.equal(rolled.body.version, 3);
  t.equal(rolled.body.updateStatus?.state, 'rollback_started');
  t.equal(rolled.body.updateStatus?.message, 'manually requested rollback');

  const again = await post(`/v1/services/web/rollback`, {});
  t.same(again.body.spec.task.command, ['node', 'v2.js'], 'without a version, rolls back whatever is current');
});
