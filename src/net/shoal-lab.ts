/**
 * A lab with a shoal node in every host: host 0 initialises the swarm, the
 * others join it over the underlay, all in netns mode. deploy/lab/lab.sh and
 * the netns integration tests use it; `destroy()` stops the daemons (which
 * remove their task namespaces, overlays and nftables tables) and then the lab.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { WaitTimeoutError } from '../errors';
import { systemIp } from './ip-command';
import { Lab } from './lab';
import { listNetns } from './netns';
import { NETNS_ETC_DIR } from './overlay';

/** The built CLI this module ships next to. */
const CLI = path.join(__dirname, '..', 'cli', 'main.js');
/** How long the daemons get after SIGTERM before SIGKILL (they drain tasks first). */
const DAEMON_STOP_GRACE_MS = 15_000;
/** How long the swarm may take to form. */
const FORM_TIMEOUT_MS = 30_000;

/** What to build. */
export interface ShoalLabOptions {
  name: string;
  hosts: number;
  subnet?: string;
  /** `--dataplane` of every node [auto]. */
  dataplane?: string;
  /** Where node state dirs go (`<stateRoot>/h<k>`). */
  stateRoot: string;
  /** Heartbeat period of every node [1s]. */
  heartbeat?: string;
  /** Where each daemon's stderr goes: a file path per host index, or inherit. */
  logFile?: (host: number) => string;
}

/** One shoal daemon in a lab host. */
export interface LabNode {
  host: number;
  address: string;
  stateDir: string;
  socket: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** Result of one CLI run. */
export interface LabCliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Prefix of the task namespaces of a lab's nodes, so cleanup finds them. */
export function labTaskNetnsPrefix(labName: string): string {
  return `${labName}-t-`;
}

/** A lab whose hosts run shoal. */
export class ShoalLab {
  readonly nodes: LabNode[] = [];

  private constructor(
    readonly lab: Lab,
    private readonly options: ShoalLabOptions,
  ) {}

  /** Builds the lab and forms the swarm; on failure removes everything and throws. */
  static async create(options: ShoalLabOptions): Promise<ShoalLab> {
    const lab = await Lab.create({ name: options.name, hosts: options.hosts, subnet: options.subnet });
    const s = new ShoalLab(lab, options);
    try {
      s.startNode(0, ['--init']);
      await s.waitFor('the manager', async () => (await s.cli(['swarm', 'join-token', '-q', 'worker'])).code === 0, FORM_TIMEOUT_MS);
      const token = (await s.cli(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
      for (let k = 1; k < options.hosts; k++) s.startNode(k, ['--join', `${lab.host(0).address}:2377`, '--token', token]);
      await s.waitFor(`${options.hosts} ready nodes`, async () => {
        const r = await s.cli(['node', 'ls', '--format', 'json']);
        if (r.code !== 0) return false;
        const nodes = JSON.parse(r.stdout) as { status?: { state?: string }; Status?: string }[];
        return nodes.filter((n) => (n.status?.state ?? n.Status ?? '').toLowerCase() === 'ready').length === options.hosts;
      }, FORM_TIMEOUT_MS);
    } catch (err) {
      await s.destroy();
      throw err;
    }
    return s;
  }

  /** Starts host k's daemon with extra flags (used again after a kill). */
  startNode(k: number, extra: string[]): LabNode {
    const host = this.lab.host(k);
    const stateDir = path.join(this.options.stateRoot, `h${k}`);
    mkdirSync(stateDir, { recursive: true });
    const args = [
      CLI, 'daemon',
      '--network-mode', 'netns',
      '--dataplane', this.options.dataplane ?? 'auto',
      '--addr', host.address,
      '--state-dir', stateDir,
      '--hostname', `h${k}`,
      '--dns-port', '53',
      // Nothing answers there: names outside the cluster never leave the lab.
      '--dns-upstream', '127.0.0.1:9',
      '--heartbeat', this.options.heartbeat ?? '1s',
      ...extra,
    ];
    const log = this.options.logFile ? openSync(this.options.logFile(k), 'a') : null;
    let child: ChildProcess;
    try {
      child = this.lab.spawn(k, [process.execPath, ...args], {
        env: { ...process.env, SHOAL_NETNS_PREFIX: labTaskNetnsPrefix(this.lab.plan.prefix) },
        stdio: ['ignore', 'ignore', log ?? 'inherit'],
      });
    } finally {
      // The daemon holds its own copy of the log fd; ours would only leak, one per start.
      if (log !== null) closeSync(log);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const node: LabNode = { host: k, address: host.address, stateDir, socket: path.join(stateDir, 'shoal.sock'), child, exited };
    const i = this.nodes.findIndex((n) => n.host === k);
    if (i >= 0) this.nodes[i] = node;
    else this.nodes.push(node);
    return node;
  }

  /** Kills host k's daemon with SIGKILL (its tasks die with it), as a host losing power. */
  async killNode(k: number): Promise<void> {
    const node = this.nodes.find((n) => n.host === k);
    if (!node) return;
    node.child.kill('SIGKILL');
    await node.exited;
  }

  /** Runs the shoal CLI against host k's control socket (default: the manager's). */
  cli(args: string[], host = 0, timeoutMs = 60_000): Promise<LabCliResult> {
    const socket = path.join(this.options.stateRoot, `h${host}`, 'shoal.sock');
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, '-H', `unix://${socket}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

  /** Polls until check() is truthy; throws WaitTimeoutError naming `what` after the timeout. */
  async waitFor<T>(what: string, check: () => Promise<T | false | null | undefined>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new WaitTimeoutError(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops every daemon (SIGTERM, then SIGKILL after the grace), removes task namespaces left behind, then the lab. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return;
        n.child.kill('SIGTERM');
        const t = setTimeout(() => n.child.kill('SIGKILL'), DAEMON_STOP_GRACE_MS);
        await n.exited;
        clearTimeout(t);
      }),
    );
    await this.lab.destroy();
    const prefix = labTaskNetnsPrefix(this.lab.plan.prefix);
    for (const ns of await listNetns(systemIp)) {
      if (ns.startsWith(prefix)) await systemIp.run(['netns', 'del', ns]).catch(() => undefined);
    }
    for (const dir of readdirSafe(NETNS_ETC_DIR)) {
      if (dir.startsWith(prefix)) rmSync(path.join(NETNS_ETC_DIR, dir), { recursive: true, force: true });
    }
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
