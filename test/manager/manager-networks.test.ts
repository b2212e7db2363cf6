/**
 * The manager API's side of overlay networks: the default network made with
 * the swarm, `network create|ls|inspect|rm`, services on networks with their
 * VIPs, the replica check against a small subnet, node addresses on join
 * and removal. Real HTTP on loopback, an in-memory store, no loops running.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { Router } from '../../src/api/router';
import { Manager } from '../../src/manager/manager';
import { KEYS } from '../../src/model/types';
import type { Network, Node, Service } from '../../src/model/types';
import { MemoryStore } from '../../src/store/memory-store';
import { makeService, makeTask, withNetworks } from '../support/builders';

type Answer<T> = { status: number; body: T & { error?: { code: string; message: string } } };

async function setup(t: { teardown(fn: () => unknown): void }, store = new MemoryStore()) {
  const logger = pino({ level: 'silent' });
  const manager = new Manager({ store, logger, registry: new Registry(), now: Date.now }, { heartbeatPeriodMs: 1_000, probePorts: false, networkMode: 'netns' });
  await manager.init('127.0.0.1:0');
  const router = new Router(logger);
  manager.routes(router);
  const server = http.createServer((req, res) => void router.handle(req, res, 'local'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    await new Promise((resolve) => server.close(resolve));
    await manager.stop();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async <T = Record<string, unknown>>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<Answer<T>> => {
    const res = await request(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: (await res.body.json()) as Answer<T>['body'] };
  };
  const register = (hostname: string, nodeId?: string) =>
    call<{ nodeId: string }>('POST', '/v1/dispatcher/register', {
      nodeId,
      hostname,
      address: '127.0.1.1',
      role: 'worker',
      platform: { os: 'linux', arch: 'x64' },
      resources: { nanoCpus: 1e9, memoryBytes: 1 << 30 },
      ports: { dns: 53, metrics: 9323 },
    });
  return { store, call, register, base };
}

const svc = (name: string, over: Record<string, unknown> = {}) => ({ spec: { name, replicas: 1, task: { command: ['node', 'x.js'] }, ...over } });

t.test('the swarm starts with the builtin default network', async (t) => {
  const { call } = await setup(t);
  const ls = await call<Network[]>('GET', '/v1/networks');
  t.equal(ls.status, 200);
  t.equal(ls.body.length, 1);
  t.match(ls.body[0], { name: 'shoal', driver: 'overlay', subnet: '10.0.0.0/24', vipRange: '10.0.0.192/26', vni: 4096, builtin: true, nodeAddresses: {} });
  const rm = await call('DELETE', '/v1/networks/shoal');
  t.equal(rm.status, 400);
  t.equal(rm.body.error?.message, "network shoal is the cluster's default network and cannot be removed");
});

t.test('network create, ls, inspect and rm', async (t) => {
  const { call, register } = await setup(t);
  await register('node-1');
  await register('node-2');

  const a = await call<Network>('POST', '/v1/networks', { name: 'backend', labels: { team: 'x' } });
  t.equal(a.status, 200);
  t.match(a.body, { name: 'backend', subnet: '10.0.1.0/24', vipRange: '10.0.1.192/26', vni: 4097, builtin: false, labels: { team: 'x' } });
  t.same(Object.values(a.body.nodeAddresses).sort(), ['10.0.1.1', '10.0.1.2'], 'every existing node gets an address');

  const b = await call<Network>('POST', '/v1/networks', { name: 'small', driver: 'overlay', subnet: '10.0.9.0/29' });
  t.match(b.body, { subnet: '10.0.9.0/29', vipRange: '10.0.9.6/31', vni: 4098 });
  const c = await call<Network>('POST', '/v1/networks', { name: 'front' });
  t.equal(c.body.subnet, '10.0.2.0/24', 'the next free /24');

  const errors: [unknown, number, string, RegExp][] = [
    [{ name: 'backend' }, 409, 'SHOAL_ERR_NAME_CONFLICT', /network backend already exists/],
    [{ name: 'Backend' }, 409, 'SHOAL_ERR_NAME_CONFLICT', /already exists/],
    [{ name: 'x', subnet: '10.0.0.0/16' }, 409, 'SHOAL_ERR_NETWORK_OVERLAP', /subnet 10\.0\.0\.0\/16 of network x overlaps subnet 10\.0\.\d+\.0\/\d+ of network \w+/],
    [{ name: 'x', subnet: '10.0.1.128/25' }, 409, 'SHOAL_ERR_NETWORK_OVERLAP', /subnet 10\.0\.1\.128\/25 of network x overlaps subnet 10\.0\.1\.0\/24 of network backend/],
    [{ name: 'x', subnet: '10.0.50.3/24' }, 400, 'SHOAL_ERR_INVALID_ARGUMENT', /not the network address/],
    [{ name: 'x', driver: 'bridge' }, 400, 'SHOAL_ERR_INVALID_ARGUMENT', /driver "bridge" is not supported/],
    [{ name: 'no spaces' }, 400, 'SHOAL_ERR_INVALID_ARGUMENT', /invalid network name/],
  ];
  for (const [body, status, code, re] of errors) {
    const r = await call('POST', '/v1/networks', body);
    t.equal(r.status, status, JSON.stringify(body));
    t.equal(r.body.error?.code, code);
    t.match(r.body.error?.message, re);
  }
  t.equal((await call<Network[]>('GET', '/v1/networks')).body.length, 4, 'nothing half-created');

  t.equal((await call<Network>('GET', '/v1/networks/backend')).body.id, a.body.id);
  t.equal((await call<Network>('GET', `/v1/networks/${a.body.id}`)).body.name, 'backend');
  t.equal((await call<Network>('GET', `/v1/networks/${a.body.id.slice(0, 8)}`)).body.name, 'backend', 'a short id');
  const missing = await call('GET', '/v1/networks/nope');
  t.same([missing.status, missing.body.error], [404, { code: 'SHOAL_ERR_NETWORK_NOT_FOUND', message: 'network nope not found' }]);

  t.equal((await call('DELETE', '/v1/networks/front')).status, 200);
  t.equal((await call('GET', '/v1/networks/front')).status, 404);
  t.equal((await call<Network>('POST', '/v1/networks', { name: 'front' })).body.subnet, '10.0.2.0/24', 'the name and the subnet are free again');
});

t.test('services on networks: ids stored, one VIP per network, network rm refused while in use', async (t) => {
  const { call, store } = await setup(t);
  const backend = (await call<Network>('POST', '/v1/networks', { name: 'backend' })).body;
  const shoal = (await call<Network>('GET', '/v1/networks/shoal')).body;

  const plain = await call<Service>('POST', '/v1/services', svc('plain'));
  t.same(plain.body.spec.networks, [shoal.id], 'no network named: the default one');
  t.same(plain.body.endpoint.virtualIPs, [{ networkId: shoal.id, address: '10.0.0.192' }]);

  const api = await call<Service>('POST', '/v1/services', svc('api', { networks: ['backend', 'shoal'] }));
  t.same(api.body.spec.networks, [backend.id, shoal.id]);
  t.same(api.body.endpoint.virtualIPs, [
    { networkId: backend.id, address: '10.0.1.192' },
    { networkId: shoal.id, address: '10.0.0.193' },
  ]);
  const dns = await call<Service>('POST', '/v1/services', svc('dns', { networks: [backend.id], endpoint: { mode: 'dnsrr' } }));
  t.same(dns.body.endpoint.virtualIPs, [], 'dnsrr: no VIP');

  const unknown = await call('POST', '/v1/services', svc('bad', { networks: ['nope'] }));
  t.same([unknown.status, unknown.body.error?.code, unknown.body.error?.message], [404, 'SHOAL_ERR_NETWORK_NOT_FOUND', 'network nope not found']);
  t.equal((await call('GET', '/v1/services/bad')).status, 404, 'nothing created');
  const twice = await call('POST', '/v1/services', svc('bad', { networks: ['backend', backend.id] }));
  t.equal(twice.body.error?.message, 'network backend is given twice');

  const busy = await call('DELETE', '/v1/networks/backend');
  t.same([busy.status, busy.body.error?.code, busy.body.error?.message], [409, 'SHOAL_ERR_NETWORK_IN_USE', 'network backend is in use by services api, dns']);

  // --network-rm backend: the VIP goes back, tasks are redeployed (forceUpdate).
  const moved = await call<Service>('POST', `/v1/services/api/update`, { spec: { ...api.body.spec, networks: [shoal.id] }, version: 1 });
  t.equal(moved.status, 200);
  t.same(moved.body.endpoint.virtualIPs, [{ networkId: shoal.id, address: '10.0.0.193' }], 'the VIP on the network it stays on is kept');
  t.equal(moved.body.forceUpdate, 1, 'other networks redeploy the tasks');
  const scaled = await call<Service>('POST', `/v1/services/plain/update`, { spec: { ...plain.body.spec, replicas: 3 }, version: 1 });
  t.equal(scaled.body.forceUpdate, 0, 'the same networks: no redeploy');
  t.same(scaled.body.endpoint.virtualIPs, plain.body.endpoint.virtualIPs);

  // A task still attached keeps the network: it is freed once the task is gone.
  await call('DELETE', '/v1/services/dns');
  const straggler = withNetworks(makeTask('straggler', dns.body, { state: 'running', desired: 'shutdown' }), [{ networkId: backend.id, address: '10.0.1.191' }]);
  await store.put(KEYS.task(straggler.id), straggler);
  const attached = await call('DELETE', '/v1/networks/backend');
  t.same([attached.status, attached.body.error?.message], [409, 'network backend still has 1 task of dns attached; wait for them to stop']);
  await store.put(KEYS.task(straggler.id), { ...straggler, status: { ...straggler.status, state: 'shutdown' } });
  t.equal((await call('DELETE', '/v1/networks/backend')).status, 200);

  // The rollback target names the removed network: refused, saying which.
  const back = await call('POST', `/v1/services/api/rollback`, {});
  t.same([back.status, back.body.error?.code], [404, 'SHOAL_ERR_NETWORK_NOT_FOUND']);
});

t.test('a subnet too small for the replicas is refused, nothing created', async (t) => {
  const { call, store, register } = await setup(t);
  await register('node-1');
  const tiny = (await call<Network>('POST', '/v1/networks', { name: 'tiny', subnet: '10.0.9.0/29' })).body;
  t.same(Object.values(tiny.nodeAddresses), ['10.0.9.1'], 'the node takes one of the 5 host addresses');

  const big = await call('POST', '/v1/services', svc('web', { replicas: 5, networks: ['tiny'] }));
  t.equal(big.status, 409);
  t.equal(big.body.error?.code, 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED');
  t.equal(big.body.error?.message, 'network tiny (subnet 10.0.9.0/29) has 4 free task addresses but service web needs 5 more (5 tasks); use a larger subnet or fewer replicas');
  t.equal((await call('GET', '/v1/services/web')).status, 404, 'no service');
  t.equal((await store.get('/names/services/web')), undefined, 'the name is still free');

  const ok = await call<Service>('POST', '/v1/services', svc('web', { replicas: 2, networks: ['tiny'] }));
  t.equal(ok.status, 200);
  for (const [slot, address] of [[1, '10.0.9.5'], [2, '10.0.9.4']] as const) {
    const task = withNetworks(makeTask(`w${slot}`, ok.body, { slot }), [{ networkId: tiny.id, address }]);
    await store.put(KEYS.task(task.id), task);
  }
  const scale = await call('POST', '/v1/services/web/update', { spec: { ...ok.body.spec, replicas: 5 }, version: 1 });
  t.same([scale.status, scale.body.error?.code], [409, 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED']);
  t.match(scale.body.error?.message, /has 2 free task addresses but service web needs 3 more/);
  const fits = await call<Service>('POST', '/v1/services/web/update', { spec: { ...ok.body.spec, replicas: 4 }, version: 1 });
  t.equal(fits.status, 200);
  t.equal((await call<Service>('GET', '/v1/services/web')).body.spec.replicas, 4);

  const startFirst = { parallelism: 1, order: 'start-first' };
  const cmd = { ...fits.body.spec, task: { ...fits.body.spec.task, command: ['node', 'v2.js'] }, updateConfig: startFirst };
  for (const [slot, address] of [[3, '10.0.9.3'], [4, '10.0.9.2']] as const) {
    const task = withNetworks(makeTask(`w${slot}`, fits.body, { slot }), [{ networkId: tiny.id, address }]);
    await store.put(KEYS.task(task.id), task);
  }
  const update = await call('POST', '/v1/services/web/update', { spec: cmd, version: 2 });
  t.same([update.status, update.body.error?.code], [409, 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED'], 'a start-first update needs a spare address');
  t.match(update.body.error?.message, /needs 1 more \(4 tasks and 1 more during a start-first update\)/);
  const stopFirst = await call('POST', '/v1/services/web/update', { spec: { ...cmd, updateConfig: { parallelism: 1, order: 'stop-first' } }, version: 2 });
  t.equal(stopFirst.status, 200, 'stop-first frees before it takes');
  const label = await call('POST', '/v1/services/web/update', { spec: { ...cmd, updateConfig: { order: 'stop-first' }, labels: { a: 'b' } }, version: 3 });
  t.equal(label.status, 200, 'a change that needs no address is not checked');
});

t.test('node addresses: given on registration, taken back on node rm', async (t) => {
  const { call, register } = await setup(t);
  const n1 = (await register('node-1')).body.nodeId;
  const n2 = (await register('node-2')).body.nodeId;
  const shoal = (await call<Network>('GET', '/v1/networks/shoal')).body;
  t.same(shoal.nodeAddresses, { [n1]: '10.0.0.1', [n2]: '10.0.0.2' });
  await register('node-1', n1);
  t.same((await call<Network>('GET', '/v1/networks/shoal')).body.nodeAddresses, shoal.nodeAddresses, 're-registering changes nothing');

  t.equal((await call('DELETE', `/v1/nodes/${n1}?force=1`)).status, 200);
  t.same((await call<Network>('GET', '/v1/networks/shoal')).body.nodeAddresses, { [n2]: '10.0.0.2' });
  const n3 = (await register('node-3')).body.nodeId;
  t.equal((await call<Network>('GET', '/v1/networks/shoal')).body.nodeAddresses[n3], '10.0.0.1', 'the freed address is reused');
  const nodes = (await call<Node[]>('GET', '/v1/nodes')).body;
  t.equal(nodes.length, 2);
});

t.test('a cluster from before networks gets its default network and its services their VIPs', async (t) => {
  const store = new MemoryStore();
  const old = makeService('legacy-id');
  old.spec.name = 'legacy';
  await store.put(KEYS.cluster, { id: 'c', createdAt: 'x', tokens: { worker: 'w', manager: 'm' }, managerAddr: '127.0.0.1:0', nextVipIndex: 2, taskHistoryLimit: 5 });
  await store.put(KEYS.service(old.id), old);
  const { call } = await setup(t, store);
  const shoal = (await call<Network>('GET', '/v1/networks/shoal')).body;
  t.equal(shoal.builtin, true);
  const s = (await call<Service>('GET', '/v1/services/legacy')).body;
  t.same(s.spec.networks, [shoal.id]);
  t.same(s.endpoint.virtualIPs, [{ networkId: shoal.id, address: '10.0.0.192' }]);
  t.equal(s.version, 1, 'no new version: nothing the tasks run changed');
});

t.test('watchers may follow networks, not the allocator’s own keys', async (t) => {
  const { call, base } = await setup(t);
  const bad = await call('GET', '/v1/watch?prefix=/names/');
  t.equal(bad.status, 400);
  const res = await request(`${base}/v1/watch?prefix=${encodeURIComponent(KEYS.networks)}`);
  t.equal(res.statusCode, 200);
  let text = '';
  for await (const chunk of res.body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
  }
  res.body.destroy();
  const first = JSON.parse(text.slice(0, text.indexOf('\n')));
  t.equal(first.type, 'list');
  t.same(first.kvs.map((kv: { value: Network }) => kv.value.name), ['shoal']);
});
