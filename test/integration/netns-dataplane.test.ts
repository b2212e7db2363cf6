/**
 * Dataplane choice on a real kernel (issue 5): this kernel has no IPVS, so
 * `--dataplane ipvs` fails with one line and `auto` takes nftables, saying
 * why it passed IPVS over. Each daemon runs in a namespace the test makes,
 * so nothing in the machine's own namespace is touched.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../support/eventually';
import { CLI, runCli, clusterWait } from './cluster-fixture';

const NS = `shoaltest-dpf${process.pid % 10000}`;
const STATE = mkdtempSync(path.join(os.tmpdir(), 'shoal-dataplane-'));

function inNs(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=/run/netns/${NS}`, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.before(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
});
t.teardown(() => {
  try {
    execFileSync('ip', ['netns', 'del', NS]);
  } catch {
    // already gone
  }
  rmSync(STATE, { recursive: true, force: true });
});

const daemonArgs = (dir: string, dataplane: string) => [
  'daemon', '--network-mode', 'netns', '--dataplane', dataplane, '--addr', '127.0.0.1',
  '--state-dir', path.join(STATE, dir), '--dns-port', '5399', '--dns-upstream', '127.0.0.1:9', '--log-level', 'warn',
];

t.test('--dataplane ipvs on a kernel without IPVS: one clear line, exit 1', async (t) => {
  const r = await inNs(daemonArgs('ipvs', 'ipvs'));
  t.equal(r.code, 1, 'exit 1');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.match(r.stderr, /--dataplane ipvs cannot be used: generic netlink family IPVS not found/);
});

t.test('bad dataplane flags', async (t) => {
  let r = await runCli(['daemon', '--network-mode', 'loopback', '--dataplane', 'nftables', '--state-dir', path.join(STATE, 'x')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /--dataplane nftables needs --network-mode netns/);
  r = await runCli(['daemon', '--dataplane', 'iptables', '--state-dir', path.join(STATE, 'x')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /--dataplane must be auto, ipvs, nftables or userspace/);
  r = await runCli(['daemon', '--network-mode', 'bridge', '--state-dir', path.join(STATE, 'x')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /--network-mode must be loopback or netns/);
  for (const [value, why] of [
    ['0', /invalid relay threads 0: must be 1-64/],
    ['65', /invalid relay threads 65: must be 1-64/],
    ['two', /invalid relay threads "two": must be a whole number/],
  ] as const) {
    r = await runCli(['daemon', '--network-mode', 'loopback', '--relay-threads', value, '--state-dir', path.join(STATE, 'x')]);
    t.equal(r.code, 1, `--relay-threads ${value}: exit 1`);
    t.equal(r.stderr.trim().split('\n').length, 1, `--relay-threads ${value}: one line`);
    t.match(r.stderr, why);
  }
});

t.test('--dataplane auto takes nftables and says why it passed IPVS over', async (t) => {
  const dir = path.join(STATE, 'auto');
  const child = spawn('nsenter', [`--net=/run/netns/${NS}`, process.execPath, CLI, ...daemonArgs('auto', 'auto'), '--init', '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const host = `unix://${path.join(dir, 'shoal.sock')}`;
  const nodes = await eventually(async () => {
    const r = await runCli(['-H', host, 'node', 'ls', '--format', 'json']);
    const list = r.code === 0 ? (JSON.parse(r.stdout) as { id: string; networking?: { dataplane: string } }[]) : [];
    return list.length === 1 && list[0].networking && list;
  }, 'the node', clusterWait());
  const pretty = await runCli(['-H', host, 'node', 'inspect', '--pretty', nodes[0].id]);
  t.match(pretty.stdout, /Network mode:\s+netns/);
  t.match(pretty.stdout, /Dataplane:\s+nftables/);
  t.match(pretty.stdout, /passed over ipvs:\s+generic netlink family IPVS not found/);
  t.match(log, /dataplane ipvs passed over/, 'the daemon logs why');
  const metrics = execFileSync('nsenter', [
    `--net=/run/netns/${NS}`, process.execPath, '-e', "fetch('http://127.0.0.1:9323/metrics').then((r) => r.text()).then((b) => process.stdout.write(b))",
  ]).toString();
  t.match(metrics, /shoal_mesh_dataplane_info\{dataplane="nftables",reason=""\} 1/);
  t.match(metrics, /shoal_mesh_dataplane_info\{dataplane="ipvs",reason="generic netlink family IPVS not found[^"]*"\} 0/);
});
