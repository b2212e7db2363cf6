import t from 'tap';
import { AddressPool, buildPools, holdsAddresses } from '../../../src/manager/allocator/address-pool';
import type { TaskState } from '../../../src/model/types';
import { makeService, makeTask, makeNetwork, withNetworks } from '../../support/builders';

t.test('nodes take the lowest host addresses, tasks the highest, VIPs the top quarter', async (t) => {
  const pool = new AddressPool(makeNetwork('n', '10.0.1.0/24', { nodeAddresses: { a: '10.0.1.1' } }));
  t.equal(pool.freeHosts(), 190, '.1 to .191 minus the node');
  t.same([pool.allocateNode(), pool.allocateNode()], ['10.0.1.2', '10.0.1.3']);
  t.same([pool.allocateTask(), pool.allocateTask()], ['10.0.1.191', '10.0.1.190']);
  t.same([pool.allocateVip(), pool.allocateVip()], ['10.0.1.192', '10.0.1.193']);
  t.equal(pool.freeHosts(), 186, 'VIPs do not count against hosts');
  pool.release('10.0.1.191');
  pool.release('10.0.1.2');
  pool.release('10.0.1.192');
  t.equal(pool.allocateTask(), '10.0.1.191', 'a released task address comes back');
  t.equal(pool.allocateNode(), '10.0.1.2', 'a released node address comes back');
  t.equal(pool.allocateVip(), '10.0.1.192', 'a released VIP comes back');
});

t.test('a /29 runs out: 5 host addresses, 1 VIP', async (t) => {
  const pool = new AddressPool(makeNetwork('n', '10.0.9.0/29'));
  const hosts = [pool.allocateNode(), pool.allocateTask(), pool.allocateTask(), pool.allocateTask(), pool.allocateNode()];
  t.same(hosts, ['10.0.9.1', '10.0.9.5', '10.0.9.4', '10.0.9.3', '10.0.9.2']);
  t.equal(pool.freeHosts(), 0);
  t.equal(pool.allocateTask(), undefined, 'no task address left');
  t.equal(pool.allocateNode(), undefined, 'no node address left');
  t.equal(pool.allocateVip(), '10.0.9.6');
  t.equal(pool.allocateVip(), undefined, 'the broadcast address is never a VIP');
});

t.test('mark records holders and ignores addresses outside the subnet', async (t) => {
  const pool = new AddressPool(makeNetwork('n', '10.0.2.0/24'));
  t.ok(pool.mark('10.0.2.191'));
  t.notOk(pool.mark('10.0.2.191'), 'taken twice');
  t.ok(pool.mark('10.9.9.9'), 'outside: ignored');
  t.ok(pool.mark('10.0.2.255'), 'broadcast: ignored');
  t.ok(pool.mark('garbage'));
  t.equal(pool.allocateTask(), '10.0.2.190');
  t.equal(pool.freeHosts(), 189);
});

t.test('holdsAddresses: live tasks and dead ones awaiting the restart policy', async (t) => {
  const svc = makeService('s');
  const cases: [TaskState, TaskState, boolean][] = [
    ['pending', 'running', true],
    ['running', 'running', true],
    ['running', 'shutdown', true],
    ['failed', 'running', true],
    ['failed', 'shutdown', false],
    ['shutdown', 'shutdown', false],
    ['complete', 'running', false],
    ['complete', 'shutdown', false],
    ['orphaned', 'shutdown', false],
  ];
  for (const [state, desired, want] of cases) t.equal(holdsAddresses(makeTask('x', svc, { state, desired })), want, `${state} wanted ${desired}`);
});

t.test('buildPools marks node addresses, VIPs and live task addresses', async (t) => {
  const a = makeNetwork('a', '10.0.1.0/29', { nodeAddresses: { n1: '10.0.1.1' } });
  const b = makeNetwork('b', '10.0.2.0/29');
  const bad = { ...makeNetwork('bad', '10.0.3.0/24'), subnet: 'not-a-subnet' };
  const svc = makeService('s');
  svc.endpoint.virtualIPs = [{ networkId: 'a', address: '10.0.1.6' }];
  const tasks = [
    withNetworks(makeTask('t1', svc), [{ networkId: 'a', address: '10.0.1.5' }, { networkId: 'b', address: '10.0.2.5' }]),
    withNetworks(makeTask('t2', svc, { state: 'shutdown', desired: 'shutdown' }), [{ networkId: 'a', address: '10.0.1.4' }]),
    withNetworks(makeTask('t3', svc), [{ networkId: 'gone', address: '10.0.3.5' }]),
  ];
  const pools = buildPools([a, b, bad], [svc], tasks);
  t.same([...pools.keys()], ['a', 'b'], 'a damaged network is left out');
  t.equal(pools.get('a')!.freeHosts(), 3, '.1 node and .5 task held; .4 is free again');
  t.equal(pools.get('a')!.allocateTask(), '10.0.1.4');
  t.equal(pools.get('a')!.allocateVip(), undefined, 'the only VIP is the service’s');
  t.equal(pools.get('b')!.allocateTask(), '10.0.2.4');
});
