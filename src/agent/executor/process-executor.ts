import * as child_process from 'node:child_process';
import { promises as fs, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import type { Task } from '../../model/types';
import { CgroupLimits, hasLimits, joinCgroupArgv, type LimitsSetup } from './cgroup-limits';
import { lookupCommand } from './command-path';
import { findSetpriv, withDeathSignal } from './death-signal';
import { isRecordedProcessAlive, readPidFile, writePidFile } from './pid-file';
import { killOrphan, signalGroup } from './process-group';
import { defaultPortLockDir, HostPortReservations, type PortRange } from './host-ports';
import { choosePorts, type PortChoice, type PortSource, type TaskPortReserver } from './port-choice';
import { taskEnvironment } from './task-env';
import { exitCause } from './exit-cause';
import { monotonicWallClockNs, type LogRecord } from './log-record';
import { taskOutcome, type TaskOutcome } from './task-exit';
import { followLog, readLogRecords, type LogQuery } from './task-log';
import { TaskLogWriter } from './task-log-writer';
import { waitForTcpPorts } from './port-readiness';

/** Grace between SIGTERM and SIGKILL when the task spec gives none (Docker's 10 s). */
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** Longest grace close() grants a task, so a daemon shutdown is bounded. */
export const CLOSE_MAX_GRACE_MS = 10_000;
/** A task's stdout and stderr as records (log-record.ts), one file for both streams. */
export const LOG_FILE = 'output.log';
/**
 * How long an ended task's pipes may stay open before its log is closed
 * without them (a process that left the task's group can hold them forever).
 */
export const LOG_DRAIN_TIMEOUT_MS = 2_000;
/** A task's pid and start time, so a restarted daemon finds what it left running. */
export const PID_FILE = 'pid';

/** Side effects the executor uses. */
export interface ProcessExecutorDeps {
  logger: pino.Logger;
  now?: () => number;
  /** Wall clock in nanoseconds for log record times; default: log-record.ts monotonicWallClockNs. */
  nowNs?: () => bigint;
  spawn?: typeof child_process.spawn;
  /** Reserves host-wide ports for tasks that share the host's network; default: files under options.portLockDir. */
  ports?: TaskPortReserver;
  /** Applies resource limits; default: cgroup v2 under the daemon's own cgroup. */
  cgroups?: CgroupLimits;
  /** Gives each task its own network (netns mode); absent: tasks share the node's (loopback mode). */
  sandbox?: TaskSandbox;
}

/** argv of a process to spawn. */
export interface Argv {
  file: string;
  args: string[];
}

/** A task's own network, set up before its process starts and torn down after it ends. */
export interface TaskSandbox {
  /** Builds the task's network; resolves with how to start a command inside it. Throws with the reason. */
  prepare(task: Task): Promise<{ wrap(argv: Argv): Argv }>;
  /** Removes the task's network; never throws. */
  release(task: Task): Promise<void>;
}

/** Configuration of the executor. */
export interface ProcessExecutorOptions {
  /** Node state dir; task files go under `<stateDir>/tasks/<taskId>/`. */
  stateDir: string;
  /** Directory every daemon on the host shares for task port reservations (loopback mode); default defaultPortLockDir(). */
  portLockDir?: string;
  /** Ports tasks sharing the host get (loopback mode); default DEFAULT_TASK_PORT_RANGE. */
  taskPortRange?: PortRange;
  /** setpriv used to give tasks a parent-death signal; null runs tasks unwrapped; default: found on the host. */
  setpriv?: string | null;
  /**
   * Report 'running' only once the task's TCP ports accept connections, for
   * at most this long (0, the default: at spawn). The daemon sets it so the
   * mesh and start-first updates never send work to a task still booting.
   */
  portReadyTimeoutMs?: number;
}

/** What the executor needs to run one task. */
export interface TaskRunContext {
  task: Task;
  nodeId: string;
  /** "ip:port" of the node's DNS server, given to the task as SHOAL_DNS. */
  dnsAddress: string;
}

/** A change in a task's process, for the agent to report as task status. */
export interface TaskEvent {
  taskId: string;
  state: 'starting' | 'running' | 'complete' | 'failed' | 'shutdown';
  message: string;
  exitCode?: number;
  pid?: number;
  ports?: Record<string, number>;
}

interface TaskProcess {
  ctx: TaskRunContext;
  dir: string;
  child?: child_process.ChildProcess;
  /** Writes the process's stdout and stderr to its log file. */
  log?: TaskLogWriter;
  pid?: number;
  stopRequested: boolean;
  stopping?: Promise<void>;
  /** Settles once spawning succeeded or failed. */
  launched: Promise<void>;
  /** Settles once the process is gone, or will never run. */
  exited: Promise<void>;
  markExited: () => void;
  spawnedAt?: number;
  /** The environment and cwd the process got, for health commands run "in" the task. */
  env?: Record<string, string>;
  cwd?: string;
  /** The task's cgroup when its limits were applied. */
  limits?: LimitsSetup;
  /** Whether the sandbox was asked to build the task's network (so it must be released). */
  sandboxed?: boolean;
}

/** The environment a task's process runs with, so a health command can run alongside it. */
export interface TaskExecEnvironment {
  env: Record<string, string>;
  cwd: string;
}

/** Task ids become directory names; refuse anything that could leave the tasks dir. */
const TASK_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The only code that touches task processes (swarmkit's agent/exec
 * controller): runs each task as a process in its own process group with its
 * output in a file under the state dir, stops it gracefully, and on a daemon
 * restart kills what the previous run left behind.
 */
export class ProcessExecutor {
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly nowNs: () => bigint;
  private readonly spawn: typeof child_process.spawn;
  private readonly ports: TaskPortReserver;
  private readonly cgroups: CgroupLimits;
  private readonly sandbox: TaskSandbox | undefined;
  private readonly setpriv: string | null;
  private readonly tasksDir: string;
  private readonly tasks = new Map<string, TaskProcess>();
  private readonly listeners: ((e: TaskEvent) => void)[] = [];
  private closing?: Promise<void>;
  /** Port reservations being given back, which close() waits for. */
  private readonly releasing = new Set<Promise<void>>();

  private readonly portReadyTimeoutMs: number;

  constructor(deps: ProcessExecutorDeps, options: ProcessExecutorOptions) {
    this.log = deps.logger.child({ component: 'executor' });
    this.now = deps.now ?? Date.now;
    this.nowNs = deps.nowNs ?? monotonicWallClockNs();
    this.spawn = deps.spawn ?? child_process.spawn;
    this.ports = deps.ports ?? new HostPortReservations({}, { dir: options.portLockDir ?? defaultPortLockDir(), range: options.taskPortRange });
    this.cgroups = deps.cgroups ?? new CgroupLimits({ logger: this.log });
    this.sandbox = deps.sandbox;
    this.setpriv = options.setpriv === undefined ? findSetpriv() : options.setpriv;
    this.tasksDir = path.join(options.stateDir, 'tasks');
    this.portReadyTimeoutMs = options.portReadyTimeoutMs ?? 0;
    if (!this.setpriv) this.log.warn('setpriv with --pdeathsig not found: tasks outlive a crashed daemon until its restart');
  }

  /** Subscribes to task events. */
  onEvent(listener: (e: TaskEvent) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Starts the task's process; resolves once it is spawned ('starting' then
   * 'running') or could not be ('failed'). Starting a task that is already
   * known does nothing, so a task never runs twice.
   */
  async start(ctx: TaskRunContext): Promise<void> {
    if (this.closing) throw new UnavailableError('executor is closed');
    const taskId = ctx.task.id;
    const dir = this.taskDir(taskId);
    if (this.tasks.has(taskId)) {
      this.log.warn({ taskId }, 'task already started');
      return;
    }
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const entry: TaskProcess = { ctx, dir, stopRequested: false, launched: Promise.resolve(), exited, markExited };
    this.tasks.set(taskId, entry);
    this.emit({ taskId, state: 'starting', message: 'starting' });
    entry.launched = this.launch(entry);
    await entry.launched;
  }

  /**
   * Stops the task: SIGTERM to its process group, SIGKILL after the grace
   * period (default the spec's stopGracePeriodMs); resolves when the process
   * is gone and 'shutdown' was reported. Idempotent.
   */
  stop(taskId: string, graceMs?: number): Promise<void> {
    const entry = this.tasks.get(taskId);
    if (!entry) return Promise.resolve();
    entry.stopRequested = true;
    entry.stopping ??= this.terminate(entry, graceMs ?? entry.ctx.task.spec.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_MS);
    return entry.stopping;
  }

  /** The environment and cwd of a task whose process runs; undefined otherwise. */
  environment(taskId: string): TaskExecEnvironment | undefined {
    const entry = this.tasks.get(taskId);
    if (entry?.pid === undefined || !entry.env || entry.cwd === undefined) return undefined;
    return { env: entry.env, cwd: entry.cwd };
  }

  /** Ids of the tasks whose process is alive. */
  running(): string[] {
    return [...this.tasks].filter(([, e]) => e.pid !== undefined).map(([id]) => id);
  }

  /** The task's stdout and stderr records as kept on disk (also after it ended), as `query` selects them. */
  async logs(taskId: string, query: LogQuery = {}): Promise<LogRecord[]> {
    const file = path.join(this.taskDir(taskId), LOG_FILE);
    try {
      return (await readLogRecords(file, query)).records;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (this.tasks.has(taskId)) return [];
      throw new NotFoundError(`no logs for task ${taskId}`);
    }
  }

  /**
   * Delivers the records `query` selects, then each new one as the task
   * writes it; resolves once the task ended and its log is read to the end,
   * or when `signal` aborts. Throws NotFoundError for a task with no log.
   */
  async followLogs(taskId: string, query: LogQuery, onRecords: (r: LogRecord[]) => void, signal: AbortSignal): Promise<void> {
    const file = path.join(this.taskDir(taskId), LOG_FILE);
    const isLive = () => this.tasks.has(taskId);
    if (!(await exists(file)) && !isLive()) throw new NotFoundError(`no logs for task ${taskId}`);
    await followLog({ file, isLive }, query, onRecords, signal);
  }

  /**
   * Kills the processes a previous run of this node's daemon left behind
   * (found through the pid files under the state dir), so no task runs twice
   * after a daemon restart; returns the ids of the tasks it killed.
   */
  async cleanupOrphans(): Promise<string[]> {
    let ids: string[];
    try {
      ids = await fs.readdir(this.tasksDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const killed: string[] = [];
    for (const taskId of ids) {
      if (this.tasks.has(taskId) || !TASK_ID_PATTERN.test(taskId)) continue;
      const pidFile = path.join(this.tasksDir, taskId, PID_FILE);
      const rec = await readPidFile(pidFile);
      if (rec && isRecordedProcessAlive(rec)) {
        this.log.info({ taskId, pid: rec.pid }, 'killing task left by a previous run');
        await killOrphan(rec);
        killed.push(taskId);
      }
      await fs.rm(pidFile, { force: true });
      await this.cgroups.remove(taskId);
    }
    return killed;
  }

  /** Deletes the task's files (its logs) once the manager forgets the task, stopping it first if needed. */
  async removeTask(taskId: string): Promise<void> {
    const dir = this.taskDir(taskId);
    await this.stop(taskId);
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Stops every task, each with its own grace capped at CLOSE_MAX_GRACE_MS; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(
        [...this.tasks.values()].map((e) =>
          this.stop(e.ctx.task.id, Math.min(e.ctx.task.spec.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_MS, CLOSE_MAX_GRACE_MS)),
        ),
      );
      // A daemon exiting right after close() must not leave its port reservations behind.
      await Promise.all(this.releasing);
    })();
    return this.closing;
  }

  /** A sandboxed task has its own namespace, so its target ports are its own; otherwise it shares the host. */
  private portSource(): PortSource {
    return this.sandbox ? { kind: 'own-namespace' } : { kind: 'shared-host', reserver: this.ports };
  }

  private taskDir(taskId: string): string {
    if (!TASK_ID_PATTERN.test(taskId)) throw new InvalidArgumentError(`invalid task id ${JSON.stringify(taskId)}`);
    return path.join(this.tasksDir, taskId);
  }

  /** prepare + start: choose ports, build the environment, find the command, set up limits, spawn. Never throws. */
  private async launch(entry: TaskProcess): Promise<void> {
    const { task } = entry.ctx;
    let ports: PortChoice;
    let env: Record<string, string>;
    let file: string;
    let wrap = (argv: Argv): Argv => argv;
    const cwd = task.spec.workdir ?? process.cwd();
    const logFile = path.join(entry.dir, LOG_FILE);
    try {
      await fs.mkdir(entry.dir, { recursive: true });
      // Even a task that never starts has a (empty) log, so `service logs` finds it.
      await fs.appendFile(logFile, '');
      if (!(await isDirectory(cwd))) return this.finish(entry, fail(`task: workdir "${cwd}": no such directory`));
      ports = await choosePorts(task, this.portSource());
      env = taskEnvironment(process.env, entry.ctx, ports.byTarget);
      const found = await lookupCommand(task.spec.command[0] ?? '', cwd, env.PATH);
      if (!found.ok) return this.finish(entry, fail(found.message));
      file = found.path;
      const limits = task.spec.resources?.limits;
      if (hasLimits(limits)) entry.limits = await this.cgroups.prepare(task.id, limits);
      if (this.sandbox) {
        entry.sandboxed = true;
        wrap = (await this.sandbox.prepare(task)).wrap;
      }
    } catch (err) {
      return this.finish(entry, fail(`task: preparing failed: ${(err as Error).message}`));
    }
    if (entry.stopRequested) return this.finish(entry, { state: 'shutdown', message: 'shutdown' });
    entry.env = env;
    entry.cwd = cwd;

    let inner = { file, args: task.spec.command.slice(1) };
    if (entry.limits?.applied) inner = joinCgroupArgv(entry.limits.procsFile, inner.file, inner.args);
    const argv = wrap(withDeathSignal(this.setpriv, inner.file, inner.args));
    // Where limits cannot be applied the task runs anyway, and its status says so (service ps / inspect).
    const startedMessage = entry.limits && !entry.limits.applied ? `started; limits not applied: ${entry.limits.reason}` : 'started';
    // Pipes, not the file itself: each line gets its time and stream (Docker's json-file driver).
    let log: TaskLogWriter;
    try {
      log = new TaskLogWriter({ logger: this.log.child({ taskId: task.id }), nowNs: this.nowNs }, logFile);
    } catch (err) {
      return this.finish(entry, fail(`task: opening its log failed: ${(err as Error).message}`));
    }
    entry.log = log;
    let child: child_process.ChildProcess;
    try {
      child = this.spawn(argv.file, argv.args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      void log.finish(LOG_DRAIN_TIMEOUT_MS);
      return this.finish(entry, fail(`task: spawn failed: ${(err as Error).message}`));
    }
    if (child.stdout) log.attach(child.stdout, 'out');
    if (child.stderr) log.attach(child.stderr, 'err');
    entry.child = child;
    let exited = false;
    await new Promise<void>((resolve) => {
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        entry.pid = child.pid!;
        entry.spawnedAt = this.now();
        try {
          writePidFile(path.join(entry.dir, PID_FILE), entry.pid);
        } catch (err) {
          // The task runs all the same; only a restarted daemon would miss it if this one crashed.
          this.log.error({ err, taskId: task.id }, 'writing pid file failed');
        }
        resolve();
        const tcpPorts = this.portReadyTimeoutMs > 0 ? Object.entries(ports.byKey).filter(([k]) => k.startsWith('tcp/')).map(([, p]) => p) : [];
        void waitForTcpPorts(task.address, tcpPorts, { gone: () => exited || entry.stopRequested, timeoutMs: this.portReadyTimeoutMs }).then((r) => {
          if (r === 'gone') return;
          const message = r === 'timeout' ? `${startedMessage}; port ${tcpPorts.join(', ')} not accepting connections yet` : startedMessage;
          this.log.info({ taskId: task.id, pid: entry.pid, ports: ports.byKey }, 'task running');
          this.emit({ taskId: task.id, state: 'running', message, pid: entry.pid, ports: ports.byKey });
        });
      });
      child.on('error', (err) => {
        if (spawned) return this.log.warn({ taskId: task.id, err }, 'task process error');
        void log.finish(LOG_DRAIN_TIMEOUT_MS);
        this.finish(entry, fail(`task: spawn failed: ${err.message}`));
        resolve();
      });
      child.once('exit', (code, signal) => {
        exited = true;
        if (spawned) void this.onExit(entry, code, signal);
      });
    });
  }

  /** The process ended: its group goes, its last lines reach the log, then its outcome (naming the cause of a failure) is reported. */
  private async onExit(entry: TaskProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const pid = entry.pid!;
    // Like a container's init dying: whatever the task left in its group goes too.
    signalGroup(pid, 'SIGKILL');
    try {
      unlinkSync(path.join(entry.dir, PID_FILE));
    } catch {
      // Already gone (removeTask raced us): nothing to clean.
    }
    // Before the outcome: the cause is in the last lines, and a stop (daemon close) must not lose them.
    await entry.log?.finish(LOG_DRAIN_TIMEOUT_MS);
    const cause = entry.log ? exitCause(entry.log.recent('err'), entry.log.recent('out')) : undefined;
    const outcome = taskOutcome(code, signal, entry.stopRequested, cause);
    const ranMs = entry.spawnedAt === undefined ? undefined : this.now() - entry.spawnedAt;
    this.log.info({ taskId: entry.ctx.task.id, pid, code, signal, ranMs, state: outcome.state }, 'task exited');
    this.finish(entry, { ...outcome, pid });
  }

  /** Forgets the task, reports its final state and wakes whoever waits for its end. */
  private finish(entry: TaskProcess, outcome: Omit<TaskEvent, 'taskId'>): void {
    const taskId = entry.ctx.task.id;
    if (this.tasks.get(taskId) !== entry) return;
    this.tasks.delete(taskId);
    if (entry.limits?.applied) void this.cgroups.remove(taskId);
    if (entry.sandboxed) void this.sandbox!.release(entry.ctx.task);
    if (!this.sandbox) {
      const released = this.ports.release(taskId).finally(() => this.releasing.delete(released));
      this.releasing.add(released);
    }
    if (outcome.state === 'failed' && entry.pid === undefined) this.log.warn({ taskId, message: outcome.message }, 'task failed to start');
    this.emit({ taskId, ...outcome });
    entry.markExited();
  }

  private async terminate(entry: TaskProcess, graceMs: number): Promise<void> {
    await entry.launched;
    if (entry.pid === undefined || !this.tasks.has(entry.ctx.task.id)) return entry.exited;
    signalGroup(entry.pid, 'SIGTERM');
    const pid = entry.pid;
    const timer = setTimeout(() => {
      this.log.info({ taskId: entry.ctx.task.id, pid, graceMs }, 'grace period over, killing task');
      signalGroup(pid, 'SIGKILL');
    }, graceMs);
    try {
      await entry.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private emit(e: TaskEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(e);
      } catch (err) {
        this.log.error({ err, taskId: e.taskId }, 'task event listener threw');
      }
    }
  }
}

function fail(message: string): Pick<TaskOutcome, 'state' | 'message'> {
  return { state: 'failed', message };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
