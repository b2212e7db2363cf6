import t from 'tap';
import { formatSubnet, parseSubnet, subnetsOverlap } from '../../../src/spec/subnet';
import { layoutOf, nextFreeSubnet, vipRangeOf } from '../../../src/manager/allocator/subnet-layout';
import { intToIp } from '../../../src/model/addresses';

t.test('parseSubnet accepts aligned IPv4 CIDRs from /16 to /29', async (t) => {
  const cases: [string, string, number][] = [
    ['10.0.1.0/24', '10.0.1.0/24', 256],
    [' 10.0.1.0/24 ', '10.0.1.0/24', 256],
    ['172.16.0.0/16', '172.16.0.0/16', 65_536],
    ['192.168.3.8/29', '192.168.3.8/29', 8],
    ['10.1.0.0/20', '10.1.0.0/20', 4_096],
  ];
  for (const [input, text, size] of cases) {
    const s = parseSubnet(input);
    t.equal(formatSubnet(s), text, input);
    t.equal(s.size, size, `${input} size`);
  }
});

t.test('parseSubnet refuses bad input with a message saying what to type', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /use an IPv4 CIDR such as 10.0.1.0\/24/],
    ['10.0.1.0', /use an IPv4 CIDR/],
    ['10.0.1/24', /use an IPv4 CIDR/],
    ['10.0.1.0/', /use an IPv4 CIDR/],
    ['10.0.1.0/33', /use an IPv4 CIDR/],
    ['10.0.1.256/24', /use an IPv4 CIDR/],
    ['10.0.1.0/2x', /use an IPv4 CIDR/],
    ['fd00::/64', /only IPv4 subnets are supported/],
    ['10.0.0.0/8', /prefix length must be from \/16 to \/29/],
    ['10.0.0.0/15', /from \/16 to \/29/],
    ['10.0.0.0/30', /from \/16 to \/29/],
    ['10.0.1.5/24', /10\.0\.1\.5 is not the network address of a \/24 \(use 10\.0\.1\.0\/24\)/],
    ['10.0.1.128/16', /use 10\.0\.0\.0\/16/],
    ['127.0.0.0/16', /loopback range/],
    ['169.254.0.0/24', /link-local range/],
    ['224.0.0.0/24', /multicast/],
    ['0.0.0.0/16', /"this network" range/],
  ];
  for (const [input, re] of cases) t.throws(() => parseSubnet(input), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: re }, JSON.stringify(input));
});

t.test('subnetsOverlap', async (t) => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/24', '10.0.0.0/24', true],
    ['10.0.0.0/24', '10.0.1.0/24', false],
    ['10.0.0.0/16', '10.0.200.0/24', true],
    ['10.0.200.0/24', '10.0.0.0/16', true],
    ['10.0.0.0/29', '10.0.0.8/29', false],
    ['10.0.0.0/28', '10.0.0.8/29', true],
    ['10.0.255.0/24', '10.1.0.0/16', false],
  ];
  for (const [a, b, want] of cases) t.equal(subnetsOverlap(parseSubnet(a), parseSubnet(b)), want, `${a} ${b}`);
});

t.test('nextFreeSubnet takes the first 10.0.N.0/24 (N >= 1) clear of every network', async (t) => {
  const cases: [string[], string | undefined][] = [
    [[], '10.0.1.0/24'],
    [['10.0.0.0/24'], '10.0.1.0/24'],
    [['10.0.0.0/24', '10.0.1.0/24'], '10.0.2.0/24'],
    [['10.0.0.0/24', '10.0.2.0/24'], '10.0.1.0/24'],
    [['10.0.0.0/24', '10.0.1.0/29'], '10.0.2.0/24'],
    [['10.0.0.0/24', '10.0.0.0/20'], '10.0.16.0/24'],
    [['10.0.0.0/16'], undefined],
    [['10.0.0.0/17', '10.0.128.0/17'], undefined],
    [['10.0.0.0/17', '10.0.128.0/18', '10.0.192.0/19', '10.0.224.0/20', '10.0.240.0/21', '10.0.248.0/22', '10.0.252.0/23', '10.0.254.0/24'], '10.0.255.0/24'],
  ];
  for (const [taken, want] of cases) {
    const got = nextFreeSubnet(taken.map(parseSubnet));
    t.equal(got && formatSubnet(got), want, taken.join(' '));
  }
});

t.test('layout: hosts at the bottom, VIPs in the top quarter, network and broadcast never handed out', async (t) => {
  const cases: [string, string, [string, string], [string, string]][] = [
    ['10.0.0.0/24', '10.0.0.192/26', ['10.0.0.1', '10.0.0.191'], ['10.0.0.192', '10.0.0.254']],
    ['10.0.8.0/29', '10.0.8.6/31', ['10.0.8.1', '10.0.8.5'], ['10.0.8.6', '10.0.8.6']],
    ['10.2.0.0/16', '10.2.192.0/18', ['10.2.0.1', '10.2.191.255'], ['10.2.192.0', '10.2.255.254']],
  ];
  for (const [subnet, vip, hosts, vips] of cases) {
    const s = parseSubnet(subnet);
    t.equal(formatSubnet(vipRangeOf(s)), vip, `${subnet} VIP range`);
    const l = layoutOf(s);
    t.same([intToIp(l.hosts.first), intToIp(l.hosts.last)], hosts, `${subnet} hosts`);
    t.same([intToIp(l.vips.first), intToIp(l.vips.last)], vips, `${subnet} VIPs`);
  }
});
