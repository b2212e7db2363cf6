import t from 'tap';
import { chooseDataplane, parseDataplaneRequest } from '../../../src/mesh/dataplane/select';

const noIpvs = { ok: false as const, reason: 'generic netlink family IPVS not found' };
const noNft = { ok: false as const, reason: 'nft not found' };

t.test('auto takes the first usable kernel path and says why it passed the others', async (t) => {
  t.same(chooseDataplane('auto', { ipvs: { ok: true }, nftables: { ok: true } }), { name: 'ipvs', passedOver: [] });
  t.same(chooseDataplane('auto', { ipvs: noIpvs, nftables: { ok: true } }), { name: 'nftables', passedOver: [{ name: 'ipvs', reason: noIpvs.reason }] });
  t.same(chooseDataplane('auto', { ipvs: noIpvs, nftables: noNft }), {
    name: 'userspace',
    passedOver: [
      { name: 'ipvs', reason: noIpvs.reason },
      { name: 'nftables', reason: noNft.reason },
    ],
  });
});

t.test('a forced dataplane that cannot run is one clear error', async (t) => {
  t.throws(() => chooseDataplane('ipvs', { ipvs: noIpvs }), { message: '--dataplane ipvs cannot be used: generic netlink family IPVS not found' });
  t.same(chooseDataplane('nftables', { nftables: { ok: true } }), { name: 'nftables', passedOver: [] });
  t.same(chooseDataplane('userspace', {}), { name: 'userspace', passedOver: [] });
});

t.test('--dataplane values', async (t) => {
  for (const v of ['auto', 'ipvs', 'nftables', 'userspace']) t.equal(parseDataplaneRequest(v), v);
  t.throws(() => parseDataplaneRequest('iptables'), /must be auto, ipvs, nftables or userspace/);
});
