/**
 * A netns-mode node in miniature for the real-kernel nftables tests: a
 * "node" namespace with bridge br0 (the overlay bridge, 10.99.0.1/24) and
 * forwarding on; a "client" namespace and a "tasks" namespace (the backends,
 * one address each, served by backend-server.js) on that bridge, each
 * routing the VIP block 10.99.0.192/26 via the node, as task namespaces do. Everything is named
 * `shoaltest-nft-<random>-*` and removed at the test's teardown, processes
 * first; the root namespace is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type {} from 'tap';
import { addBridge, enslave } from '../../../../src/net/bridge';
import { systemIp } from '../../../../src/net/ip-command';
import { addNetns, netnsExecArgv, parsePids } from '../../../../src/net/netns';
import { addressAndUp, addVeth } from '../../../../src/net/veth';

/** How long a backend process may take to say it is ready. */
const READY_TIMEOUT_MS = 10_000;

/** Port every backend listens on, TCP and UDP, each on its own address. */
export const BACKEND_PORT = 8080;

/** What the forwarding child needs to know, passed as JSON in SHOAL_NFT_TOPOLOGY. */
export interface Topology {
  node: string;
  client: string;
  /** The node's address on the bridge: gateway of every namespace, where ingress frontends go. */
  nodeAddress: string;
  /** Two VIPs from the routed block. */
  vips: string[];
  backends: { name: string; netns: string; address: string; port: number }[];
}

/** Namespace names start with this, so tests never collide with anything else. */
export const NETNS_PREFIX = 'shoaltest-nft-';

/** A fresh prefix `shoaltest-nft-<6 random hex>`. */
export function randomPrefix(): string {
  return `${NETNS_PREFIX}${randomBytes(3).toString('hex')}`;
}

/** Run `argv` in a namespace to completion; resolves stdout. */
export function execIn(netns: string, argv: string[], input?: string): Promise<string> {
  const [cmd, ...args] = netnsExecArgv(netns, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    // A command that never reads stdin may exit before the write lands.
    child.stdin.on('error', () => undefined);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`in ${netns}: ${argv.join(' ')}: ${err.trim() || code}`))));
    child.stdin.end(input ?? '');
  });
}

// Namespaces not yet deleted, so a test process that dies early (a tap timeout) still removes them on exit.
const live = new Set<string>();

function killAll(pids: number[]): void {
  for (const pid of pids.filter((p) => p !== process.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function removeLiveSync(): void {
  for (const name of live) {
    try {
      killAll(parsePids(systemIp.runSync(['netns', 'pids', name])));
      systemIp.runSync(['netns', 'delete', name]);
    } catch {
      // not there any more
    }
  }
  live.clear();
}

/** Creates a namespace that the test's teardown deletes, killing whatever still runs in it. */
export async function scratchNetns(t: tap.Test, name: string): Promise<string> {
  if (live.size === 0) process.once('exit', removeLiveSync);
  live.add(name);
  t.teardown(async () => {
    killAll(parsePids(await systemIp.run(['netns', 'pids', name]).catch(() => '')));
    await systemIp.run(['netns', 'delete', name]).catch(() => undefined);
    live.delete(name);
  });
  await addNetns(systemIp, name);
  return name;
}

/** Builds the node, client and backend namespaces and starts the backends. */
export async function buildTopology(t: tap.Test, backendNames: string[]): Promise<Topology> {
  const prefix = randomPrefix();
  const node = await scratchNetns(t, `${prefix}-node`);
  await addBridge(systemIp, node, 'br0');
  await systemIp.run(['-n', node, 'addr', 'add', '10.99.0.1/24', 'dev', 'br0']);
  await execIn(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  // Clients and backends share the bridge: the node forwards out the port it
  // received on, and must not tell clients to go around it (ICMP redirect).
  for (const scope of ['all', 'default', 'br0']) await execIn(node, ['sysctl', '-q', '-w', `net.ipv4.conf.${scope}.send_redirects=0`]);

  const attach = async (netns: string, short: string, address: string) => {
    await addVeth(systemIp, { netns: node, name: `v${short}`, peerNetns: netns, peerName: 'eth0' });
    await enslave(systemIp, node, `v${short}`, 'br0');
    await addressAndUp(systemIp, netns, 'eth0', `${address}/24`);
    await systemIp.run(['-n', netns, 'route', 'add', '10.99.0.192/26', 'via', '10.99.0.1']);
  };
  const client = await scratchNetns(t, `${prefix}-client`);
  await attach(client, 'client', '10.99.0.2');

  // One namespace and one process for every backend, each on its own address: what matters is that
  // they sit on the client's bridge, so replies skip the node unless it masquerades.
  const tasks = await scratchNetns(t, `${prefix}-tasks`);
  await attach(tasks, 'tasks', '10.99.0.11');
  const backends: Topology['backends'] = backendNames.map((name, i) => ({ name, netns: tasks, address: `10.99.0.${11 + i}`, port: BACKEND_PORT }));
  for (const b of backends.slice(1)) await systemIp.run(['-n', tasks, 'addr', 'add', `${b.address}/24`, 'dev', 'eth0']);
  await startBackends(t, tasks, backends);
  return { node, client, nodeAddress: '10.99.0.1', vips: ['10.99.0.200', '10.99.0.201'], backends };
}

async function startBackends(t: tap.Test, netns: string, backends: Topology['backends']): Promise<void> {
  const argv = [process.execPath, path.join(__dirname, 'backend-server.js'), String(BACKEND_PORT), ...backends.map((b) => `${b.name}=${b.address}`)];
  const [cmd, ...args] = netnsExecArgv(netns, argv);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`backends not ready: ${err}`)), READY_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backends exited with ${code}: ${err}`));
    });
  });
}
