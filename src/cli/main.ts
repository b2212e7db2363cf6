#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Info, SwarmInitResponse } from '../api/contract';
import { DEFAULT_API_PORT } from '../api/client';
import { parsePortRange } from '../agent/executor/host-ports';
import type { Daemon } from '../daemon/daemon';
import { parseDataplaneRequest } from '../mesh/dataplane/select';
import { DEFAULT_RELAY_THREADS, MAX_RELAY_THREADS } from '../mesh/dataplane/userspace/relay-threads';
import type { NetworkMode } from '../mesh/table/service-vip';
import { hasNetAdmin } from '../net/capabilities';
import { DEFAULT_TASK_NETNS_PREFIX, DEFAULT_VXLAN_PORT } from '../net/overlay-plan';
import { ShoalError, InvalidArgumentError } from '../errors';
import { DEFAULT_HEARTBEAT_PERIOD_MS } from '../spec/swarm';
import { defaultDnsPort } from '../mesh/dns/default-port';
import { DEFAULT_NODE_BASE, isIPv4, nodeAddress } from '../model/addresses';
import type { LocalCluster } from '../up/local-cluster';
import { registerNetwork } from './commands/network';
import { registerNode } from './commands/node';
import { registerService } from './commands/service';
import { registerStack } from './commands/stack';
import { registerPayloadCommands } from './commands/payload';
import { registerSwarmLock, unlockKeyNotice } from './commands/swarm-lock';
import { joinTokenCommand, registerSwarmCa } from './commands/swarm-ca';
import { clientFor, DEFAULT_STATE_DIR, type GlobalFlags } from './context';
import { parseDuration } from '../spec/duration';
import { collect, parseCount, parseKeyValues } from './service-flags';
import { parseEtcdUrl } from '../store/etcd-endpoints';
import type { ManagerStoreSpec } from '../daemon/daemon-options';

/** Set by commands that keep running (daemon, up): main() must not exit after them. */
let keepRunning = false;

/** Docker's engine metrics port. */
const DEFAULT_METRICS_PORT = 9323;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The version in the package's own package.json (dist/src/cli/main.js is three levels below it). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function portFlag(v: string, what: string): number {
  const n = parseCount(v, what);
  if (n > 65535) throw new InvalidArgumentError(`invalid ${what} ${n}: must be 0-65535`);
  return n;
}

function logLevel(v: string): string {
  if (!LOG_LEVELS.includes(v)) throw new InvalidArgumentError(`invalid log level "${v}": use ${LOG_LEVELS.join(', ')}`);
  return v;
}

function address(v: string): string {
  if (!isIPv4(v)) throw new InvalidArgumentError(`invalid address "${v}": use an IPv4 address such as 127.0.1.1`);
  return v;
}

/** Build the `shoal` command tree. */
export function buildProgram(): Command {
  const program = new Command('shoal')
    .description('A Swarm-mode-style cluster: routing mesh, embedded DNS, load balancer and scheduler')
    .version(packageVersion(), '-v, --version', 'Print the version of shoal')
    .option('-H, --host <host>', 'Daemon socket to connect to (unix:///path or tcp://host:port; env SHOAL_HOST)')
    .option('--tlscacert <file>', 'For tcp:// hosts: the swarm CA bundle (or SHOAL_CERT_PATH/ca.pem)')
    .option('--tlscert <file>', 'For tcp:// hosts: the client certificate (swarm ca --client-cert; or SHOAL_CERT_PATH/cert.pem)')
    .option('--tlskey <file>', "For tcp:// hosts: the client certificate's key (or SHOAL_CERT_PATH/key.pem)")
    .enablePositionalOptions()
    .showSuggestionAfterError(true);
  program.configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') });
  const globals = () => program.opts<GlobalFlags>();

  program
    .command('daemon')
    .description('Run a node daemon (mesh, DNS, agent; a manager too after swarm init)')
    .option('--addr <ip>', 'Address the node listens on', DEFAULT_NODE_BASE)
    .option('--state-dir <dir>', 'State directory', DEFAULT_STATE_DIR)
    .option('--socket <path>', 'Control socket (default <state-dir>/shoal.sock)')
    .option('--hostname <name>', 'Node hostname', os.hostname())
    .option('--label <KEY=VALUE>', 'Node label', collect, [])
    .option('--dns-port <port>', 'DNS port (default 53 when it can be bound, else 5353)')
    .option('--dns-upstream <ip[:port]>', 'Resolver for names outside the cluster (default: /etc/resolv.conf)', collect, [])
    .option('--dns-ttl <seconds>', 'TTL of cluster answers, 0-600', '0')
    .option('--metrics-port <port>', 'Port of /metrics and /healthz', String(DEFAULT_METRICS_PORT))
    .option('--api-port <port>', 'Manager API port', String(DEFAULT_API_PORT))
    .option('--heartbeat <duration>', 'Heartbeat period', `${DEFAULT_HEARTBEAT_PERIOD_MS}ms`)
    .option('--init', 'Initialise a new swarm on first start')
    .option('--autolock', 'With --init: require an unlock key after a restart (shoal swarm unlock-key prints it)')
    .option('--join <manager>', 'Join the swarm at host:port on first start (needs --token)')
    .option('--token <token>', 'Join token for --join (env SHOAL_TOKEN)')
    .option('--network-mode <mode>', 'loopback, or netns: tasks in namespaces on VXLAN overlays (default: netns with CAP_NET_ADMIN, else loopback)')
    .option('--dataplane <name>', 'auto, ipvs, nftables or userspace', 'auto')
    .option('--vxlan-port <port>', 'UDP port of the overlay (netns mode)', String(DEFAULT_VXLAN_PORT))
    .option('--relay-threads <n>', `Threads of the userspace TCP relay (native addon), 1-${MAX_RELAY_THREADS}`, String(DEFAULT_RELAY_THREADS))
    .option('--task-port-range <first-last>', 'Ports tasks listen on in loopback mode, reserved host-wide', '20000-32767')
    .option('--store <etcd://h1:2379,...>', "Managers: keep the cluster state in this etcd cluster, shared by every manager (default: an embedded store, one manager)")
    .option('--store-cacert <file>', 'CA certificate of the etcd members (turns on TLS)')
    .option('--store-cert <file>', 'Client certificate for etcd (with --store-key)')
    .option('--store-key <file>', 'Client key for etcd')
    .option('--log-level <level>', 'Log level', 'info')
    .action(async (f: Record<string, string | string[] | boolean | undefined>) => {
      const networkMode = parseNetworkMode(f.networkMode as string | undefined);
      const dataplane = parseDataplaneRequest(f.dataplane as string);
      if (networkMode === 'loopback' && (dataplane === 'ipvs' || dataplane === 'nftables')) {
        throw new InvalidArgumentError(`--dataplane ${dataplane} needs --network-mode netns (loopback mode forwards in userspace)`);
      }
      const token = (f.token as string | undefined) ?? process.env.SHOAL_TOKEN;
      if (f.join && !token) throw new InvalidArgumentError('--join needs --token');
      if (f.join && f.init) throw new InvalidArgumentError('--init and --join cannot be used together');
      const store = storeFlags(f);
      const addr = address(f.addr as string);
      const relayThreads = parseCount(f.relayThreads as string, 'relay threads');
      if (relayThreads < 1 || relayThreads > MAX_RELAY_THREADS) {
        throw new InvalidArgumentError(`invalid relay threads ${relayThreads}: must be 1-${MAX_RELAY_THREADS}`);
      }
      const ttl = parseCount(f.dnsTtl as string, 'DNS TTL');
      if (ttl > 600) throw new InvalidArgumentError(`invalid DNS TTL ${ttl}: must be 0-600`);
      const logger = pino({ level: logLevel(f.logLevel as string) }, pino.destination(2));
      // The daemon and shoal up load the whole node (etcd3, the PKI, the dataplanes) on demand, so every other command starts fast.
      const { Daemon } = await import('../daemon/daemon.js');
      const daemon: Daemon = new Daemon(
        { logger, now: Date.now },
        {
          address: addr,
          stateDir: path.resolve(f.stateDir as string),
          socketPath: f.socket ? path.resolve(f.socket as string) : undefined,
          hostname: f.hostname as string,
          labels: parseKeyValues(f.label as string[], 'label'),
          dnsPort: f.dnsPort !== undefined ? portFlag(f.dnsPort as string, 'DNS port') : await defaultDnsPort(addr),
          dnsUpstreams: (f.dnsUpstream as string[]).length > 0 ? (f.dnsUpstream as string[]) : undefined,
          dnsTtl: ttl,
          metricsPort: portFlag(f.metricsPort as string, 'metrics port'),
          apiPort: portFlag(f.apiPort as string, 'API port'),
          heartbeatMs: parseDuration(f.heartbeat as string, 'heartbeat period'),
          init: !!f.init,
          autolock: !!f.autolock,
          join: f.join ? { addr: f.join as string, token: token! } : undefined,
          networkMode,
          dataplane,
          vxlanPort: portFlag(f.vxlanPort as string, 'VXLAN port'),
          relayThreads,
          taskPortRange: parsePortRange(f.taskPortRange as string),
          netnsPrefix: process.env.SHOAL_NETNS_PREFIX || DEFAULT_TASK_NETNS_PREFIX,
          store,
        },
      );
      keepRunning = true;
      const shutdown = () => void daemon.stop().then(() => process.exit(0));
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      try {
        await daemon.start();
      } catch (err) {
        await daemon.stop().catch(() => undefined);
        throw err;
      }
    });

  program
    .command('up')
    .description('Start a local cluster on this machine and deploy the demo stack')
    .option('--nodes <n>', 'Number of nodes (127.0.1.1, 127.0.1.2, ...)', '3')
    .option('--managers <n>', 'Managers among them: 1, or 3, 5, 7 on a local etcd cluster (needs etcd-server)', '1')
    .option('--state-dir <dir>', 'State directory', DEFAULT_STATE_DIR)
    .option('--addr <ip>', 'Address of node 1', DEFAULT_NODE_BASE)
    .option('--stack <file>', 'Stack file to deploy', path.join(__dirname, '..', '..', '..', 'deploy', 'stack.yml'))
    .option('--no-stack', 'Deploy nothing')
    .option('--dns-port <port>', 'DNS port of every node (default 53 when it can be bound, else 5353)')
    .option('--metrics-port <port>', 'Metrics port of every node', String(DEFAULT_METRICS_PORT))
    .option('--api-port <port>', 'Manager API port', String(DEFAULT_API_PORT))
    .option('--heartbeat <duration>', 'Heartbeat period')
    .option('--log-level <level>', 'Daemon log level (logs go to <state-dir>/.../daemon.log)', 'info')
    .action(async (f: { nodes: string; managers: string; stateDir: string; addr: string; stack: string | false; dnsPort?: string; metricsPort: string; apiPort: string; heartbeat?: string; logLevel: string }) => {
      const nodes = parseCount(f.nodes, 'node count');
      if (nodes < 1 || nodes > 200) throw new InvalidArgumentError(`invalid node count ${nodes}: must be 1-200`);
      const managers = parseCount(f.managers, 'manager count');
      if (![1, 3, 5, 7].includes(managers)) throw new InvalidArgumentError(`invalid manager count ${managers}: use 1, 3, 5 or 7 (an odd etcd cluster)`);
      if (managers > nodes) throw new InvalidArgumentError(`invalid manager count ${managers}: more than the ${nodes} nodes`);
      const base = address(f.addr);
      const dnsPort = f.dnsPort !== undefined ? portFlag(f.dnsPort, 'DNS port') : await defaultDnsPort(base);
      const { loadStackFile } = await import('../up/stack-file.js');
      const stack = f.stack ? await loadStackFile(f.stack, (w) => process.stderr.write(`warning: ${w}\n`)) : [];
      const { LocalCluster } = await import('../up/local-cluster.js');
      const cluster: LocalCluster = new LocalCluster({
        nodes,
        managers,
        stateDir: f.stateDir,
        addressBase: base,
        dnsPort,
        metricsPort: portFlag(f.metricsPort, 'metrics port'),
        apiPort: portFlag(f.apiPort, 'API port'),
        heartbeatMs: f.heartbeat ? parseDuration(f.heartbeat, 'heartbeat period') : undefined,
        logLevel: logLevel(f.logLevel),
        stack,
      });
      cluster.onNodeExit = (host, code, signal) =>
        process.stderr.write(`shoal up: ${host} exited (${signal ?? `code ${code}`}); the cluster carries on without it\n`);
      keepRunning = true;
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('\nStopping every task and node...\n');
        void cluster.stop().then(() => {
          process.stdout.write('Stopped. State is kept in ' + path.resolve(f.stateDir) + '; `npm start` resumes it.\n');
          process.exit(0);
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        await cluster.start();
      } catch (err) {
        await cluster.stop();
        throw err;
      }
      printWelcome(cluster, stack, base, nodes, dnsPort, portFlag(f.metricsPort, 'metrics port'), f.stateDir);
    });

  const swarm = program.command('swarm').description('Manage the swarm');
  swarm
    .command('init')
    .description('Initialise a swarm: this daemon becomes its manager')
    .option('--advertise-addr <ip>', 'Address other nodes use to reach this manager')
    .option('--autolock', 'Require an unlock key to start a stopped manager (it holds the secrets key)')
    .option('--cert-expiry <duration>', 'Validity of node certificates (default 90 days, e.g. 2160h; at least 1h)')
    .action(async (f: { advertiseAddr?: string; autolock?: boolean; certExpiry?: string }) => {
      const certExpiryMs = f.certExpiry === undefined ? undefined : parseDuration(f.certExpiry, 'cert expiry');
      const r = await clientFor(globals()).call<SwarmInitResponse>('POST', '/v1/swarm/init', { advertiseAddr: f.advertiseAddr, autolock: !!f.autolock, certExpiryMs });
      process.stdout.write(
        `Swarm initialized: current node (${r.nodeId}) is now a manager.\n\nTo add a worker to this swarm, run the following command:\n\n    ${r.joinCommand}\n\n`,
      );
      if (r.unlockKey) process.stdout.write(unlockKeyNotice(r.unlockKey));
    });
  swarm
    .command('join')
    .description('Join a swarm as a node')
    .requiredOption('--token <token>', 'Join token')
    .argument('<manager>', 'host:port of the manager')
    .action(async (manager: string, f: { token: string }) => {
      const info = await clientFor(globals()).call<Info>('POST', '/v1/swarm/join', { remoteAddr: manager, token: f.token });
      process.stdout.write(`This node joined a swarm as a ${info.role === 'manager' ? 'manager' : 'worker'}.\n`);
    });
  swarm
    .command('join-token')
    .description('Print the join command for workers or managers')
    .option('-q, --quiet', 'Only display the token')
    .option('--rotate', 'Replace the token: the old one stops working, joined nodes are not affected')
    .argument('<role>', 'worker or manager')
    .action((role: string, f: { quiet?: boolean; rotate?: boolean }) => joinTokenCommand(globals(), role, f));
  swarm
    .command('leave')
    .description('Leave the swarm (stops every task on this node)')
    .option('-f, --force', 'Leave even as the manager (removes the swarm state)')
    .action(async (f: { force?: boolean }) => {
      await clientFor(globals()).call('POST', '/v1/swarm/leave', { force: !!f.force });
      process.stdout.write('Node left the swarm.\n');
    });

  registerSwarmLock(swarm, globals);
  registerSwarmCa(swarm, globals);
  registerNode(program, globals);
  registerPayloadCommands(program, globals, 'secret');
  registerPayloadCommands(program, globals, 'config');
  registerService(program, globals);
  registerNetwork(program, globals);
  registerStack(program, globals);
  return program;
}

function printWelcome(cluster: LocalCluster, stack: { name: string; endpoint: { ports: { publishedPort?: number; protocol: string; targetPort: number }[] } }[], base: string, nodes: number, dnsPort: number, metricsPort: number, stateDir: string): void {
  const addrs = Array.from({ length: nodes }, (_, i) => nodeAddress(base, i + 1));
  const lines = [
    '',
    `shoal: a ${nodes}-node cluster is up (state in ${path.resolve(stateDir)})`,
    '',
    'Nodes:',
    ...cluster.nodes().map((n) => `  ${n.hostname.padEnd(8)} ${n.address.padEnd(12)} pid ${n.pid}   metrics http://${n.address}:${metricsPort}/metrics   log ${path.join(n.stateDir, 'daemon.log')}`),
    '',
    'Published ports (answer on every node):',
    ...stack.flatMap((s) =>
      s.endpoint.ports
        .filter((p) => p.publishedPort !== undefined)
        .map((p) =>
          `  ${s.name.padEnd(8)} ${p.protocol} ${p.publishedPort} -> ${p.targetPort}   e.g. ` +
          (p.protocol === 'tcp' ? `curl http://${addrs[0]}:${p.publishedPort}/` : `echo hi | nc -u -w1 ${addrs[addrs.length - 1]} ${p.publishedPort}`),
        ),
    ),
    '',
    `DNS: every node answers on its address, port ${dnsPort}:  dig @${addrs[0]} -p ${dnsPort} web   /   dig @${addrs[0]} -p ${dnsPort} tasks.web`,
    '',
    'Manage it from another terminal in this directory:',
    '  npx shoal service ls',
    '  npx shoal service ps web',
    '  npx shoal service scale web=6',
    '  npx shoal node ls',
    '',
    'Ctrl-C stops every task and node; `npm start` again resumes from the saved state.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** Run the CLI; user errors print one line and exit 1. */
export async function main(argv: string[]): Promise<void> {
  // `shoal service logs -f | head`: the reader went away, which ends the command, as for any Unix tool.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  const forAll = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') });
    c.commands.forEach(forAll);
  };
  forAll(program);
  try {
    await program.parseAsync(argv);
    // Short commands exit now rather than wait for keep-alive sockets to time out.
    if (!keepRunning) process.stdout.write('', () => process.exit(0));
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : 1);
    }
    const msg = err instanceof ShoalError ? err.message : `unexpected failure: ${(err as Error).stack ?? String(err)}`;
    process.stderr.write(`error: ${msg}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main(process.argv);

/** `--network-mode`: as given, else netns when this process may configure networking. */
function parseNetworkMode(value: string | undefined): NetworkMode {
  if (value === undefined) return hasNetAdmin() ? 'netns' : 'loopback';
  if (value === 'loopback' || value === 'netns') return value;
  throw new InvalidArgumentError(`--network-mode must be loopback or netns, got "${value}"`);
}

/** `--store` and its TLS files, checked before anything starts. */
function storeFlags(f: Record<string, unknown>): ManagerStoreSpec | undefined {
  const url = f.store as string | undefined;
  const [caFile, certFile, keyFile] = [f.storeCacert, f.storeCert, f.storeKey] as (string | undefined)[];
  if (url === undefined) {
    if (caFile || certFile || keyFile) throw new InvalidArgumentError('--store-cacert, --store-cert and --store-key go with --store');
    return undefined;
  }
  parseEtcdUrl(url);
  if (!certFile !== !keyFile) throw new InvalidArgumentError('--store-cert and --store-key go together');
  if (certFile && !caFile) throw new InvalidArgumentError('--store-cert needs --store-cacert (TLS to etcd)');
  return { url, ...(caFile && { tls: { caFile, ...(certFile && { certFile, keyFile }) } }) };
}

