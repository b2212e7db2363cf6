import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { systemIp, type IpRunner } from '../../src/net/ip-command';
import { listNetns } from '../../src/net/netns';
import { Overlay } from '../../src/net/overlay';
import { planTaskAttachment } from '../../src/net/overlay-plan';
import type { Network } from '../../src/model/types';

/** Namespaces of this test: two "hosts" and the tasks the overlay makes. */
const TAG = `shoaltest-ov${process.pid % 10000}-`;
const HOST_A = `${TAG}a`;
const HOST_B = `${TAG}b`;
const TASK_PREFIX = `${TAG}t-`;
const VXLAN_PORT = 4799;
/** Port of the greeting servers inside the test's namespaces. */
const ECHO_PORT = 7001;

/**
 * Runs `ip` inside a host namespace as a daemon living there would: through
 * nsenter, which switches only the network namespace, so the task namespaces
 * it adds are mounted where everyone sees them (`ip -n` would mount them in a
 * throwaway mount namespace).
 */
function ipIn(netns: string): IpRunner {
  const run = (args: readonly string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile('nsenter', [`--net=/run/netns/${netns}`, 'ip', ...args], (err, stdout, stderr) =>
        err ? reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim()}`)) : resolve(String(stdout)),
      ),
    );
  return { run, runSync: () => { throw new Error('not used'); } };
}

function bridgeIn(netns: string) {
  return (args: readonly string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile('bridge', ['-n', netns, ...args], (err, stdout, stderr) => (err ? reject(new Error(String(stderr))) : resolve(String(stdout)))),
    );
}

function sh(argv: string[]): string {
  return execFileSync(argv[0], argv.slice(1), { timeout: 10_000 }).toString();
}

/** A TCP server in a namespace that greets with its address; resolves once it listens. */
async function serveIn(prefix: string[], address: string): Promise<ChildProcess> {
  const child = spawn(prefix[0], [...prefix.slice(1), process.execPath, '-e',
    `require('net').createServer((s) => s.end('hello from ${address}')).listen(${ECHO_PORT}, '${address}', () => console.log('up'))`]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`server in ${prefix.join(' ')} exited ${code}`)));
  });
  return child;
}

/** Connects from a namespace and returns what the server said. */
function connectFrom(prefix: string[], address: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(prefix[0], [...prefix.slice(1), process.execPath, '-e',
      `const s = require('net').connect(${ECHO_PORT}, '${address}'); let b = ''; s.on('data', (d) => (b += d)); s.on('end', () => process.stdout.write(b)); s.on('error', (e) => { console.error(e.message); process.exit(1); }); setTimeout(() => process.exit(2), 5000).unref();`],
      { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(String(stdout)))),
  );
}

function cleanup(): void {
  for (const ns of sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0])) {
    if (ns.startsWith(TAG)) execFileSync('ip', ['netns', 'del', ns]);
  }
}

const network: Network = {
  id: 'net1',
  name: 'blue',
  driver: 'overlay',
  subnet: '10.0.9.0/24',
  vipRange: '10.0.9.192/26',
  vni: 4242,
  nodeAddresses: { a: '10.0.9.1', b: '10.0.9.2' },
  labels: {},
  builtin: false,
  createdAt: '',
  updatedAt: '',
};

t.test('two hosts: tasks on the overlay reach each other over VXLAN, and everything goes away', async (t) => {
  cleanup();
  const etc = mkdtempSync(path.join(os.tmpdir(), 'shoal-netns-etc-'));
  t.teardown(() => {
    cleanup();
    rmSync(etc, { recursive: true, force: true });
  });
  // Underlay: one veth between the two hosts.
  sh(['ip', 'netns', 'add', HOST_A]);
  sh(['ip', 'netns', 'add', HOST_B]);
  sh(['ip', '-n', HOST_A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', HOST_B]);
  sh(['ip', '-n', HOST_A, 'addr', 'add', '10.99.0.1/24', 'dev', 'eth0']);
  sh(['ip', '-n', HOST_B, 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0']);
  for (const h of [HOST_A, HOST_B]) {
    sh(['ip', '-n', h, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', h, 'link', 'set', 'lo', 'up']);
  }
  const logger = pino({ level: 'silent' });
  const a = new Overlay({ ip: ipIn(HOST_A), bridge: bridgeIn(HOST_A), logger, etcDir: etc }, { underlayAddress: '10.99.0.1', vxlanPort: VXLAN_PORT });
  const b = new Overlay({ ip: ipIn(HOST_B), bridge: bridgeIn(HOST_B), logger, etcDir: etc }, { underlayAddress: '10.99.0.2', vxlanPort: VXLAN_PORT });
  const underlay = ['10.99.0.1', '10.99.0.2'];
  await a.ensureNetwork({ network, nodeAddress: '10.0.9.1', nodeUnderlayAddresses: underlay });
  await b.ensureNetwork({ network, nodeAddress: '10.0.9.2', nodeUnderlayAddresses: underlay });
  // A second pass changes nothing (and does not fail on what exists).
  await a.ensureNetwork({ network, nodeAddress: '10.0.9.1', nodeUnderlayAddresses: underlay });
  const fdb = sh(['bridge', '-n', HOST_A, 'fdb', 'show', 'dev', 'shx4242']);
  t.equal(fdb.split('\n').filter((l) => l.startsWith('00:00:00:00:00:00') && l.includes('dst 10.99.0.2')).length, 1, 'one flood entry for the peer');

  const ta = planTaskAttachment(TASK_PREFIX, 'taskaaaaaaaaaaaaaaaa', network, '10.0.9.10', '10.0.9.1');
  const tb = planTaskAttachment(TASK_PREFIX, 'taskbbbbbbbbbbbbbbbb', network, '10.0.9.11', '10.0.9.2');
  await a.attachTask(ta);
  await b.attachTask(tb);
  t.equal(readFileSync(path.join(etc, ta.netns, 'resolv.conf'), 'utf8').match(/^nameserver (.*)$/m)?.[1], '10.0.9.1', 'resolv.conf names the node');
  const routes = sh(['ip', '-n', ta.netns, 'route', 'show']);
  t.match(routes, /default via 10\.0\.9\.1/, 'default route via the node');
  t.match(routes, /10\.0\.9\.192\/26 via 10\.0\.9\.1/, 'VIP range via the node');

  // Task to task across hosts (VXLAN), and a task to the other host's bridge address.
  const server = await serveIn(['ip', 'netns', 'exec', tb.netns], '10.0.9.11');
  t.teardown(() => server.kill('SIGKILL'));
  t.equal(await connectFrom(['ip', 'netns', 'exec', ta.netns], '10.0.9.11'), 'hello from 10.0.9.11', 'task a reaches task b on the other host');
  const hostServer = await serveIn(['nsenter', `--net=/run/netns/${HOST_A}`], '10.0.9.1');
  t.teardown(() => hostServer.kill('SIGKILL'));
  t.equal(await connectFrom(['ip', 'netns', 'exec', tb.netns], '10.0.9.1'), 'hello from 10.0.9.1', "task b reaches host a's bridge over the overlay");

  // A peer that leaves the node list leaves the FDB.
  await a.ensureNetwork({ network, nodeAddress: '10.0.9.1', nodeUnderlayAddresses: ['10.99.0.1'] });
  t.notMatch(sh(['bridge', '-n', HOST_A, 'fdb', 'show', 'dev', 'shx4242']), /^00:00:00:00:00:00 dst 10\.99\.0\.2/m, 'gone peer removed');

  await a.syncVips(['10.0.9.192', '10.0.9.193']);
  t.match(sh(['ip', '-n', HOST_A, 'addr', 'show', 'dev', 'lo']), /10\.0\.9\.193\/32 scope global lo:shoal/, 'VIPs on loopback, labelled');
  await a.syncVips(['10.0.9.193']);
  t.notMatch(sh(['ip', '-n', HOST_A, 'addr', 'show', 'dev', 'lo']), /10\.0\.9\.192\//, 'a VIP no longer served is removed');

  server.kill('SIGKILL');
  hostServer.kill('SIGKILL');
  await a.detachTask(ta.netns, ta.veth);
  t.notOk((await listNetns(systemIp)).includes(ta.netns), 'task namespace gone');
  t.equal(await b.removeStaleTasks(TASK_PREFIX), 1, 'stale task namespace of b removed');
  await a.close();
  await b.close();
  for (const h of [HOST_A, HOST_B]) {
    const links = sh(['ip', '-n', h, '-o', 'link', 'show']);
    t.notMatch(links, /shb4242|shx4242|shv/, `${h}: no shoal link left`);
    t.notMatch(sh(['ip', '-n', h, 'addr', 'show', 'dev', 'lo']), /lo:shoal/, `${h}: no VIP left`);
  }
  t.notOk((await listNetns(systemIp)).some((n) => n.startsWith(TASK_PREFIX)), 'no task namespace left');
});

t.test('a VXLAN port already taken: a clear error and no half-built device', async (t) => {
  cleanup();
  t.teardown(cleanup);
  sh(['ip', 'netns', 'add', HOST_A]);
  sh(['ip', '-n', HOST_A, 'link', 'set', 'lo', 'up']);
  // Something else holds the UDP port inside the host.
  const holder = execFile('ip', ['netns', 'exec', HOST_A, process.execPath, '-e',
    `require('dgram').createSocket('udp4').bind(${VXLAN_PORT}, () => console.log('bound'))`]);
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const a = new Overlay({ ip: ipIn(HOST_A), bridge: bridgeIn(HOST_A), logger: pino({ level: 'silent' }) }, { underlayAddress: '127.0.0.1', vxlanPort: VXLAN_PORT });
  await t.rejects(a.ensureNetwork({ network, nodeAddress: '10.0.9.1', nodeUnderlayAddresses: [] }), /UDP port 4799 is already in use/);
  t.notMatch(sh(['ip', '-n', HOST_A, '-o', 'link', 'show']), /shx4242/, 'no VXLAN device left');
  await a.close();
});
