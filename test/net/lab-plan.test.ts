import t from 'tap';
import { InvalidArgumentError } from '../../src/errors';
import { isLabLink, isLabNetns, planLab, type LabPlanOptions } from '../../src/net/lab-plan';
import { parseNetnsList, parsePids } from '../../src/net/netns';
import { parseLinkNames } from '../../src/net/lab';

t.test('planLab names and addresses', async (t) => {
  const cases: { opts: LabPlanOptions; subnet: string; addresses: string[] }[] = [
    { opts: { name: 'shlab12', hosts: 3 }, subnet: '10.77.0.0/24', addresses: ['10.77.0.1', '10.77.0.2', '10.77.0.3'] },
    { opts: { name: 'x', hosts: 2, subnet: '10.99.1.77/24' }, subnet: '10.99.1.0/24', addresses: ['10.99.1.1', '10.99.1.2'] },
    { opts: { name: 'x', hosts: 2, subnet: '192.168.0.0/30' }, subnet: '192.168.0.0/30', addresses: ['192.168.0.1', '192.168.0.2'] },
    { opts: { name: 'x', hosts: 2, subnet: '10.0.0.0/8' }, subnet: '10.0.0.0/8', addresses: ['10.0.0.1', '10.0.0.2'] },
  ];
  for (const c of cases) {
    const plan = planLab(c.opts);
    t.equal(plan.subnet, c.subnet, `${c.opts.subnet} subnet`);
    t.same(plan.hosts.map((h) => h.address), c.addresses, `${c.opts.subnet} addresses`);
  }
  const plan = planLab({ name: 'shlab12', hosts: 2 });
  t.equal(plan.underlayNetns, 'shlab12-ul');
  t.equal(plan.bridge, 'shlab12-br');
  t.same(plan.hosts[1], { index: 1, netns: 'shlab12-h1', ifname: 'eth0', bridgePort: 'shlab12-v1', address: '10.77.0.2', prefixLength: 24 });
  // Linux interface names are at most 15 bytes.
  const big = planLab({ name: 'abcdefgh', hosts: 250, subnet: '10.77.0.0/16' });
  t.ok(big.hosts.every((h) => h.bridgePort.length <= 15 && h.netns.length <= 15), 'names fit IFNAMSIZ');
});

t.test('planLab rejects bad options', async (t) => {
  const bad: LabPlanOptions[] = [
    { name: '', hosts: 1 },
    { name: 'Shl', hosts: 1 },
    { name: '1abc', hosts: 1 },
    { name: 'a-b', hosts: 1 },
    { name: 'abcdefghi', hosts: 1 },
    { name: 'x', hosts: 0 },
    { name: 'x', hosts: 1.5 },
    { name: 'x', hosts: 251, subnet: '10.0.0.0/16' },
    { name: 'x', hosts: 1, subnet: '10.77.0.0' },
    { name: 'x', hosts: 1, subnet: '10.77.0.300/24' },
    { name: 'x', hosts: 1, subnet: '10.77.0.0/33' },
    { name: 'x', hosts: 1, subnet: '10.77.0.0/31' },
    { name: 'x', hosts: 3, subnet: '10.77.0.0/30' },
  ];
  for (const opts of bad) t.throws(() => planLab(opts), InvalidArgumentError, JSON.stringify(opts));
});

t.test('what belongs to a lab', async (t) => {
  const cases: [string, boolean, boolean][] = [
    ['shl1-ul', true, false],
    ['shl1-h0', true, false],
    ['shl1-h12', true, false],
    ['shl1-br', false, true],
    ['shl1-v3', false, true],
    ['shl12-h0', false, false],
    ['shl1-h', false, false],
    ['shl1-hx', false, false],
    ['xshl1-ul', false, false],
    ['shl1-t-abc123', true, false],
    ['shl12-t-abc123', false, false],
    ['shl1-t-', false, false],
    ['eth0', false, false],
  ];
  for (const [name, ns, link] of cases) {
    t.equal(isLabNetns('shl1', name), ns, `netns ${name}`);
    t.equal(isLabLink('shl1', name), link, `link ${name}`);
  }
});

t.test('parsers of ip output', async (t) => {
  t.same(parseNetnsList('a-h1 (id: 3)\nb\n\n'), ['a-h1', 'b']);
  t.same(parsePids('12\n345\n'), [12, 345]);
  t.same(parseLinkNames('1: lo: <LOOPBACK,UP> mtu 65536\n5: shl1-v0@if2: <BROADCAST> mtu 1500\n'), ['lo', 'shl1-v0']);
});
