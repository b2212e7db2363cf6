/**
 * A lab: several "hosts" on this one machine, each a network namespace with
 * an `eth0` on a shared underlay bridge. The bridge lives in a namespace of
 * its own, so building and tearing down a lab never touches the host's own
 * network. Used by deploy/lab and by netns-mode tests (issue 5).
 */
import { execFile, spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { CommandFailedError, InvalidArgumentError, LabDestroyedError, NameConflictError } from '../errors';
import { addBridge, enslave } from './bridge';
import { systemIp, type IpRunner } from './ip-command';
import { isLabLink, isLabNetns, planLab, type LabHostPlan, type LabPlan, type LabPlanOptions } from './lab-plan';
import { addNetns, listNetns, parseNetnsList, parsePids } from './netns';
import { addressAndUp, addVeth } from './veth';

/** How long spawned processes get after SIGTERM before SIGKILL. */
export const LAB_STOP_GRACE_MS = 2_000;

/** How long one `exec` may run before it is killed. */
export const LAB_EXEC_TIMEOUT_MS = 30_000;

/** Largest output `exec` collects. */
const EXEC_MAX_BUFFER = 16 * 1024 * 1024;

/** Side effects a lab uses; all optional, defaulting to the real ones. */
export interface LabDeps {
  ip: IpRunner;
  /** Starts a process; `spawn` and `exec` go through it. */
  spawn: typeof nodeSpawn;
  logger: Logger;
}

/** What `exec` gives back when the command exits 0. */
export interface LabExecResult {
  stdout: string;
  stderr: string;
}

/** Options of one `exec`. */
export interface LabExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Whether this process can build labs, and why not. */
export type LabProbe = { ok: true } | { ok: false; reason: string };

function defaults(deps: Partial<LabDeps> | undefined): LabDeps {
  return { ip: deps?.ip ?? systemIp, spawn: deps?.spawn ?? nodeSpawn, logger: deps?.logger ?? pino({ level: 'silent' }) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signals a child's whole process group (children are spawned detached, so they lead one). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || exited(child)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// Every lab not yet destroyed, so exit and signal hooks can tear them down.
const live = new Set<Lab>();

function onExit(): void {
  for (const lab of [...live]) lab.destroySync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  // Our handler replaced the default "die on signal"; restore it unless
  // someone else (a daemon's shutdown) also listens and decides.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function track(lab: Lab): void {
  if (live.size === 0) {
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  live.add(lab);
}

function untrack(lab: Lab): void {
  live.delete(lab);
  if (live.size === 0) {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A set of namespace "hosts" joined by one bridge; `destroy()` removes all of it. */
export class Lab {
  private readonly children = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;
  private destroyed = false;

  private constructor(
    /** Names and addresses of everything this lab creates. */
    readonly plan: LabPlan,
    private readonly deps: LabDeps,
  ) {}

  /** A fresh lab prefix: `base` plus 4 random lowercase letters or digits. */
  static randomName(base = 'shl'): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    return base + [...randomBytes(4)].map((b) => alphabet[b % alphabet.length]).join('');
  }

  /** Whether this process may build labs (root and a working `ip netns`), without building one. */
  static async probe(ip: IpRunner = systemIp): Promise<LabProbe> {
    if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'building a lab needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)' };
    try {
      await ip.run(['netns', 'list']);
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `ip netns does not work: ${(err as Error).message}` };
    }
  }

  /**
   * Builds a lab: namespace `<name>-ul` with bridge `<name>-br`, and per host
   * k namespace `<name>-h<k>` with `eth0` at the subnet's (k+1)th address.
   * A failure part way removes what was built and rethrows.
   */
  static async create(opts: LabPlanOptions, deps?: Partial<LabDeps>): Promise<Lab> {
    const plan = planLab(opts);
    const d = defaults(deps);
    const taken = (await listNetns(d.ip)).filter((n) => isLabNetns(plan.prefix, n));
    if (taken.length > 0) {
      throw new NameConflictError(`lab "${plan.prefix}" already has namespaces (${taken.join(', ')}); run Lab.cleanupStale("${plan.prefix}") or pick another name`);
    }
    const lab = new Lab(plan, d);
    track(lab);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    d.logger.info({ lab: plan.prefix, hosts: plan.hosts.map((h) => `${h.netns}=${h.address}`) }, 'lab up');
    return lab;
  }

  /**
   * Removes what an earlier run with this prefix left behind (processes in
   * its namespaces, the namespaces, stray links); returns what it removed.
   */
  static async cleanupStale(prefix: string, deps?: Partial<LabDeps>): Promise<string[]> {
    const d = defaults(deps);
    const removed: string[] = [];
    for (const ns of (await listNetns(d.ip)).filter((n) => isLabNetns(prefix, n))) {
      await killNetnsProcesses(d.ip, ns);
      await d.ip.run(['netns', 'delete', ns]).catch(() => undefined);
      removed.push(ns);
    }
    // Labs never put links in the root namespace; a crashed older version might have.
    const links = await d.ip.run(['-o', 'link', 'show']).catch(() => '');
    for (const name of parseLinkNames(links).filter((l) => isLabLink(prefix, l))) {
      await d.ip.run(['link', 'delete', name]).catch(() => undefined);
      removed.push(name);
    }
    if (removed.length > 0) d.logger.info({ lab: prefix, removed }, 'stale lab cleaned up');
    return removed;
  }

  /** The hosts, in index order. */
  get hosts(): readonly LabHostPlan[] {
    return this.plan.hosts;
  }

  /** One host by index; throws InvalidArgumentError when there is none. */
  host(index: number): LabHostPlan {
    const h = this.plan.hosts[index];
    if (!h) throw new InvalidArgumentError(`lab "${this.plan.prefix}" has no host ${index} (hosts 0-${this.plan.hosts.length - 1})`);
    return h;
  }

  /** Runs a command inside a host's namespace; resolves its output when it exits 0, rejects with CommandFailedError otherwise. */
  exec(host: number, argv: readonly string[], opts: LabExecOptions = {}): Promise<LabExecResult> {
    const [cmd, ...args] = this.argv(host, argv);
    return new Promise((resolve, reject) => {
      const child = execFile(cmd!, args, { timeout: opts.timeoutMs ?? LAB_EXEC_TIMEOUT_MS, maxBuffer: EXEC_MAX_BUFFER, env: opts.env ?? process.env }, (err, stdout, stderr) => {
        this.children.delete(child);
        if (err) reject(new CommandFailedError(`in ${this.host(host).netns}: ${argv.join(' ')}: ${String(stderr).trim() || err.message}`));
        else resolve({ stdout: String(stdout), stderr: String(stderr) });
      });
      this.children.add(child);
    });
  }

  /** Starts a long-running process inside a host's namespace; `destroy()` stops it with its process group. */
  spawn(host: number, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const [cmd, ...args] = this.argv(host, argv);
    // detached: the child leads its own process group, so destroy() reaches its children too.
    const child = this.deps.spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts, detached: true });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Stops every process started here, then deletes every namespace (and so every link) of the lab. Safe to call twice. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  /**
   * Leaves the lab standing when this process exits (for `lab-cli up
   * --detach`); `Lab.cleanupStale(prefix)` removes it later.
   */
  release(): void {
    untrack(this);
  }

  /**
   * Synchronous teardown for process exit, where async work never runs:
   * SIGKILL instead of a grace period. A no-op once the lab is destroyed.
   */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) signalGroup(child, 'SIGKILL');
    for (const ns of this.namespaces()) {
      try {
        parsePids(this.deps.ip.runSync(['netns', 'pids', ns])).forEach(killPid);
      } catch {
        // namespace not there
      }
      try {
        this.deps.ip.runSync(['netns', 'delete', ns]);
      } catch {
        // namespace not there
      }
    }
    untrack(this);
  }

  private argv(host: number, argv: readonly string[]): string[] {
    if (this.destroying || this.destroyed) throw new LabDestroyedError(`lab "${this.plan.prefix}" is destroyed`);
    if (argv.length === 0) throw new InvalidArgumentError('empty command');
    // nsenter switches only the network namespace: `ip netns exec` would also
    // give the process a private mount namespace, and the task namespaces a
    // shoal daemon adds there would be invisible to everyone else.
    return ['nsenter', `--net=/run/netns/${this.host(host).netns}`, ...argv];
  }

  private namespaces(): string[] {
    return [...this.plan.hosts.map((h) => h.netns), this.plan.underlayNetns];
  }

  private async build(): Promise<void> {
    const { ip } = this.deps;
    const p = this.plan;
    await addNetns(ip, p.underlayNetns);
    await addBridge(ip, p.underlayNetns, p.bridge);
    for (const h of p.hosts) {
      await addNetns(ip, h.netns);
      await addVeth(ip, { netns: p.underlayNetns, name: h.bridgePort, peerNetns: h.netns, peerName: h.ifname });
      await enslave(ip, p.underlayNetns, h.bridgePort, p.bridge);
      await addressAndUp(ip, h.netns, h.ifname, `${h.address}/${h.prefixLength}`);
    }
  }

  private async teardown(): Promise<void> {
    if (this.destroyed) return;
    const { ip } = this.deps;
    const children = [...this.children];
    for (const child of children) signalGroup(child, 'SIGTERM');
    await Promise.race([Promise.all(children.map((c) => (exited(c) ? undefined : new Promise((r) => c.once('exit', r))))), sleep(LAB_STOP_GRACE_MS)]);
    for (const child of children) signalGroup(child, 'SIGKILL');
    const existing = new Set(parseNetnsList(await ip.run(['netns', 'list']).catch(() => '')));
    for (const ns of this.namespaces().filter((n) => existing.has(n))) {
      // Anything still inside (a grandchild that left the group) would keep the namespace alive unnamed.
      await killNetnsProcesses(ip, ns);
      await ip.run(['netns', 'delete', ns]);
    }
    this.destroyed = true;
    untrack(this);
    this.deps.logger.info({ lab: this.plan.prefix }, 'lab down');
  }
}

async function killNetnsProcesses(ip: IpRunner, ns: string): Promise<void> {
  const pids = parsePids(await ip.run(['netns', 'pids', ns]).catch(() => ''));
  pids.filter((pid) => pid !== process.pid).forEach(killPid);
}

/** Parses `ip -o link show` into interface names (`3: name@peer: <...>`). */
export function parseLinkNames(out: string): string[] {
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}
