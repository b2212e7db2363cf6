/**
 * The manager API's side of host-mode publish: the spec rules refuse with
 * 4xx JSON and a stable code on create and update alike, host mode clashes
 * with another service's ingress port, and the bind probe checks host-mode
 * ports where a task could land. Real HTTP on loopback, an in-memory store.
 */
import net from 'node:net';
import t from 'tap';
import { KEYS } from '../../src/model/types';
import type { Service } from '../../src/model/types';
import { startManagerApi } from './fixtures/manager-api';
import { makeNode } from '../support/builders';

const hostPort = (published: number) => ({ protocol: 'tcp', targetPort: 80, publishedPort: published, publishMode: 'host' });
const spec = (name: string, ports: unknown[], maxReplicas?: number) => ({
  name,
  replicas: 2,
  task: { command: ['node', 'web.js'], ...(maxReplicas === undefined ? {} : { placement: { maxReplicas } }) },
  endpoint: { ports },
});

t.test('host-mode publish through the API', async (t) => {
  const { post, get } = await startManagerApi(t);
  const services = async () => (await get<Service[]>('/v1/services')).body.map((s) => `${s.spec.name} v${s.version}`);

  const web = await post<Service>('/v1/services', { spec: spec('web', [{ targetPort: 80, publishedPort: 8080 }], 3) });
  t.equal(web.status, 200, 'an ingress service with 3 tasks per node');
  const edge = await post<Service>('/v1/services', { spec: spec('edge', [hostPort(9000)], 1) });
  t.equal(edge.status, 200, 'a host-mode service with --replicas-max-per-node 1');
  const before = await services();

  const refusals: { name: string; path: string; body: unknown; status: number; code: string; message: RegExp }[] = [
    {
      name: 'host mode without a published port',
      path: '/v1/services',
      body: { spec: spec('a', [{ targetPort: 80, publishMode: 'host' }]) },
      status: 400,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: /^host-mode publish needs published=PORT/,
    },
    {
      name: 'host mode with --replicas-max-per-node 2',
      path: '/v1/services',
      body: { spec: spec('a', [hostPort(9001)], 2) },
      status: 400,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: /^port 9001\/tcp is published in host mode, so at most 1 task per node can bind it: use --replicas-max-per-node 1$/,
    },
    {
      name: 'host mode on another service’s ingress port',
      path: '/v1/services',
      body: { spec: spec('a', [hostPort(8080)], 1) },
      status: 409,
      code: 'SHOAL_ERR_PORT_IN_USE',
      message: /^port 8080\/tcp is already published by service web$/,
    },
    {
      name: 'ingress on another service’s host-mode port',
      path: '/v1/services',
      body: { spec: spec('a', [{ targetPort: 80, publishedPort: 9000 }]) },
      status: 409,
      code: 'SHOAL_ERR_PORT_IN_USE',
      message: /^port 9000\/tcp is already published by service edge$/,
    },
    {
      name: 'update: --publish-add host mode to a service with 3 tasks per node',
      path: '/v1/services/web/update',
      body: { spec: spec('web', [{ targetPort: 80, publishedPort: 8080 }, hostPort(9002)], 3), version: 1 },
      status: 400,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: /^port 9002\/tcp is published in host mode/,
    },
    {
      name: 'update: --replicas-max-per-node 2 on a host-mode service',
      path: '/v1/services/edge/update',
      body: { spec: spec('edge', [hostPort(9000)], 2), version: 1 },
      status: 400,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: /^port 9000\/tcp is published in host mode/,
    },
  ];
  for (const r of refusals) {
    const res = await post(r.path, r.body);
    t.equal(res.status, r.status, `${r.name}: ${r.status}`);
    t.equal(res.body.error?.code, r.code, `${r.name}: stable code`);
    t.match(res.body.error?.message, r.message, r.name);
  }
  t.same(await services(), before, 'nothing was created or changed');

  const other = await post<Service>('/v1/services', { spec: spec('edge2', [hostPort(9000)]) });
  t.equal(other.status, 200, 'a second host-mode service on the same port: the scheduler keeps them apart');
});

t.test('the bind probe covers host-mode ports on the nodes a task could land on', async (t) => {
  const { post, store } = await startManagerApi(t, { probePorts: true });
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const held = (holder.address() as net.AddressInfo).port;
  await store.put(KEYS.node('n1'), makeNode('n1', { hostname: 'node-1', address: '127.0.0.1', labels: { zone: 'a' } }));

  const busy = await post('/v1/services', { spec: spec('a', [hostPort(held)], 1) });
  t.equal(busy.status, 409);
  t.same(busy.body.error, { code: 'SHOAL_ERR_PORT_IN_USE', message: `port ${held}/tcp is already in use on node node-1 (127.0.0.1)` });

  const elsewhere = await post('/v1/services', {
    spec: { ...spec('b', [hostPort(held)], 1), task: { command: ['node', 'web.js'], placement: { constraints: ['node.labels.zone==b'], maxReplicas: 1 } } },
  });
  t.equal(elsewhere.status, 200, 'not probed on a node the constraints keep the task off');
});
