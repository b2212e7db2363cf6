/**
 * Secrets and configs through the manager API: the store holds only a
 * secret's ciphertext, no answer carries it, services must name existing
 * ones, removal waits until no service uses them, and the dispatcher hands a
 * node only its own tasks' data.
 */
import t from 'tap';
import { request } from 'undici';
import type { TaskPayloadsResponse } from '../../../src/api/contract';
import { KEYS, type Secret, type Service, type Task } from '../../../src/model/types';
import { startManagerApi } from '../fixtures/manager-api';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const spec = (over: Record<string, unknown> = {}) => ({ name: 'web', task: { command: ['sleep', '1'], ...over } });

t.test('secrets and configs over the API', async (t) => {
  const api = await startManagerApi(t);
  const del = async (path: string) => {
    const res = await request(api.base + path, { method: 'DELETE' });
    return { status: res.statusCode, body: (await res.body.json()) as { error?: { code: string; message: string } } };
  };
  const created = await api.post<Secret>('/v1/secrets', { name: 'db', data: b64('hunter2-secret') });
  t.equal(created.status, 200, created.body.error?.message ?? 'created');
  t.notOk('data' in created.body, 'create answers without the data');
  const stored = (await api.store.get<Secret>(KEYS.secret(created.body.id)))!.value;
  t.notOk(JSON.stringify(stored).includes('hunter2') || JSON.stringify(stored).includes(b64('hunter2-secret')), 'the store holds only ciphertext');
  t.equal(stored.data.alg, 'aes-256-gcm');
  const listed = await api.get<Secret[]>('/v1/secrets');
  t.same(listed.body.map((s) => Object.keys(s).includes('data')), [false], 'ls has no data');
  t.notOk('data' in (await api.get<Secret>('/v1/secrets/db')).body, 'inspect has no data');
  const cfg = await api.post<{ id: string; data: string }>('/v1/configs', { name: 'app', data: b64('listen=80') });
  t.equal((await api.get<{ data: string }>(`/v1/configs/${cfg.body.id}`)).body.data, b64('listen=80'), 'a config shows its data, as Docker');

  const dup = await api.post('/v1/secrets', { name: 'DB', data: b64('x') });
  t.same([dup.status, dup.body.error?.code], [409, 'SHOAL_ERR_NAME_CONFLICT'], 'names are unique regardless of case');
  const big = await api.post('/v1/secrets', { name: 'big', data: Buffer.alloc(500 * 1024 + 1).toString('base64') });
  t.same([big.status, big.body.error?.code], [400, 'SHOAL_ERR_INVALID_ARGUMENT']);

  const missing = await api.post('/v1/services', { spec: spec({ secrets: [{ name: 'nope' }] }) });
  t.same([missing.status, missing.body.error?.message], [404, 'secret nope not found']);
  t.same((await api.get<Service[]>('/v1/services')).body, [], 'nothing created');
  const escape = await api.post('/v1/services', { spec: spec({ secrets: [{ name: 'db', file: { target: '../x' } }] }) });
  t.same([escape.status, escape.body.error?.code], [400, 'SHOAL_ERR_INVALID_ARGUMENT'], 'the API refuses .. too');

  const svc = await api.post<Service>('/v1/services', { spec: spec({ secrets: [{ name: 'db', file: { target: 'pw', mode: 0o400 } }], configs: [{ name: 'app' }] }) });
  t.equal(svc.status, 200, svc.body.error?.message ?? 'created');
  t.same(svc.body.spec.task.secrets, [{ id: created.body.id, name: 'db', file: { target: 'pw', mode: 0o400 } }], 'the reference is stored with its id');
  const inUse = await del('/v1/secrets/db');
  t.same([inUse.status, inUse.body.error?.code, inUse.body.error?.message], [409, 'SHOAL_ERR_IN_USE', 'secret db is in use by service web']);
  t.equal((await del('/v1/configs/app')).status, 409);

  // A task of the service on node n1, as the scheduler would assign it.
  const task = { id: 't1', serviceId: svc.body.id, serviceName: 'web', slot: 1, nodeId: 'n1', specVersion: 1, spec: svc.body.spec.task, targetPorts: [], desiredState: 'running', status: { state: 'assigned', since: '', message: '' }, address: '', createdAt: '', updatedAt: '' } as Task;
  await api.store.put(KEYS.task('t1'), task);
  const mine = await api.post<TaskPayloadsResponse>('/v1/dispatcher/payloads', { nodeId: 'n1', taskId: 't1' });
  t.equal(mine.status, 200, mine.body.error?.message ?? 'answered');
  t.same(mine.body.secrets.map((s) => [s.name, s.file.target, Buffer.from(s.data, 'base64').toString()]), [['db', 'pw', 'hunter2-secret']], "the task's node gets the secret decrypted");
  t.same(mine.body.configs.map((c) => Buffer.from(c.data, 'base64').toString()), ['listen=80']);
  const other = await api.post('/v1/dispatcher/payloads', { nodeId: 'n2', taskId: 't1' });
  t.same([other.status, other.body.error?.code], [404, 'SHOAL_ERR_NOT_FOUND'], 'another node gets nothing');
  await api.store.put(KEYS.task('t1'), { ...task, desiredState: 'shutdown' });
  t.equal((await api.post('/v1/dispatcher/payloads', { nodeId: 'n1', taskId: 't1' })).status, 400, 'a task that is not to run gets nothing');

  await api.store.put(KEYS.node('w1'), { id: 'w1', role: 'worker' });
  await api.store.put(KEYS.node('m2'), { id: 'm2', role: 'manager' });
  const asWorker = await api.post('/v1/dispatcher/secrets-key', { nodeId: 'w1' });
  t.same([asWorker.status, asWorker.body.error?.code], [403, 'SHOAL_ERR_FORBIDDEN'], 'a worker on record gets no data key');
  const promoted = await api.post<{ key: string }>('/v1/dispatcher/secrets-key', { nodeId: 'm2' });
  t.equal(Buffer.from(promoted.body.key, 'base64').length, 32, 'a node on record as a manager (promoted) gets it');
  const watch = await api.get('/v1/watch?prefix=/secrets/');
  t.same([watch.status, watch.body.error?.message], [400, 'cannot watch prefix /secrets/'], 'secrets are not watchable');
  t.equal((await api.get('/v1/watch?prefix=/configs/')).status, 400, 'nor configs');

  const upd = await api.post<Service>(`/v1/services/${svc.body.id}/update`, { spec: { ...svc.body.spec, task: { ...svc.body.spec.task, secrets: undefined, configs: undefined } }, version: svc.body.version });
  t.equal(upd.status, 200, upd.body.error?.message ?? 'updated');
  const rollback = await api.post(`/v1/services/${svc.body.id}/rollback`, {});
  t.equal(rollback.status, 200, 'the previous spec still names existing objects');
  await api.post(`/v1/services/${svc.body.id}/update`, { spec: svc.body.spec, version: 3 });
  const cur = (await api.get<Service>(`/v1/services/${svc.body.id}`)).body;
  const cleared = await api.post<Service>(`/v1/services/${svc.body.id}/update`, { spec: { ...cur.spec, task: { ...cur.spec.task, secrets: undefined, configs: undefined } }, version: cur.version });
  t.equal(cleared.status, 200);
  t.equal((await del('/v1/secrets/db')).status, 200, 'removable once no service spec names it');
  const back = await api.post(`/v1/services/${svc.body.id}/rollback`, {});
  t.same([back.status, back.body.error?.message], [404, 'secret db not found'], 'a rollback to a spec naming a removed secret is refused');
});

t.test('swarm unlock routes without autolock', async (t) => {
  const api = await startManagerApi(t);
  const key = await api.get('/v1/swarm/unlock-key');
  t.same([key.status, key.body.error?.code], [400, 'SHOAL_ERR_INVALID_ARGUMENT']);
  const unlock = await api.post('/v1/swarm/unlock', { key: 'x' });
  t.match(unlock.body.error?.message, /not locked/);
  const shared = await api.get<{ key: string }>('/v1/swarm/secrets-key');
  t.equal(Buffer.from(shared.body.key, 'base64').length, 32, 'the local caller (a manager) may read the key to share');
});
