import t from 'tap';
import { InvalidArgumentError } from '../../src/errors';
import { matchConstraints, parseConstraint, parseConstraints } from '../../src/spec/constraint';
import { makeNode } from '../support/builders';

t.test('parses valid expressions', async (t) => {
  const cases: [string, { key: string; op: '==' | '!='; value: string }][] = [
    ['node.role==manager', { key: 'node.role', op: '==', value: 'manager' }],
    ['node.role != worker', { key: 'node.role', op: '!=', value: 'worker' }],
    ['Node.Hostname==web-1', { key: 'node.hostname', op: '==', value: 'web-1' }],
    ['node.id==abc123', { key: 'node.id', op: '==', value: 'abc123' }],
    ['node.labels.zone==east', { key: 'node.labels.zone', op: '==', value: 'east' }],
    ['node.labels.Zone!=East', { key: 'node.labels.Zone', op: '!=', value: 'East' }],
    ['node.labels.com.example.tier==db', { key: 'node.labels.com.example.tier', op: '==', value: 'db' }],
    ['node.platform.os==linux', { key: 'node.platform.os', op: '==', value: 'linux' }],
    ['node.platform.arch==x86_64', { key: 'node.platform.arch', op: '==', value: 'x86_64' }],
    ['node.ip==127.0.1.3', { key: 'node.ip', op: '==', value: '127.0.1.3' }],
    ['node.IP!=127.0.1.0/24', { key: 'node.ip', op: '!=', value: '127.0.1.0/24' }],
    ['node.ip==fd00::/8', { key: 'node.ip', op: '==', value: 'fd00::/8' }],
    ['node.ip==0.0.0.0/0', { key: 'node.ip', op: '==', value: '0.0.0.0/0' }],
  ];
  for (const [expr, want] of cases) t.same(parseConstraint(expr), want, expr);
});

t.test('rejects bad expressions with a clear InvalidArgumentError', async (t) => {
  const cases: [string, RegExp][] = [
    ['node.role=manager', /expected <key>==<value> or <key>!=<value>/],
    ['node.role', /expected <key>==<value>/],
    ['foo==bar', /unknown key "foo"; use node\.id, .* or node\.labels\.<name>/],
    ['engine.labels.x==y', /unknown key "engine\.labels\.x"/],
    ['node.labels==x', /unknown key "node\.labels"/],
    ['node.labels.==x', /missing label name after "node\.labels\."/],
    ['node.hostname==', /empty value/],
    ['node.hostname==   ', /empty value/],
    ['==x', /missing key/],
    ['node.role==boss', /node\.role must be manager or worker/],
    ['node.labels.a==b==c', /invalid value "b==c"/],
    ['no de==x', /invalid key "no de"/],
    ['node.ip==web-1', /node\.ip wants an IP address or a CIDR like 10\.0\.0\.0\/24, not "web-1"/],
    ['node.ip==127.0.1.0/33', /node\.ip wants an IP address or a CIDR/],
    ['node.ip==127.0.1.0/', /node\.ip wants an IP address or a CIDR/],
    ['node.ip==127.0.1.0/a', /invalid value|node\.ip wants/],
    ['node.ip==256.0.0.1', /node\.ip wants an IP address/],
    ['node.ip==fd00::/129', /node\.ip wants an IP address/],
    ['node.address==127.0.0.1', /unknown key "node\.address"; use node\.id, .*node\.ip or node\.labels\.<name>/],
  ];
  for (const [expr, msg] of cases) {
    t.throws(() => parseConstraint(expr), InvalidArgumentError, expr);
    t.throws(() => parseConstraint(expr), { message: msg }, expr);
    t.throws(() => parseConstraint(expr), { message: new RegExp(`^invalid constraint "${expr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`) });
  }
});

t.test('matches nodes', async (t) => {
  const node = makeNode('n1', {
    hostname: 'Web-1',
    role: 'manager',
    labels: { zone: 'east', Tier: 'Front' },
    platform: { os: 'linux', arch: 'x64' },
  });
  const cases: [string[], boolean][] = [
    [[], true],
    [['node.id==n1'], true],
    [['node.id!=n1'], false],
    [['node.hostname==web-1'], true],
    [['node.hostname==WEB-1'], true],
    [['node.role==MANAGER'], true],
    [['node.role==worker'], false],
    [['node.role!=worker'], true],
    [['node.labels.zone==east'], true],
    [['node.labels.zone==East'], false],
    [['node.labels.tier==Front'], false],
    [['node.labels.Tier==Front'], true],
    [['node.labels.zone!=west'], true],
    [['node.labels.rack!=r1'], true],
    [['node.labels.rack==r1'], false],
    [['node.platform.os==Linux'], true],
    [['node.platform.arch==amd64'], true],
    [['node.platform.arch==x86_64'], true],
    [['node.platform.arch==arm64'], false],
    [['node.role==manager', 'node.labels.zone==east'], true],
    [['node.role==manager', 'node.labels.zone==west'], false],
  ];
  for (const [exprs, want] of cases) t.equal(matchConstraints(parseConstraints(exprs), node), want, exprs.join(' && ') || '(none)');
});

t.test('node.ip matches the node address, exactly or inside a CIDR', async (t) => {
  const at = (address: string) => makeNode('n1', { address });
  const cases: [string, string, boolean][] = [
    ['node.ip==127.0.1.3', '127.0.1.3', true],
    ['node.ip==127.0.1.3', '127.0.1.4', false],
    ['node.ip!=127.0.1.3', '127.0.1.4', true],
    ['node.ip!=127.0.1.3', '127.0.1.3', false],
    ['node.ip==127.0.1.0/24', '127.0.1.200', true],
    ['node.ip==127.0.1.0/24', '127.0.2.1', false],
    ['node.ip!=127.0.1.0/24', '127.0.2.1', true],
    ['node.ip!=127.0.1.0/24', '127.0.1.1', false],
    ['node.ip==127.0.1.1/24', '127.0.1.9', true],
    ['node.ip==127.0.0.0/8', '127.200.3.4', true],
    ['node.ip==0.0.0.0/0', '10.1.2.3', true],
    ['node.ip==127.0.1.4/32', '127.0.1.4', true],
    ['node.ip==127.0.1.4/32', '127.0.1.5', false],
    ['node.ip==fd00::/8', 'fd00::1', true],
    ['node.ip==fd00::/8', '127.0.1.1', false],
    ['node.ip==::1', '::1', true],
    ['node.ip==127.0.1.0/24', 'not-an-ip', false],
    ['node.ip!=127.0.1.0/24', '', true],
  ];
  for (const [expr, address, want] of cases) {
    t.equal(matchConstraints(parseConstraints([expr]), at(address)), want, `${expr} on ${address || '(no address)'}`);
  }
  t.equal(
    matchConstraints(parseConstraints(['node.ip==127.0.1.0/24', 'node.ip!=127.0.1.7', 'node.role==worker']), at('127.0.1.6')),
    true,
    'several ANDed',
  );
  t.equal(matchConstraints(parseConstraints(['node.ip==127.0.1.0/24', 'node.ip!=127.0.1.7']), at('127.0.1.7')), false, 'one fails, all fail');
});
