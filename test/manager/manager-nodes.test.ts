/**
 * The manager API's node updates: role changes go through the one rule
 * (manager/node-role.ts), so the API refuses what the CLI refuses and a
 * refused request changes nothing. Real HTTP on loopback, an in-memory store.
 */
import t from 'tap';
import { KEYS } from '../../src/model/types';
import type { Node } from '../../src/model/types';
import { startManagerApi } from './fixtures/manager-api';
import { makeNode } from '../support/builders';
import { managerStatusCell } from '../../src/cli/commands/node';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const { store, post: postAny } = await startManagerApi(t);
  const post = (path: string, body: unknown) => postAny<Node>(path, body);
  await store.put(KEYS.node('m1'), makeNode('m1', { hostname: 'node-1', role: 'manager' }));
  await store.put(KEYS.node('w2'), makeNode('w2', { hostname: 'node-2', labels: { zone: 'a' } }));
  const nodes = async () => (await store.range<Node>(KEYS.nodes)).kvs.map((kv) => kv.value);
  return { store, post, nodes };
}

t.test('role changes through POST /v1/nodes/:id/update', async (t) => {
  const { post, nodes } = await setup(t);
  const before = JSON.stringify(await nodes());

  const promote = await post('/v1/nodes/node-2/update', { role: 'manager', availability: 'drain', labelAdd: { zone: 'b' } });
  t.equal(promote.status, 409, 'promoting a worker: 409');
  t.equal(promote.body.error?.code, 'SHOAL_ERR_REPLICATED_STORE_REQUIRED');
  t.match(promote.body.error?.message, /^cannot promote node-2: this cluster keeps its state in one manager's embedded store; more managers need a replicated store \(etcd\)/);

  const demote = await post('/v1/nodes/m1/update', { role: 'worker' });
  t.equal(demote.status, 409, 'demoting the only manager: 409');
  t.same(demote.body.error, { code: 'SHOAL_ERR_LAST_MANAGER', message: 'cannot demote node-1: it is the only manager; the cluster would have none' });

  const bad = await post('/v1/nodes/node-2/update', { role: 'leader' });
  t.equal(bad.status, 400);
  t.same(bad.body.error, { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: 'invalid role "leader": use worker or manager' });

  const unknown = await post('/v1/nodes/node-9/update', { role: 'manager' });
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error?.code, 'SHOAL_ERR_NOT_FOUND');
  t.equal(JSON.stringify(await nodes()), before, 'refused requests changed nothing, not even the availability and labels sent along');

  const same = await post('/v1/nodes/node-1/update', { role: 'manager' });
  t.equal(same.status, 200, 'asking a manager to be a manager is a no-op');
  t.equal(same.body.role, 'manager');
  const drain = await post('/v1/nodes/node-2/update', { role: 'worker', availability: 'drain' });
  t.equal(drain.status, 200, 'the role a node has goes along with other changes');
  t.same([drain.body.role, drain.body.availability], ['worker', 'drain']);
});

t.test('node update bodies are checked before anything is looked up', async (t) => {
  const { post } = await setup(t);
  for (const [body, message] of [
    [[], 'node update body must be an object'],
    [{ availability: 'gone' }, 'invalid availability "gone": use active, pause or drain'],
    [{ labelAdd: ['x'] }, 'labelAdd must be an object of strings'],
    [{ labelRm: 'zone' }, 'labelRm must be a list of label names'],
    [{ labelRm: [''] }, 'label name must not be empty'],
  ] as const) {
    const r = await post('/v1/nodes/node-9/update', body);
    t.same([r.status, r.body.error], [400, { code: 'SHOAL_ERR_INVALID_ARGUMENT', message }], message);
  }
  const r = await post('/v1/nodes/node-2/update', { labelRm: ['colour'] });
  t.same([r.status, r.body.error?.message], [400, 'label colour is not set on node node-2']);
});

t.test('GET /v1/nodes gives managers their MANAGER STATUS; workers get none', async (t) => {
  const { store, get } = await startManagerApi(t);
  // The fixture's manager listens as 127.0.0.1: the manager node on that host leads.
  await store.put(KEYS.node('m1'), makeNode('m1', { hostname: 'node-1', role: 'manager', address: '127.0.0.1' }));
  await store.put(KEYS.node('m3'), makeNode('m3', { hostname: 'node-3', role: 'manager', address: '127.0.0.3', status: { state: 'down', since: '', message: '' } }));
  await store.put(KEYS.node('w2'), makeNode('w2', { hostname: 'node-2', address: '127.0.0.2' }));
  const nodes = (await get<Node[]>('/v1/nodes')).body as Node[];
  const status = Object.fromEntries(nodes.map((n) => [n.hostname, n.managerStatus]));
  t.same(status, { 'node-1': { leader: true, reachability: 'reachable' }, 'node-2': undefined, 'node-3': { leader: false, reachability: 'unreachable' } });
  t.notOk((await store.get<Node>(KEYS.node('m1')))?.value.managerStatus, 'the status is not stored');
  t.same(nodes.map(managerStatusCell).sort(), ['', 'Leader', 'Unreachable']);
});
