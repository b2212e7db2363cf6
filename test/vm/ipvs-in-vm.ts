/**
 * Runs as the only program inside the test VM (see build-initramfs.ts):
 * loads the IPVS modules, puts a foreign service in place with ipvsadm,
 * probes IPVS, then drives the real IpvsDataplane through three tables and a
 * close, and a second one in fwmark ingress mode through one table and a
 * close, printing `ipvsadm -Ln` after each step between console markers
 * (vm-console.ts) for the host to check. Connections through the VIP, from
 * this machine to itself, give the draining backend something to drain.
 * Not a tap test: it needs the VM's kernel and root, and the host test
 * (ipvs-vm.test.ts) does the asserting.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { promisify } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createIpvsDataplane } from '../../src/mesh/dataplane/ipvs/ipvs-dataplane';
import type { IpvsDataplane } from '../../src/mesh/dataplane/ipvs/ipvs-dataplane';
import { probeIpvs } from '../../src/mesh/dataplane/ipvs/ipvs-probe';
import type { Backend, Frontend, LbTable } from '../../src/mesh/table/table';
import type { VmConfig } from './build-initramfs';
import { beginLine, endLine, errorLine, jsonLine } from './vm-console';

const run = promisify(execFile);

/** The VIP frontend and its backends, as the host test expects them. */
export const VM_VIP = { address: '10.0.0.192', port: 80 };
/** Backend addresses; all on this machine's loopback so connections through the VIP complete. */
export const VM_BACKENDS = ['10.0.1.1', '10.0.1.2', '10.0.1.3'];
export const VM_BACKEND_PORT = 8080;
/** The UDP ingress frontend (IngressMode `address`: a plain service on the node address). */
export const VM_INGRESS = { address: '192.168.77.1', port: 5353 };
export const VM_UDP_BACKEND_PORT = 53;
/** A published port served the Docker way (IngressMode `fwmark`): an IPVS service keyed by firewall mark. */
export const VM_FWMARK_INGRESS = { address: '192.168.77.1', port: 8443 };
/** The service ipvsadm creates before shoal starts, which shoal must leave alone. */
export const VM_FOREIGN = { service: '10.9.9.9:99', dest: '10.9.9.10:99' };
/** VIP range shoal owns here, as the daemon passes its overlay subnets. */
const OWNED_RANGES = ['10.0.0.0/24'];
/** How long the connections through the VIP may take to be accepted (TCG is slow, not this slow). */
const ACCEPT_TIMEOUT_MS = 20_000;
/** Name of the operations counter of the IPVS dataplane (ipvs-metrics.ts). */
const OPERATIONS_METRIC = 'shoal_ipvs_operations_total';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function backend(i: number, weight: number, port = VM_BACKEND_PORT): Backend {
  return { id: `task-${i}-${port}`, address: VM_BACKENDS[i], port, weight };
}

function vip(policy: 'round-robin' | 'least-connections', backends: Backend[]): Frontend {
  return {
    id: `vip/tcp/${VM_VIP.address}:${VM_VIP.port}`,
    kind: 'vip',
    protocol: 'tcp',
    address: VM_VIP.address,
    port: VM_VIP.port,
    service: 'web',
    backends,
    lb: { policy },
  };
}

function ingress(backends: Backend[]): Frontend {
  return {
    id: `ingress/udp/${VM_INGRESS.address}:${VM_INGRESS.port}`,
    kind: 'ingress',
    protocol: 'udp',
    address: VM_INGRESS.address,
    port: VM_INGRESS.port,
    service: 'dns',
    backends,
    lb: { policy: 'source-hash' },
  };
}

/**
 * The steps, in order. `initial`: both frontends, every backend serving.
 * `drain`: backend 2 draining (it holds a connection by then, so it stays
 * at weight 0) and backend 3 added. `change`: the VIP moves to
 * least-connections, backend 3 (no connections) and the second UDP backend
 * are removed.
 */
export const VM_TABLES: { name: string; table: LbTable }[] = [
  {
    name: 'initial',
    table: { frontends: [vip('round-robin', [backend(0, 1), backend(1, 1)]), ingress([backend(0, 1, VM_UDP_BACKEND_PORT), backend(1, 1, VM_UDP_BACKEND_PORT)])] },
  },
  {
    name: 'drain',
    table: {
      frontends: [vip('round-robin', [backend(0, 1), backend(1, 0), backend(2, 1)]), ingress([backend(0, 1, VM_UDP_BACKEND_PORT), backend(1, 1, VM_UDP_BACKEND_PORT)])],
    },
  },
  {
    name: 'change',
    table: { frontends: [vip('least-connections', [backend(0, 1), backend(1, 0)]), ingress([backend(0, 1, VM_UDP_BACKEND_PORT)])] },
  },
];

async function sh(file: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await run(file, args);
  return stdout + stderr;
}

async function printIpvsadm(name: string): Promise<void> {
  const text = await sh('ipvsadm', ['-Ln']);
  say(beginLine(name));
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  say(endLine(name));
}

async function loadModules(config: VmConfig): Promise<void> {
  const loaded: string[] = [];
  const failed: { name: string; error: string }[] = [];
  for (const m of config.modules) {
    if (existsSync(`/sys/module/${m.name}`)) continue;
    try {
      await sh('insmod', [m.path]);
      loaded.push(m.name);
    } catch (err) {
      // Soft dependencies such as crc32c-intel may not fit this CPU; ip_vs itself is checked by the probe.
      failed.push({ name: m.name, error: (err as Error).message.split('\n')[0] });
    }
  }
  say(jsonLine('modules', { loaded, failed, ipvs: existsSync('/sys/module/ip_vs') }));
}

async function operationsSoFar(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric(OPERATIONS_METRIC);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Backends listening on every loopback address the table uses; records which address each connection reached. */
function startBackends(): Promise<{ server: Server; accepted: string[]; sockets: Socket[] }> {
  const accepted: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s.localAddress ?? '?');
    sockets.push(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(VM_BACKEND_PORT, '0.0.0.0', () => resolve({ server, accepted, sockets }));
  });
}

function openClient(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(VM_VIP.port, VM_VIP.address);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + ACCEPT_TIMEOUT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The default ingress mode, fwmark services, on a dataplane of its own (no owned ranges: the foreign service stays foreign). */
async function fwmarkIngress(familyId: number): Promise<void> {
  const registry = new Registry();
  const dp = createIpvsDataplane({ logger: pino({ level: 'warn' }), registry }, { ingress: 'fwmark', resyncIntervalMs: 0, familyId });
  const frontend: Frontend = {
    id: `ingress/tcp/${VM_FWMARK_INGRESS.address}:${VM_FWMARK_INGRESS.port}`,
    kind: 'ingress',
    protocol: 'tcp',
    address: VM_FWMARK_INGRESS.address,
    port: VM_FWMARK_INGRESS.port,
    service: 'web-tls',
    backends: [backend(0, 1, VM_FWMARK_INGRESS.port)],
  };
  const table: LbTable = { frontends: [frontend] };
  const result = await dp.apply(table);
  const before = await operationsSoFar(registry);
  const again = await dp.apply(table);
  const reapplyOps = (await operationsSoFar(registry)) - before;
  say(jsonLine('apply-fwmark', { result, again, reapplyOps, owned: dp.ownedServices() }));
  await printIpvsadm('fwmark');
  await dp.close();
  await printIpvsadm('fwmark-closed');
}

async function main(configPath: string): Promise<void> {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as VmConfig;
  say(jsonLine('booted', { kernel: config.kernelVersion, node: process.version }));
  await loadModules(config);

  await sh('ipvsadm', ['-A', '-t', VM_FOREIGN.service, '-s', 'rr']);
  await sh('ipvsadm', ['-a', '-t', VM_FOREIGN.service, '-r', VM_FOREIGN.dest, '-m', '-w', '3']);
  await printIpvsadm('before');

  const probe = await probeIpvs();
  say(jsonLine('probe', probe));
  if (!probe.ok) throw new Error(`probe: ${probe.reason}`);

  for (const address of [VM_VIP.address, ...VM_BACKENDS]) await sh('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
  const backends = await startBackends();

  const registry = new Registry();
  const dp: IpvsDataplane = createIpvsDataplane(
    { logger: pino({ level: 'warn' }), registry },
    { ingress: 'address', ownedRanges: OWNED_RANGES, resyncIntervalMs: 0, familyId: probe.familyId },
  );
  const clients: Socket[] = [];
  for (const [i, step] of VM_TABLES.entries()) {
    const result = await dp.apply(step.table);
    const before = await operationsSoFar(registry);
    // The same table again must change nothing: what the kernel dumps has to read back as what was sent.
    const again = await dp.apply(step.table);
    const reapplyOps = (await operationsSoFar(registry)) - before;
    say(jsonLine(`apply-${step.name}`, { result, again, reapplyOps, owned: dp.ownedServices() }));
    await printIpvsadm(step.name);
    if (i === 0) {
      // rr over two backends: one connection each, both established before the drain.
      clients.push(await openClient(), await openClient());
      await waitFor('two accepted connections', () => backends.accepted.length >= 2);
      say(jsonLine('connections', { accepted: [...backends.accepted].sort() }));
    }
  }

  for (const c of clients) c.destroy();
  for (const s of backends.sockets) s.destroy();
  await dp.close();
  await dp.close();
  await printIpvsadm('closed');
  backends.server.close();
  await fwmarkIngress(probe.familyId);
  say(jsonLine('done', { ok: true }));
}

/** Set by /init (build-initramfs.ts); without it this is not the VM and the host's IPVS must not be touched. */
export const VM_GUEST_ENV = 'SHOAL_VM_GUEST';

if (require.main === module && process.env[VM_GUEST_ENV] !== '1') {
  // Picked up on its own by a `tap <dir>` run, or started by hand on a host: a TAP skip, nothing else.
  say(`1..0 # runs inside the VM only (${VM_GUEST_ENV}=1), started by ipvs-vm.test.ts`);
} else if (require.main === module) {
  main(process.argv[2] ?? '/etc/shoal-vm.json').then(
    () => process.exit(0),
    (err: unknown) => {
      say(errorLine(err instanceof Error ? (err.stack ?? err.message) : String(err)));
      process.exit(1);
    },
  );
}
