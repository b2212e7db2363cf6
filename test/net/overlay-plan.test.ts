import t from 'tap';
import { hasCapability } from '../../src/net/capabilities';
import { bridgeName, inSubnet, networkOf, planTaskAttachment, resolvConf, taskVethName, vxlanName, vxlanPeers } from '../../src/net/overlay-plan';
import type { Network } from '../../src/model/types';

t.test('names fit IFNAMSIZ', async (t) => {
  t.equal(bridgeName(16777215), 'shb16777215');
  t.equal(vxlanName(4096), 'shx4096');
  t.ok(taskVethName('abcdefghijklmnopqrstuvwxy').length <= 15);
  t.ok(vxlanName(16777215).length <= 15);
});

t.test('subnets', async (t) => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.5', '10.0.0.0/24', true],
    ['10.0.1.5', '10.0.0.0/24', false],
    ['10.0.0.200', '10.0.0.192/26', true],
    ['10.0.0.191', '10.0.0.192/26', false],
    ['1.2.3.4', '0.0.0.0/0', true],
  ];
  for (const [ip, cidr, want] of cases) t.equal(inSubnet(ip, cidr), want, `${ip} in ${cidr}`);
  t.equal(networkOf('10.0.0.7/24'), '10.0.0.0/24');
  t.equal(networkOf('10.1.2.3/16'), '10.1.0.0/16');
});

t.test('a task attachment', async (t) => {
  const net = { subnet: '10.0.0.0/24', vipRange: '10.0.0.192/26', vni: 4096 } as Network;
  t.same(planTaskAttachment('shoal-t-', 'abc123', net, '10.0.0.9', '10.0.0.1'), {
    netns: 'shoal-t-abc123',
    veth: 'shvabc123',
    bridge: 'shb4096',
    cidr: '10.0.0.9/24',
    gateway: '10.0.0.1',
    vipRange: '10.0.0.192/26',
    resolvConf: resolvConf('10.0.0.1'),
  });
  t.match(resolvConf('10.0.0.1'), /^nameserver 10\.0\.0\.1$/m);
});

t.test('VXLAN peers: every other node once, sorted', async (t) => {
  t.same(vxlanPeers('10.77.0.1', ['10.77.0.3', '10.77.0.1', '10.77.0.2', '10.77.0.3']), ['10.77.0.2', '10.77.0.3']);
  t.same(vxlanPeers('10.77.0.1', ['10.77.0.1']), []);
});

t.test('capabilities from /proc/self/status', async (t) => {
  t.equal(hasCapability('Name:\tx\nCapEff:\t000001ffffffffff\n', 12), true, 'root');
  t.equal(hasCapability('CapEff:\t0000000000000000\n', 12), false, 'none');
  t.equal(hasCapability('CapEff:\t0000000000001000\n', 12), true, 'only NET_ADMIN');
  t.equal(hasCapability('nothing', 12), false, 'no line');
});
