import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import type { Resources } from '../../model/types';

/** Where the unified (v2) cgroup hierarchy is mounted on a systemd-era Linux. */
export const CGROUP_ROOT = '/sys/fs/cgroup';
/** statfs f_type of a cgroup2 mount (linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** Child cgroup of the daemon's own that holds one cgroup per task. */
export const TASKS_CGROUP = 'shoal.tasks';
/** Leaf the daemon moves itself into when it is alone in its cgroup (systemd's Delegate=yes pattern). */
export const DAEMON_CGROUP = 'shoal.daemon';
/** CFS period cpu.max is written with, in microseconds (Docker's and the kernel's default). */
export const CPU_PERIOD_US = 100_000;
/** Smallest quota the kernel accepts in cpu.max, in microseconds. */
export const CPU_QUOTA_MIN_US = 1_000;
/** Attempts to remove a task's cgroup while its killed processes are being reaped. */
export const REMOVE_ATTEMPTS = 25;
/** Wait between those attempts. */
export const REMOVE_RETRY_MS = 20;
/** Exit status of the join wrapper when the task could not enter its cgroup (Docker's "daemon error" code). */
export const JOIN_FAILED_EXIT = 125;

/** The controllers limits need: cpu for --limit-cpu, memory for --limit-memory. */
type Controller = 'cpu' | 'memory';

/** Side effects of the cgroup limiter, injectable so a test can point it at a fake hierarchy. */
export interface CgroupLimitsDeps {
  logger: pino.Logger;
  /** Whether `root` is a cgroup2 mount; default: statfs. */
  isCgroup2?: (root: string) => Promise<boolean>;
  /** The daemon's cgroup v2 path ("/system.slice/x.service"), or null; default: read /proc/self/cgroup. */
  ownCgroup?: () => Promise<string | null>;
  /** Removes an (empty) cgroup directory; default rmdir, which is all cgroupfs allows. */
  removeDir?: (dir: string) => Promise<void>;
  /** The daemon's pid; default process.pid. */
  pid?: number;
}

/** Configuration of the cgroup limiter. */
export interface CgroupLimitsOptions {
  /** Mount point of the cgroup2 hierarchy; default CGROUP_ROOT. */
  root?: string;
}

/** A task's cgroup, ready for its process to join, or why limits cannot be applied. */
export type LimitsSetup = { applied: true; dir: string; procsFile: string } | { applied: false; reason: string };

/** Where task cgroups go once the hierarchy is set up, or why they cannot. */
type Parent = { ok: true; dir: string; controllers: Set<Controller> } | { ok: false; reason: string };

/** Whether a task template asks for any limit. */
export function hasLimits(limits: Partial<Resources> | undefined): limits is Partial<Resources> {
  return !!limits && ((limits.nanoCpus ?? 0) > 0 || (limits.memoryBytes ?? 0) > 0);
}

/** The cpu.max line for a CPU limit in nano-CPUs: quota and period in microseconds. */
export function cpuMaxLine(nanoCpus: number): string {
  const quota = Math.max(CPU_QUOTA_MIN_US, Math.round((nanoCpus * CPU_PERIOD_US) / 1e9));
  return `${quota} ${CPU_PERIOD_US}`;
}

/**
 * argv that runs `file args...` inside a cgroup without a race: a tiny shell
 * writes its own pid to the cgroup's cgroup.procs and only then execs the
 * task, so not one instruction of the task (nor a child it forks) runs outside
 * the cgroup. Writing the pid from the daemon after spawn would let a fast
 * fork escape.
 */
export function joinCgroupArgv(procsFile: string, file: string, args: string[]): { file: string; args: string[] } {
  const script = `echo $$ >"$0" || { echo "shoal: cannot join cgroup $0" >&2; exit ${JOIN_FAILED_EXIT}; }; exec "$@"`;
  return { file: '/bin/sh', args: ['-c', script, procsFile, file, ...args] };
}

/**
 * Applies `--limit-cpu` / `--limit-memory` through cgroup v2: one child
 * cgroup per task under `<daemon's cgroup>/shoal.tasks`, with cpu.max and
 * memory.max written before the process joins, removed after it exits. When
 * the host cannot (cgroup v1, read-only cgroupfs, controllers not delegated)
 * prepare() says why, and the task runs without limits.
 */
export class CgroupLimits {
  private readonly log: pino.Logger;
  private readonly root: string;
  private readonly isCgroup2: (root: string) => Promise<boolean>;
  private readonly ownCgroup: () => Promise<string | null>;
  private readonly removeDir: (dir: string) => Promise<void>;
  private readonly pid: number;
  private parent?: Promise<Parent>;
  private located?: Promise<string | null>;

  constructor(deps: CgroupLimitsDeps, options: CgroupLimitsOptions = {}) {
    this.log = deps.logger.child({ component: 'cgroups' });
    this.root = options.root ?? CGROUP_ROOT;
    this.isCgroup2 = deps.isCgroup2 ?? isCgroup2Mount;
    this.ownCgroup = deps.ownCgroup ?? readOwnCgroup;
    this.removeDir = deps.removeDir ?? ((dir) => fs.rmdir(dir));
    this.pid = deps.pid ?? process.pid;
  }

  /** Creates the task's cgroup with its limits written, or says why limits cannot be applied. */
  async prepare(taskId: string, limits: Partial<Resources>): Promise<LimitsSetup> {
    const parent = await this.setUpParent();
    if (!parent.ok) return { applied: false, reason: parent.reason };
    const wanted: [Controller, string, string][] = [];
    if ((limits.nanoCpus ?? 0) > 0) wanted.push(['cpu', 'cpu.max', cpuMaxLine(limits.nanoCpus!)]);
    if ((limits.memoryBytes ?? 0) > 0) wanted.push(['memory', 'memory.max', String(Math.floor(limits.memoryBytes!))]);
    for (const [controller] of wanted) {
      if (!parent.controllers.has(controller)) return { applied: false, reason: `the ${controller} controller is not available to ${parent.dir}` };
    }
    const dir = path.join(parent.dir, taskId);
    try {
      await fs.mkdir(dir);
    } catch (err) {
      // A cgroup left by a previous run of the same task id: reuse it, the limits are rewritten below.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { applied: false, reason: `creating cgroup ${dir} failed: ${errText(err)}` };
    }
    for (const [, file, value] of wanted) {
      try {
        await fs.writeFile(path.join(dir, file), value);
      } catch (err) {
        await this.remove(taskId);
        return { applied: false, reason: `writing ${file} failed: ${errText(err)}` };
      }
    }
    return { applied: true, dir, procsFile: path.join(dir, 'cgroup.procs') };
  }

  /**
   * Removes the task's cgroup once its process exited (or a previous daemon's
   * task was killed): kills whatever is left in it (a process that left the
   * task's process group still counts), then rmdir, retried while the kernel
   * reaps. Does nothing when the task has no cgroup. Never throws.
   */
  async remove(taskId: string): Promise<void> {
    const parentDir = await this.tasksDir();
    if (!parentDir) return;
    const dir = path.join(parentDir, taskId);
    // cgroup.kill exists from Linux 5.14; before that the group SIGKILL is all there is.
    await fs.writeFile(path.join(dir, 'cgroup.kill'), '1').catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.removeDir(dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || attempt >= REMOVE_ATTEMPTS) {
          this.log.warn({ taskId, dir, err: errText(err) }, 'removing task cgroup failed');
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, REMOVE_RETRY_MS));
    }
  }

  /**
   * Where task cgroups are, without setting anything up: a restarted daemon
   * removes what its predecessor left (cleanupOrphans) before any task of its
   * own asked for limits.
   */
  private async tasksDir(): Promise<string | null> {
    if (this.parent) {
      const parent = await this.parent;
      return parent.ok ? parent.dir : null;
    }
    this.located ??= (async () => {
      if (!(await this.isCgroup2(this.root).catch(() => false))) return null;
      const own = await this.ownCgroup().catch(() => null);
      return own === null ? null : path.join(this.root, own, TASKS_CGROUP);
    })();
    return this.located;
  }

  /** Sets up `<own>/shoal.tasks` once per daemon, enabling the controllers on the way down. */
  private setUpParent(): Promise<Parent> {
    this.parent ??= this.findParent().then((p) => {
      if (p.ok) this.log.info({ dir: p.dir, controllers: [...p.controllers] }, 'task limits through cgroup v2');
      else this.log.warn({ reason: p.reason }, 'task limits cannot be applied');
      return p;
    });
    return this.parent;
  }

  private async findParent(): Promise<Parent> {
    if (!(await this.isCgroup2(this.root).catch(() => false))) return { ok: false, reason: `cgroup v2 not mounted at ${this.root}` };
    const own = await this.ownCgroup().catch(() => null);
    if (own === null) return { ok: false, reason: 'the daemon has no cgroup v2 path in /proc/self/cgroup' };
    const base = path.join(this.root, own);
    let available: Set<string>;
    try {
      available = new Set((await fs.readFile(path.join(base, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/));
    } catch (err) {
      return { ok: false, reason: `cgroup ${base} not readable: ${errText(err)}` };
    }
    const controllers = new Set((['cpu', 'memory'] as const).filter((c) => available.has(c)));
    if (controllers.size === 0) return { ok: false, reason: `neither the cpu nor the memory controller is available in ${base}` };
    try {
      const refused = await this.delegate(base, own, controllers);
      if (refused) return { ok: false, reason: refused };
      const dir = path.join(base, TASKS_CGROUP);
      await fs.mkdir(dir, { recursive: true });
      await enableControllers(dir, controllers);
      return { ok: true, dir, controllers };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return { ok: false, reason: `cgroup v2 not writable at ${base} (${code})` };
      return { ok: false, reason: `setting up cgroup ${base} failed: ${errText(err)}` };
    }
  }

  /**
   * Enables the controllers for the children of the daemon's cgroup. cgroup v2
   * refuses that (EBUSY) on a non-root cgroup that holds processes ("no
   * internal processes"); a daemon alone in its cgroup moves itself to a leaf
   * first, as systemd asks of services with Delegate=yes. Returns why not, or null once done.
   */
  private async delegate(base: string, own: string, controllers: Set<Controller>): Promise<string | null> {
    try {
      await enableControllers(base, controllers);
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || own === '/') throw err;
    }
    const procs = (await fs.readFile(path.join(base, 'cgroup.procs'), 'utf8')).split('\n').filter((l) => l !== '');
    if (procs.length !== 1 || Number(procs[0]) !== this.pid) {
      return `cgroup ${own} holds other processes, so it cannot have limited children (run the daemon in a cgroup of its own, e.g. systemd Delegate=yes)`;
    }
    const leaf = path.join(base, DAEMON_CGROUP);
    await fs.mkdir(leaf, { recursive: true });
    await fs.writeFile(path.join(leaf, 'cgroup.procs'), String(this.pid));
    this.log.info({ cgroup: path.join(own, DAEMON_CGROUP) }, 'moved the daemon to a leaf cgroup to delegate controllers');
    await enableControllers(base, controllers);
    return null;
  }
}

async function enableControllers(dir: string, controllers: Set<Controller>): Promise<void> {
  const file = path.join(dir, 'cgroup.subtree_control');
  const enabled = new Set((await fs.readFile(file, 'utf8').catch(() => '')).trim().split(/\s+/));
  const missing = [...controllers].filter((c) => !enabled.has(c));
  if (missing.length > 0) await fs.writeFile(file, missing.map((c) => `+${c}`).join(' '));
}

/** statfs says whether a path is a cgroup2 mount (not the tmpfs of a v1 or hybrid layout). */
async function isCgroup2Mount(root: string): Promise<boolean> {
  return Number((await fs.statfs(root)).type) === CGROUP2_SUPER_MAGIC;
}

/** The `0::<path>` line of /proc/self/cgroup: the process's place in the unified hierarchy. */
async function readOwnCgroup(): Promise<string | null> {
  const text = await fs.readFile('/proc/self/cgroup', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3) || '/' : null;
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
