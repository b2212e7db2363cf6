import t from 'tap';
import { AddressPool } from '../../../src/manager/allocator/address-pool';
import { reconcileAllNodeAddresses, reconcileNodeAddresses } from '../../../src/manager/allocator/node-addresses';
import { makeService, makeTask, makeNetwork, withNetworks } from '../../support/builders';

const node = (id: string, index: number) => ({ id, index });

t.test('node addresses: joiners get the lowest free, leavers give theirs back', async (t) => {
  const net = makeNetwork('n', '10.0.1.0/24', { nodeAddresses: { a: '10.0.1.1', gone: '10.0.1.2' } });
  const r = reconcileNodeAddresses(net, [node('a', 1), node('c', 3), node('b', 2)], new AddressPool(net));
  t.same(r.network?.nodeAddresses, { a: '10.0.1.1', b: '10.0.1.2', c: '10.0.1.3' }, 'b (index 2) reuses the leaver’s .2');
  t.same(r.unplaced, []);
  const same = reconcileNodeAddresses(r.network!, [node('a', 1), node('b', 2), node('c', 3)], new AddressPool(r.network!));
  t.equal(same.network, undefined, 'nothing changes: nothing to write');
});

t.test('a full network leaves a node without an address until one frees up', async (t) => {
  const net = makeNetwork('n', '10.0.1.0/29', { nodeAddresses: { a: '10.0.1.1' } });
  const svc = makeService('s');
  const tasks = [5, 4, 3, 2].map((n, i) => withNetworks(makeTask(`t${i}`, svc, { slot: i + 1 }), [{ networkId: 'n', address: `10.0.1.${n}` }]));
  const full = reconcileAllNodeAddresses([net], [node('a', 1), node('b', 2)], [svc], tasks);
  t.same(full.networks, []);
  t.same(full.unplaced, [{ networkId: 'n', nodeIds: ['b'] }]);
  const freed = reconcileAllNodeAddresses([net], [node('a', 1), node('b', 2)], [svc], tasks.slice(1));
  t.same(freed.networks.map((n) => n.nodeAddresses), [{ a: '10.0.1.1', b: '10.0.1.5' }]);
});
