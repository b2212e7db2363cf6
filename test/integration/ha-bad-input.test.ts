/**
 * Bad input around managers on etcd, through the real CLI: each exits 1
 * with one line on stderr, and an unreachable etcd is given up on within the
 * store's request timeout (the CLI call's own 10 s limit would fail the test
 * otherwise).
 */
import t from 'tap';
import { freePort } from '../support/free-port';
import { runCli, tempDir } from './cluster-fixture';

const ADDR = '127.0.68.1';
/** The bound on giving up on an etcd that does not answer. */
const GIVE_UP_MS = 10_000;

t.test('shoal daemon refuses a store it cannot use, with one line', async (t) => {
  const dir = tempDir(t, 'ha-bad');
  const daemon = (...flags: string[]) =>
    runCli(['daemon', '--addr', ADDR, '--state-dir', `${dir}/state`, '--network-mode', 'loopback', '--dns-port', '5368', '--log-level', 'fatal', ...flags], {}, GIVE_UP_MS);
  const nobody = await freePort('tcp');
  const cases: [string, string[], RegExp][] = [
    ['no reachable member', ['--init', '--store', `etcd://127.0.0.1:${nobody}`], /cannot reach the etcd at etcd:\/\/127\.0\.0\.1/],
    ['no member named', ['--init', '--store', 'etcd://'], /names no member/],
    ['not an etcd address', ['--init', '--store', 'http://127.0.0.1:2379'], /must start with etcd:\/\//],
    ['a port out of range', ['--init', '--store', 'etcd://127.0.0.1:70000'], /not 1-65535/],
    ['a client certificate without its key', ['--init', '--store', 'etcd://127.0.0.1:2379', '--store-cacert', '/x', '--store-cert', '/y'], /go together/],
    ['TLS files without a store', ['--init', '--store-cacert', '/x'], /go with --store/],
    ['a join token of the old shape', ['--join', `127.0.0.1:${nobody}`, '--token', 'SHOAL-1-abc123-mabc123'], /invalid join token: expected SWMTKN-1-/],
  ];
  for (const [what, flags, message] of cases) {
    const r = await daemon(...flags);
    t.equal(r.code, 1, `${what}: exit 1`);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${what}: one line (${r.stderr.trim()})`);
    t.match(lines[0], message, `${what}: says why`);
  }
});

t.test('shoal up refuses a manager count etcd cannot hold a quorum with, with one line', async (t) => {
  const dir = tempDir(t, 'ha-up-bad');
  for (const [flags, message] of [
    [['--managers', '2'], /use 1, 3, 5 or 7/],
    [['--managers', '5', '--nodes', '3'], /more than the 3 nodes/],
    [['--managers', 'x'], /manager count/],
  ] as [string[], RegExp][]) {
    const r = await runCli(['up', '--state-dir', dir, '--addr', '127.0.68.1', '--no-stack', ...flags], {}, GIVE_UP_MS);
    t.equal(r.code, 1, `${flags.join(' ')}: exit 1`);
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`);
    t.match(r.stderr, message);
  }
});

