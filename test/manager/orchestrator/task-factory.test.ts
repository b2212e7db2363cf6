import t from 'tap';
import { makeAddressAllocator, newTask } from '../../../src/manager/orchestrator/task-factory';
import { PENDING_MESSAGE } from '../../../src/spec/pending';
import { TASK_POOL_FIRST, TASK_POOL_LAST, intToIp } from '../../../src/model/addresses';
import type { Task } from '../../../src/model/types';
import { T0, fakeDeps, makeService, makeTask } from '../../support/builders';

t.test('newTask fills every field from the service', async (t) => {
  const svc = makeService('web', {
    version: 7,
    ports: [
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
      { protocol: 'tcp', targetPort: 80, publishedPort: 8081, publishMode: 'ingress' },
      { protocol: 'udp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
      { protocol: 'tcp', targetPort: 443, publishMode: 'host' },
    ],
  });
  const task = newTask(svc, 3, '', T0, fakeDeps());
  const iso = new Date(T0).toISOString();
  t.same(task, {
    id: 'new-1',
    serviceId: 'web',
    serviceName: 'web',
    slot: 3,
    nodeId: '',
    specVersion: 7,
    spec: svc.spec.task,
    targetPorts: [
      { protocol: 'tcp', port: 80 },
      { protocol: 'udp', port: 80 },
      { protocol: 'tcp', port: 443 },
    ],
    desiredState: 'running',
    status: { state: 'pending', since: iso, message: PENDING_MESSAGE, pendingReason: 'scheduling' },
    address: '127.100.9.1',
    createdAt: iso,
    updatedAt: iso,
  });
  svc.spec.task.env.CHANGED = '1';
  t.same(task.spec.env, {}, 'the task owns a copy of the template');
  t.equal(newTask(svc, 0, 'n4', T0, fakeDeps()).nodeId, 'n4');
});

t.test('address allocator skips addresses live tasks hold', async (t) => {
  const svc = makeService('s');
  const withAddr = (id: string, address: string, o: Parameters<typeof makeTask>[2]): Task => ({ ...makeTask(id, svc, o), address });
  const tasks = [
    withAddr('a', '127.100.0.1', {}),
    withAddr('b', '127.100.0.2', { state: 'failed', desired: 'shutdown' }),
    withAddr('c', '127.100.0.3', { state: 'failed' }),
    withAddr('d', '127.100.0.4', { state: 'running', desired: 'shutdown' }),
    withAddr('e', 'not-an-ip', {}),
  ];
  const next = makeAddressAllocator(tasks);
  t.same([next(), next(), next()], ['127.100.0.2', '127.100.0.5', '127.100.0.6']);
});

t.test('address allocator throws when the pool is spent', async (t) => {
  const full: Task[] = [];
  for (let n = TASK_POOL_FIRST; n < TASK_POOL_LAST; n++) {
    full.push({ address: intToIp(n), desiredState: 'running', status: { state: 'running' } } as Task);
  }
  const next = makeAddressAllocator(full);
  t.equal(next(), intToIp(TASK_POOL_LAST));
  t.throws(() => next(), { name: 'AddressPoolExhaustedError', code: 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED', message: /pool exhausted/ });
});
