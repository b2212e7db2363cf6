import t from 'tap';
import { DEFAULT_NETWORK, FIRST_VNI, nextFreeVni, planNetwork } from '../../../src/manager/allocator/network-plan';
import { validateNetworkRequest } from '../../../src/spec/network';
import { T0, makeNetwork } from '../../support/builders';

const who = { id: 'net-new', now: T0 };
const node = (id: string, index: number) => ({ id, index });
const shoal = makeNetwork('default', DEFAULT_NETWORK.subnet, { name: 'shoal', vni: DEFAULT_NETWORK.vni, builtin: true });

t.test('validateNetworkRequest fills the driver and normalises the subnet', async (t) => {
  t.same(validateNetworkRequest({ name: 'backend' }), { name: 'backend', driver: 'overlay', labels: {} });
  t.same(validateNetworkRequest({ name: 'b.e_n-d', driver: 'overlay', subnet: ' 10.0.7.0/24', labels: { team: 'a' } }), {
    name: 'b.e_n-d',
    driver: 'overlay',
    subnet: '10.0.7.0/24',
    labels: { team: 'a' },
  });
  t.same(validateNetworkRequest({ name: 'x', subnet: '' }), { name: 'x', driver: 'overlay', labels: {} }, 'an empty subnet means pick one');
});

t.test('validateNetworkRequest refuses bad requests', async (t) => {
  const cases: [unknown, RegExp][] = [
    [undefined, /body must be an object/],
    [[], /body must be an object/],
    [{}, /a network name is required/],
    [{ name: '-x' }, /invalid network name "-x"/],
    [{ name: 'a b' }, /invalid network name/],
    [{ name: 'x'.repeat(64) }, /invalid network name/],
    [{ name: 'x', driver: 'bridge' }, /driver "bridge" is not supported: shoal networks use the overlay driver/],
    [{ name: 'x', subnet: 24 }, /subnet must be a string/],
    [{ name: 'x', subnet: '10.0.0.0/8' }, /from \/16 to \/29/],
    [{ name: 'x', labels: ['a'] }, /labels must be an object/],
    [{ name: 'x', labels: { a: 1 } }, /label a: value must be a string/],
  ];
  for (const [body, re] of cases) t.throws(() => validateNetworkRequest(body), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: re }, JSON.stringify(body));
});

t.test('nextFreeVni: the lowest free from 4096', async (t) => {
  t.equal(nextFreeVni([]), FIRST_VNI);
  t.equal(nextFreeVni([{ vni: 4096 }, { vni: 4097 }]), 4098);
  t.equal(nextFreeVni([{ vni: 4096 }, { vni: 4098 }]), 4097);
});

t.test('planNetwork without a subnet takes the next free /24, the next VNI, the top quarter for VIPs', async (t) => {
  const n = planNetwork({ name: 'backend', driver: 'overlay', labels: { a: 'b' } }, [shoal], [node('n2', 2), node('n1', 1), node('n3', 3)], who);
  t.same(n, {
    id: 'net-new',
    name: 'backend',
    driver: 'overlay',
    subnet: '10.0.1.0/24',
    vipRange: '10.0.1.192/26',
    vni: 4097,
    nodeAddresses: { n1: '10.0.1.1', n2: '10.0.1.2', n3: '10.0.1.3' },
    labels: { a: 'b' },
    builtin: false,
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
  });
  const second = planNetwork({ name: 'front', driver: 'overlay', labels: {} }, [shoal, n], [], who);
  t.equal(second.subnet, '10.0.2.0/24');
  t.equal(second.vni, 4098);
});

t.test('planNetwork with a subnet: overlap names both networks', async (t) => {
  const existing = [shoal, makeNetwork('b', '10.0.8.0/22', { name: 'backend', vni: 4097 })];
  const ok = planNetwork({ name: 'small', driver: 'overlay', subnet: '10.0.12.0/29', labels: {} }, existing, [], who);
  t.equal(ok.vipRange, '10.0.12.6/31');
  const cases: [string, RegExp][] = [
    ['10.0.0.0/16', /subnet 10\.0\.0\.0\/16 of network x overlaps subnet 10\.0\.0\.0\/24 of network shoal/],
    ['10.0.9.0/24', /subnet 10\.0\.9\.0\/24 of network x overlaps subnet 10\.0\.8\.0\/22 of network backend/],
    ['10.0.0.128/25', /of network shoal/],
  ];
  for (const [subnet, re] of cases) {
    t.throws(() => planNetwork({ name: 'x', driver: 'overlay', subnet, labels: {} }, existing, [], who), { code: 'SHOAL_ERR_NETWORK_OVERLAP', message: re }, subnet);
  }
});

t.test('planNetwork when nothing is left', async (t) => {
  const wide = makeNetwork('w', '10.0.0.0/16', { name: 'wide' });
  t.throws(() => planNetwork({ name: 'x', driver: 'overlay', labels: {} }, [wide], [], who), {
    code: 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED',
    message: /no free 10\.0\.N\.0\/24 subnet is left for network x; give one with --subnet/,
  });
  const n = planNetwork({ name: 'tiny', driver: 'overlay', subnet: '10.0.1.0/29', labels: {} }, [shoal], [1, 2, 3, 4, 5, 6].map((i) => node(`n${i}`, i)), who);
  t.same(n.nodeAddresses, { n1: '10.0.1.1', n2: '10.0.1.2', n3: '10.0.1.3', n4: '10.0.1.4', n5: '10.0.1.5' }, 'a sixth node finds the /29 full');
});

t.test('planNetwork keeps the builtin network’s fixed VNI', async (t) => {
  const n = planNetwork({ name: 'shoal', driver: 'overlay', subnet: '10.0.0.0/24', labels: {} }, [], [node('a', 1)], { ...who, builtin: true, vni: 4096 });
  t.equal(n.vni, 4096);
  t.equal(n.builtin, true);
  t.same(n.nodeAddresses, { a: '10.0.0.1' });
});
