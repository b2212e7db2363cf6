import * as child_process from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import type { Task } from '../../model/types';
import { CgroupLimits } from './cgroup-limits';
import { findSetpriv } from './death-signal';
import { defaultPortLockDir, HostPortReservations, type PortRange } from './host-ports';
import { monotonicWallClockNs, type LogRecord } from './log-record';
import { isRecordedProcessAlive, readPidFile } from './pid-file';
import type { TaskPortReserver } from './port-choice';
import { killOrphan, signalGroup } from './process-group';
import { launchTask, LOG_FILE, newTaskProcess, PID_FILE, type TaskLaunchDeps, type TaskProcess } from './task-launch';
import { followLog, readLogRecords, type LogQuery } from './task-log';
import type { TaskSandbox } from './task-sandbox';
import { TaskPayloadFiles, type PayloadFetcher } from './task-payload-files';
import type { TaskEvent, TaskExecEnvironment, TaskRunContext } from './task-run';

/** Grace between SIGTERM and SIGKILL when the task spec gives none (Docker's 10 s). */
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** Longest grace close() grants a task, so a daemon shutdown is bounded. */
export const CLOSE_MAX_GRACE_MS = 10_000;

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
  sandbox?: TaskSandbox;  /** Fetches a task's secrets and configs from the manager; absent: tasks that use some fail. */
  fetchPayloads?: PayloadFetcher;
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
  private readonly ports: TaskPortReserver;
  private readonly cgroups: CgroupLimits;
  private readonly sandbox: TaskSandbox | undefined;
  private readonly payloads: TaskPayloadFiles | undefined;
  /** What launching a process needs; the launch ends the task through finish(). */
  private readonly launchDeps: TaskLaunchDeps;
  private readonly tasksDir: string;
  private readonly tasks = new Map<string, TaskProcess>();
  private readonly listeners: ((e: TaskEvent) => void)[] = [];
  private closing?: Promise<void>;
  /** Port reservations being given back, which close() waits for. */
  private readonly releasing = new Set<Promise<void>>();

  constructor(deps: ProcessExecutorDeps, options: ProcessExecutorOptions) {
    this.log = deps.logger.child({ component: 'executor' });
    this.ports = deps.ports ?? new HostPortReservations({}, { dir: options.portLockDir ?? defaultPortLockDir(), range: options.taskPortRange });
    this.cgroups = deps.cgroups ?? new CgroupLimits({ logger: this.log });
    this.sandbox = deps.sandbox;
    this.payloads = deps.fetchPayloads && new TaskPayloadFiles(deps.fetchPayloads, { stateDir: options.stateDir });
    const setpriv = options.setpriv === undefined ? findSetpriv() : options.setpriv;
    this.tasksDir = path.join(options.stateDir, 'tasks');
    this.launchDeps = {
      log: this.log,
      now: deps.now ?? Date.now,
      nowNs: deps.nowNs ?? monotonicWallClockNs(),
      spawn: deps.spawn ?? child_process.spawn,
      cgroups: this.cgroups,
      sandbox: this.sandbox,
      payloads: this.payloads,
      setpriv,
      // A sandboxed task has its own namespace, so its target ports are its own; otherwise it shares the host.
      portSource: this.sandbox ? { kind: 'own-namespace' } : { kind: 'shared-host', reserver: this.ports },
      portReadyTimeoutMs: options.portReadyTimeoutMs ?? 0,
      emit: (e) => this.emit(e),
      finish: (entry, outcome) => this.finish(entry, outcome),
    };
    if (!setpriv) this.log.warn('setpriv with --pdeathsig not found: tasks outlive a crashed daemon until its restart');
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
    const entry = newTaskProcess(ctx, dir);
    this.tasks.set(taskId, entry);
    this.emit({ taskId, state: 'starting', message: 'starting' });
    entry.launched = launchTask(entry, this.launchDeps);
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
    // Secrets and configs of a previous run's tasks: those tasks are gone, so are their files.
    await this.payloads?.cleanup();
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

  private taskDir(taskId: string): string {
    if (!TASK_ID_PATTERN.test(taskId)) throw new InvalidArgumentError(`invalid task id ${JSON.stringify(taskId)}`);
    return path.join(this.tasksDir, taskId);
  }

  /** Forgets the task, reports its final state and wakes whoever waits for its end. */
  private finish(entry: TaskProcess, outcome: Omit<TaskEvent, 'taskId'>): void {
    const taskId = entry.ctx.task.id;
    if (this.tasks.get(taskId) !== entry) return;
    this.tasks.delete(taskId);
    if (entry.limits?.applied) void this.cgroups.remove(taskId);
    if (entry.sandboxed) void this.sandbox!.release(entry.ctx.task);
    if (entry.payloads) {
      // close() waits for this too: a stopping daemon must not leave secrets behind on the tmpfs.
      const removed = this.payloads!.release(taskId).finally(() => this.releasing.delete(removed));
      this.releasing.add(removed);
    }
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

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
