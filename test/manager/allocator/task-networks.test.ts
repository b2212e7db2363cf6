import t from 'tap';
import {
  allocateWaitingTasks,
  awaitsAddresses,
  makeTaskNetworkAllocator,
  serviceNetworkIds,
} from '../../../src/manager/allocator/task-networks';
import { newTask } from '../../../src/manager/orchestrator/task-factory';
import { PENDING_MESSAGE } from '../../../src/spec/pending';
import type { Service, TaskState } from '../../../src/model/types';
import { T0, at, fakeDeps, makeService, makeTask, makeNetwork, withNetworks } from '../../support/builders';

const shoal = makeNetwork('d', '10.0.0.0/24', { name: 'shoal', builtin: true, nodeAddresses: { n1: '10.0.0.1' } });
const tiny = makeNetwork('t', '10.0.2.0/29', { name: 'tiny', nodeAddresses: { n1: '10.0.2.1', n2: '10.0.2.2' } });
const networks = [shoal, tiny];

function svcOn(id: string, nets?: string[]): Service {
  const s = makeService(id);
  if (nets) s.spec.networks = nets;
  return s;
}

t.test('serviceNetworkIds: named ones that exist, else the default', async (t) => {
  t.same(serviceNetworkIds(svcOn('a'), networks), ['d']);
  t.same(serviceNetworkIds(svcOn('a', ['t', 'd']), networks), ['t', 'd']);
  t.same(serviceNetworkIds(svcOn('a', ['gone', 't']), networks), ['t']);
  t.same(serviceNetworkIds(svcOn('a'), [tiny]), [], 'no default network: none');
});

t.test('new tasks get one address per network, from the top of each', async (t) => {
  const alloc = makeTaskNetworkAllocator(networks, [], []);
  const deps = { ...fakeDeps(), allocateNetworks: (s: Service) => alloc.allocate(s) };
  const a = newTask(svcOn('web', ['t', 'd']), 1, '', T0, deps);
  t.same(a.networks, [
    { networkId: 't', address: '10.0.2.5' },
    { networkId: 'd', address: '10.0.0.191' },
  ]);
  t.equal(a.status.message, PENDING_MESSAGE);
  t.equal(a.address, '127.100.9.1', 'the loopback address is still given');
  const b = newTask(svcOn('api'), 1, '', T0, deps);
  t.same(b.networks, [{ networkId: 'd', address: '10.0.0.190' }], 'no network named: the default one');
});

t.test('a full network leaves the task pending, saying which, and takes nothing elsewhere', async (t) => {
  const holder = svcOn('holder', ['t']);
  const tasks = [5, 4, 3].map((n, i) => withNetworks(makeTask(`h${i}`, holder, { slot: i + 1 }), [{ networkId: 't', address: `10.0.2.${n}` }]));
  const alloc = makeTaskNetworkAllocator(networks, [holder], tasks);
  const deps = { ...fakeDeps(), allocateNetworks: (s: Service) => alloc.allocate(s) };
  const task = newTask(svcOn('web', ['d', 't']), 1, '', T0, deps);
  t.equal(task.networks, undefined);
  t.equal(task.status.state, 'pending');
  t.equal(task.status.message, 'no free address on network tiny (subnet 10.0.2.0/29 is full)');
  t.same(alloc.allocate(svcOn('x', ['d'])), { ok: true, networks: [{ networkId: 'd', address: '10.0.0.191' }] }, 'the default-network address was given back');
});

t.test('awaitsAddresses', async (t) => {
  const web = svcOn('web', ['t']);
  const cases: [string, TaskState, TaskState, boolean, boolean][] = [
    ['pending without address', 'pending', 'running', false, true],
    ['new without address', 'new', 'running', false, true],
    ['pending with address', 'pending', 'running', true, false],
    ['assigned without address (from before networks)', 'assigned', 'running', false, false],
    ['pending but wanted stopped', 'pending', 'shutdown', false, false],
  ];
  for (const [name, state, desired, has, want] of cases) {
    const base = makeTask('x', web, { state, desired, nodeId: '' });
    const task = has ? withNetworks(base, [{ networkId: 't', address: '10.0.2.5' }]) : base;
    t.equal(awaitsAddresses(task, web, networks), want, name);
  }
  t.notOk(awaitsAddresses(makeTask('x', web, { state: 'pending' }), undefined, networks), 'service gone');
});

t.test('allocateWaitingTasks: oldest first, once addresses are free', async (t) => {
  const web = svcOn('web', ['t']);
  const full = 'no free address on network tiny (subnet 10.0.2.0/29 is full)';
  const waiting = [
    makeTask('w2', web, { slot: 2, state: 'pending', nodeId: '', created: 20, message: full, pendingReason: 'no-free-address' }),
    makeTask('w1', web, { slot: 1, state: 'pending', nodeId: '', created: 10, message: full, pendingReason: 'no-free-address' }),
    makeTask('w3', web, { slot: 3, state: 'new', nodeId: '', created: 30, message: '' }),
  ];
  const holders = [5, 4].map((n, i) => withNetworks(makeTask(`h${i}`, web, { slot: 10 + i }), [{ networkId: 't', address: `10.0.2.${n}` }]));
  const actions = allocateWaitingTasks([...holders, ...waiting], [web], networks, T0 + 1000);
  t.same(
    actions.map((a) => a.type === 'update' && [a.task.id, a.task.networks, a.task.status]),
    [
      ['w1', [{ networkId: 't', address: '10.0.2.3' }], { state: 'pending', since: at(10), message: PENDING_MESSAGE, pendingReason: 'scheduling' }],
      ['w3', undefined, { state: 'pending', since: at(1000), message: full, pendingReason: 'no-free-address' }],
    ],
    'w1 gets the one free address; w2 already says why it waits; w3 is told',
  );
  t.same(allocateWaitingTasks(holders, [web], networks, T0), [], 'nobody waits: nothing to do');
});
