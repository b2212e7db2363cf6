import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../api/client';
import type { Info, JoinTokenResponse } from '../api/contract';
import { DaemonExitedError, WaitTimeoutError } from '../errors';
import { nodeAddress } from '../model/addresses';
import { LocalEtcd } from './local-etcd';
import type { Node, Service, ServiceSpec } from '../model/types';

/** Settings of `shoal up`. */
export interface LocalClusterOptions {
  nodes: number;
  /** Managers among the nodes (1, 3, 5 or 7); more than one keep the state in an etcd member on each [1]. */
  managers?: number;
  stateDir: string;
  /** Address of node 1; node k gets base + k - 1. */
  addressBase: string;
  dnsPort?: number;
  metricsPort: number;
  apiPort: number;
  heartbeatMs?: number;
  logLevel: string;
  /** Services to create when they do not exist yet. */
  stack: ServiceSpec[];
}

/** One supervised daemon. */
interface NodeProcess {
  index: number;
  hostname: string;
  address: string;
  stateDir: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** How long `shoal up` waits for the cluster to come up. */
const STARTUP_TIMEOUT_MS = 60_000;
/** How long a daemon gets to stop its tasks on Ctrl-C before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `shoal up`: one `shoal daemon` process per node on 127.0.1.k, the first
 * one the manager, supervised from here: their logs go to
 * `<state-dir>/.../daemon.log`, a daemon that dies is reported, and stop()
 * (Ctrl-C) stops every task and node cleanly. State stays in the state dir,
 * so the next `shoal up` resumes.
 */
export class LocalCluster {
  private procs: NodeProcess[] = [];
  private etcd: LocalEtcd | undefined;
  readonly socketPath: string;
  private stopping = false;
  /** Called when a daemon exits on its own. */
  onNodeExit: (hostname: string, code: number | null, signal: string | null) => void = () => undefined;

  constructor(private readonly options: LocalClusterOptions) {
    this.socketPath = path.join(path.resolve(options.stateDir), 'shoal.sock');
  }

  /** State dir of node k: node 1 uses the top state dir, so its socket is `<state-dir>/shoal.sock`. */
  nodeStateDir(k: number): string {
    const top = path.resolve(this.options.stateDir);
    return k === 1 ? top : path.join(top, 'nodes', `node-${k}`);
  }

  private spawnDaemon(k: number, extra: string[]): NodeProcess {
    const address = nodeAddress(this.options.addressBase, k);
    const stateDir = this.nodeStateDir(k);
    mkdirSync(stateDir, { recursive: true });
    const hostname = `node-${k}`;
    const args = [
      path.join(__dirname, '..', 'cli', 'main.js'),
      'daemon',
      '--addr', address,
      '--state-dir', stateDir,
      '--hostname', hostname,
      // A local cluster shares one network namespace: its nodes are simulated on loopback addresses.
      '--network-mode', 'loopback',
      '--metrics-port', String(this.options.metricsPort),
      '--api-port', String(this.options.apiPort),
      '--log-level', this.options.logLevel,
      ...(this.options.dnsPort !== undefined ? ['--dns-port', String(this.options.dnsPort)] : []),
      ...(this.options.heartbeatMs !== undefined ? ['--heartbeat', `${this.options.heartbeatMs}ms`] : []),
      ...extra,
    ];
    const log = openSync(path.join(stateDir, 'daemon.log'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.onNodeExit(hostname, code, signal);
        resolve();
      }),
    );
    const p: NodeProcess = { index: k, hostname, address, stateDir, child, exited };
    this.procs.push(p);
    return p;
  }

  /** Start (or resume) every node, wait until all are ready, deploy missing stack services. */
  async start(): Promise<void> {
    const managers = this.options.managers ?? 1;
    let store: string[] = [];
    if (managers > 1) {
      const addresses = Array.from({ length: managers }, (_, i) => nodeAddress(this.options.addressBase, i + 1));
      this.etcd = new LocalEtcd(addresses, path.join(path.resolve(this.options.stateDir), 'etcd'));
      await this.etcd.start();
      store = ['--store', this.etcd.url];
    }
    const manager = this.spawnDaemon(1, ['--init', ...store]);
    const client = new ApiClient({ kind: 'unix', path: this.socketPath }, { timeoutMs: 5_000 });
    try {
      await this.waitFor('the manager', manager, async () => (await client.call<Info>('GET', '/v1/info')).isManager);
      const token = async (role: 'worker' | 'manager') => client.call<JoinTokenResponse>('GET', `/v1/swarm/join-token/${role}`);
      const join = await token('worker');
      const managerAddr = join.command.split(' ').pop()!;
      const managerToken = managers > 1 ? (await token('manager')).token : '';
      for (let k = 2; k <= this.options.nodes; k++) {
        this.spawnDaemon(k, k <= managers ? ['--join', managerAddr, '--token', managerToken, ...store] : ['--join', managerAddr, '--token', join.token]);
      }
      await this.waitFor('all nodes', manager, async () => {
        const nodes = await client.call<Node[]>('GET', '/v1/nodes');
        const ready = new Set(nodes.filter((n) => n.status.state === 'ready').map((n) => n.address));
        return this.procs.every((p) => ready.has(p.address));
      });
      const existing = new Set((await client.call<Service[]>('GET', '/v1/services')).map((s) => s.spec.name));
      for (const spec of this.options.stack) if (!existing.has(spec.name)) await client.call('POST', '/v1/services', { spec });
    } finally {
      await client.close();
    }
  }

  private async waitFor(what: string, watched: NodeProcess, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (this.procs.some((p) => p.child.exitCode !== null || p.child.signalCode !== null)) {
        const dead = this.procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null)!;
        throw new DaemonExitedError(`${dead.hostname} exited while starting; see ${path.join(dead.stateDir, 'daemon.log')}`);
      }
      try {
        if (await check()) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new WaitTimeoutError(`timed out waiting for ${what}; see ${path.join(watched.stateDir, 'daemon.log')}`);
      await sleep(POLL_MS);
    }
  }

  /** The supervised daemons: hostname, address, pid. */
  nodes(): { hostname: string; address: string; pid: number | undefined; stateDir: string }[] {
    return this.procs.map((p) => ({ hostname: p.hostname, address: p.address, pid: p.child.pid, stateDir: p.stateDir }));
  }

  /** Stop every node (each stops its tasks first); SIGKILL after the timeout. Safe twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Workers first, so the manager does not reschedule their tasks while they go.
    const order = [...this.procs].reverse();
    await Promise.all(
      order.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        p.child.kill('SIGTERM');
        const timer = setTimeout(() => p.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    await this.etcd?.stop();
  }
}
