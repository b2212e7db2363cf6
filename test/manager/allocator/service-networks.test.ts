import t from 'tap';
import {
  assignVips,
  carryNetworks,
  checkTaskCapacity,
  mayNeedMoreAddresses,
  resolveServiceNetworks,
  type CapacityInput,
} from '../../../src/manager/allocator/service-networks';
import { findNetwork } from '../../../src/spec/network';
import type { Service, ServiceSpec, Task, TaskState } from '../../../src/model/types';
import { makeService, makeTask, makeNetwork, withNetworks } from '../../support/builders';

const shoal = makeNetwork('net-default-0001', '10.0.0.0/24', { name: 'shoal', builtin: true });
const backend = makeNetwork('net-backend-0002', '10.0.1.0/24', { name: 'backend', vni: 4097 });
const tiny = makeNetwork('net-tiny-0003', '10.0.2.0/29', { name: 'tiny', vni: 4098, nodeAddresses: { n1: '10.0.2.1' } });
const networks = [shoal, backend, tiny];

t.test('findNetwork: id, name, unique id prefix', async (t) => {
  t.equal(findNetwork(networks, 'net-backend-0002')?.name, 'backend');
  t.equal(findNetwork(networks, 'backend')?.name, 'backend');
  t.equal(findNetwork(networks, 'net-t')?.name, 'tiny');
  t.equal(findNetwork(networks, 'ne'), undefined, 'too short for a prefix');
  t.equal(findNetwork(networks, 'nope'), undefined);
  t.throws(() => findNetwork(networks, 'net-'), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /network net- is ambiguous \(3 matches\)/ });
});

t.test('resolveServiceNetworks', async (t) => {
  t.same(resolveServiceNetworks(undefined, networks), [shoal.id], 'none named: the default network');
  t.same(resolveServiceNetworks([], networks), [shoal.id]);
  t.same(resolveServiceNetworks(['tiny', 'net-backend-0002'], networks), [tiny.id, backend.id], 'names and ids, in order');
  t.throws(() => resolveServiceNetworks(['backend', 'nope'], networks), { code: 'SHOAL_ERR_NETWORK_NOT_FOUND', message: 'network nope not found' });
  t.throws(() => resolveServiceNetworks(['backend', backend.id], networks), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: 'network backend is given twice' });
});

t.test('assignVips keeps VIPs on networks the service stays on and allocates on new ones', async (t) => {
  const other = makeService('other');
  other.endpoint.virtualIPs = [{ networkId: backend.id, address: '10.0.1.192' }];
  const self = { id: 'web', endpointMode: 'vip' as const, current: [{ networkId: shoal.id, address: '10.0.0.200' }] };
  t.same(assignVips(self, [shoal.id, backend.id], networks, [other]), [
    { networkId: shoal.id, address: '10.0.0.200' },
    { networkId: backend.id, address: '10.0.1.193' },
  ]);
  t.same(assignVips(self, [backend.id], networks, [other]), [{ networkId: backend.id, address: '10.0.1.193' }], 'leaving a network gives its VIP back');
  t.same(assignVips({ ...self, endpointMode: 'dnsrr' }, [shoal.id], networks, [other]), [], 'dnsrr: no VIP');
  const clash = { id: 'web', endpointMode: 'vip' as const, current: [{ networkId: backend.id, address: '10.0.1.192' }] };
  t.same(assignVips(clash, [backend.id], networks, [other]), [{ networkId: backend.id, address: '10.0.1.193' }], 'a VIP another service holds is not kept');
  const holder = makeService('holder');
  holder.endpoint.virtualIPs = [{ networkId: tiny.id, address: '10.0.2.6' }];
  t.throws(() => assignVips({ id: 'web', endpointMode: 'vip' }, [tiny.id], networks, [holder]), {
    code: 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED',
    message: /the VIP range 10\.0\.2\.6\/31 of network tiny is full/,
  });
});

function spec(over: Partial<ServiceSpec>): ServiceSpec {
  return { ...makeService('web').spec, networks: [tiny.id], ...over };
}

function liveTasks(service: string, n: number, state: TaskState = 'running', desired: TaskState = 'running', from = 5): Task[] {
  const svc = makeService(service);
  return Array.from({ length: n }, (_, i) => withNetworks(makeTask(`${service}-${i}`, svc, { slot: i + 1, state, desired }), [{ networkId: tiny.id, address: `10.0.2.${from - i}` }]));
}

t.test('checkTaskCapacity: tiny /29 holds 4 task addresses besides its node', async (t) => {
  const startFirst = { parallelism: 2, delayMs: 0, failureAction: 'pause' as const, monitorMs: 0, maxFailureRatio: 0, order: 'start-first' as const };
  const cases: { name: string; input: Partial<CapacityInput>; error?: RegExp }[] = [
    { name: 'create 4 fits', input: { spec: spec({ replicas: 4 }) } },
    { name: 'create 5 does not', input: { spec: spec({ replicas: 5 }) }, error: /network tiny \(subnet 10\.0\.2\.0\/29\) has 4 free task addresses but service web needs 5 more \(5 tasks\)/ },
    { name: 'another service holds 2', input: { spec: spec({ replicas: 3 }), tasks: liveTasks('other', 2) }, error: /has 2 free task addresses but service web needs 3 more/ },
    { name: 'scale 2 -> 4 with 2 held', input: { serviceId: 'web', spec: spec({ replicas: 4 }), tasks: liveTasks('web', 2) } },
    { name: 'scale 2 -> 5 with 2 held', input: { serviceId: 'web', spec: spec({ replicas: 5 }), tasks: liveTasks('web', 2) }, error: /has 2 free task addresses but service web needs 3 more/ },
    { name: 'stop-first update of 4 needs no extra', input: { serviceId: 'web', spec: spec({ replicas: 4 }), tasks: liveTasks('web', 4), dirty: true } },
    {
      name: 'start-first update of 4 needs a batch more',
      input: { serviceId: 'web', spec: spec({ replicas: 4, updateConfig: startFirst }), tasks: liveTasks('web', 4), dirty: true },
      error: /has 0 free task addresses but service web needs 2 more \(4 tasks and 2 more during a start-first update\)/,
    },
    { name: 'start-first update of 2 fits', input: { serviceId: 'web', spec: spec({ replicas: 2, updateConfig: startFirst }), tasks: liveTasks('web', 2), dirty: true } },
    { name: 'start-first but nothing dirty', input: { serviceId: 'web', spec: spec({ replicas: 4, updateConfig: startFirst }), tasks: liveTasks('web', 4) } },
    { name: 'stopping tasks of the service count as free', input: { serviceId: 'web', spec: spec({ replicas: 4 }), tasks: liveTasks('web', 4, 'running', 'shutdown') } },
    { name: 'stopping tasks of another service do not', input: { spec: spec({ replicas: 1 }), tasks: liveTasks('other', 4, 'running', 'shutdown') }, error: /has 0 free/ },
    { name: 'finished tasks hold nothing', input: { spec: spec({ replicas: 4 }), tasks: liveTasks('other', 4, 'shutdown', 'shutdown') } },
    { name: 'global services are not counted', input: { spec: spec({ mode: 'global', replicas: 0 }) } },
    { name: 'a job counts its concurrency', input: { spec: spec({ mode: 'replicated-job', replicas: 10, maxConcurrent: 4 }) } },
    { name: 'a job without a limit counts every completion', input: { spec: spec({ mode: 'replicated-job', replicas: 10 }) }, error: /needs 10 more/ },
    { name: 'a large default network is fine', input: { spec: spec({ replicas: 150, networks: [shoal.id] }) } },
  ];
  for (const c of cases) {
    const input: CapacityInput = { spec: c.input.spec!, dirty: false, networks, services: [], tasks: [], ...c.input };
    if (c.error) t.throws(() => checkTaskCapacity(input), { code: 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED', message: c.error }, c.name);
    else t.doesNotThrow(() => checkTaskCapacity(input), c.name);
  }
});

t.test('mayNeedMoreAddresses', async (t) => {
  const base = spec({ replicas: 3 });
  t.notOk(mayNeedMoreAddresses(base, { ...base, labels: { a: 'b' } }, false, false, 'stop-first'), 'a label');
  t.notOk(mayNeedMoreAddresses(base, { ...base, replicas: 2 }, false, false, undefined), 'scale down');
  t.notOk(mayNeedMoreAddresses(base, base, false, true, 'stop-first'), 'a stop-first update');
  t.ok(mayNeedMoreAddresses(base, { ...base, replicas: 4 }, false, false, undefined), 'scale up');
  t.ok(mayNeedMoreAddresses(base, base, true, false, undefined), 'other networks');
  t.ok(mayNeedMoreAddresses(base, base, false, true, 'start-first'), 'a start-first update');
});

t.test('carryNetworks: an automatic rollback keeps VIPs and redeploys onto other networks', async (t) => {
  const before: Service = makeService('web');
  before.spec.networks = [backend.id];
  before.endpoint.virtualIPs = [{ networkId: backend.id, address: '10.0.1.192' }];
  before.forceUpdate = 1;
  const statusOnly: Service = { ...before, updateStatus: { state: 'completed', startedAt: 'x', message: 'done' } };
  t.equal(carryNetworks(before, statusOnly, networks, [before]), statusOnly, 'nothing to carry: the same object');

  const back: Service = { ...before, spec: { ...before.spec, networks: [shoal.id, backend.id] }, endpoint: { vipIndex: 1 } };
  const out = carryNetworks(before, back, networks, [before]);
  t.same(out.endpoint.virtualIPs, [
    { networkId: shoal.id, address: '10.0.0.192' },
    { networkId: backend.id, address: '10.0.1.192' },
  ]);
  t.equal(out.forceUpdate, 2, 'other networks: every task is redeployed');

  const sameNets: Service = { ...before, spec: { ...before.spec }, endpoint: { vipIndex: 1 } };
  const kept = carryNetworks(before, sameNets, networks, [before]);
  t.same(kept.endpoint.virtualIPs, before.endpoint.virtualIPs);
  t.equal(kept.forceUpdate, 1);
});
