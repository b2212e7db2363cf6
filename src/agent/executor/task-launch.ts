import type * as child_process from 'node:child_process';
import { promises as fs, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import { hasLimits, joinCgroupArgv, type CgroupLimits, type LimitsSetup } from './cgroup-limits';
import { lookupCommand } from './command-path';
import { withDeathSignal } from './death-signal';
import { exitCause } from './exit-cause';
import { writePidFile } from './pid-file';
import { choosePorts, type PortChoice, type PortSource } from './port-choice';
import { waitForTcpPorts } from './port-readiness';
import type { TaskEvent, TaskRunContext } from './task-run';
import { signalGroup } from './process-group';
import { taskEnvironment } from './task-env';
import { taskOutcome, type TaskOutcome } from './task-exit';
import { TaskLogWriter } from './task-log-writer';
import type { Argv, TaskSandbox } from './task-sandbox';
import { hasPayloads, secretsMountArgv, type TaskPayloadFiles } from './task-payload-files';

/** A task's stdout and stderr as records (log-record.ts), one file for both streams. */
export const LOG_FILE = 'output.log';
/**
 * How long an ended task's pipes may stay open before its log is closed
 * without them (a process that left the task's group can hold them forever).
 */
export const LOG_DRAIN_TIMEOUT_MS = 2_000;
/** A task's pid and start time, so a restarted daemon finds what it left running. */
export const PID_FILE = 'pid';

/** One task the executor knows, from start() until its end is reported. */
export interface TaskProcess {
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
  sandboxed?: boolean;  /** Whether payload files were (being) written for the task (so they must be removed). */
  payloads?: boolean;
}

/** A task not launched yet, whose `exited` settles when markExited() is called. */
export function newTaskProcess(ctx: TaskRunContext, dir: string): TaskProcess {
  let markExited!: () => void;
  const exited = new Promise<void>((resolve) => (markExited = resolve));
  return { ctx, dir, stopRequested: false, launched: Promise.resolve(), exited, markExited };
}

/** What launching a task's process needs from the executor. */
export interface TaskLaunchDeps {
  log: pino.Logger;
  now: () => number;
  nowNs: () => bigint;
  spawn: typeof child_process.spawn;
  cgroups: CgroupLimits;
  sandbox: TaskSandbox | undefined;
  /** Writes the task's secrets and configs; absent: a task that has some fails. */
  payloads: TaskPayloadFiles | undefined;
  /** setpriv giving the task a parent-death signal; null runs it unwrapped. */
  setpriv: string | null;
  /** Where the task's ports come from: its own namespace, or reservations on the shared host. */
  portSource: PortSource;
  /** Wait for the task's TCP ports before reporting 'running' (0: report at spawn). */
  portReadyTimeoutMs: number;
  emit(e: TaskEvent): void;
  /** Ends the task with its outcome: reports it, gives back what it held, wakes its waiters. */
  finish(entry: TaskProcess, outcome: Omit<TaskEvent, 'taskId'>): void;
}

/**
 * prepare + start: choose ports, build the environment, find the command,
 * set up limits, spawn in its own process group with its output piped to
 * its log. Never throws: every failure ends the task through deps.finish.
 */
export async function launchTask(entry: TaskProcess, deps: TaskLaunchDeps): Promise<void> {
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
    if (!(await isDirectory(cwd))) return deps.finish(entry, fail(`task: workdir "${cwd}": no such directory`));
    ports = await choosePorts(task, deps.portSource);
    env = taskEnvironment(process.env, entry.ctx, ports.byTarget);
    const found = await lookupCommand(task.spec.command[0] ?? '', cwd, env.PATH);
    if (!found.ok) return deps.finish(entry, fail(found.message));
    file = found.path;
    const limits = task.spec.resources?.limits;
    if (hasLimits(limits)) entry.limits = await deps.cgroups.prepare(task.id, limits);
    if (deps.sandbox) {
      entry.sandboxed = true;
      wrap = (await deps.sandbox.prepare(task)).wrap;
    }
    if (hasPayloads(task)) {
      if (!deps.payloads) return deps.finish(entry, fail('task: this node cannot deliver secrets or configs'));
      entry.payloads = true;
      const prepared = await deps.payloads.prepare(entry.ctx.nodeId, task);
      Object.assign(env, prepared.env);
      // Its own mount namespace (netns mode): the secrets also appear at /run/secrets, for this task only.
      const outer = wrap;
      if (deps.sandbox && prepared.secretsDir) wrap = (argv) => outer(secretsMountArgv(prepared.secretsDir!, argv));
    }
  } catch (err) {
    return deps.finish(entry, fail(`task: preparing failed: ${(err as Error).message}`));
  }
  if (entry.stopRequested) return deps.finish(entry, { state: 'shutdown', message: 'shutdown' });
  entry.env = env;
  entry.cwd = cwd;

  let inner = { file, args: task.spec.command.slice(1) };
  if (entry.limits?.applied) inner = joinCgroupArgv(entry.limits.procsFile, inner.file, inner.args);
  const argv = wrap(withDeathSignal(deps.setpriv, inner.file, inner.args));
  // Where limits cannot be applied the task runs anyway, and its status says so (service ps / inspect).
  const startedMessage = entry.limits && !entry.limits.applied ? `started; limits not applied: ${entry.limits.reason}` : 'started';
  // Pipes, not the file itself: each line gets its time and stream (Docker's json-file driver).
  let log: TaskLogWriter;
  try {
    log = new TaskLogWriter({ logger: deps.log.child({ taskId: task.id }), nowNs: deps.nowNs }, logFile);
  } catch (err) {
    return deps.finish(entry, fail(`task: opening its log failed: ${(err as Error).message}`));
  }
  entry.log = log;
  let child: child_process.ChildProcess;
  try {
    child = deps.spawn(argv.file, argv.args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    void log.finish(LOG_DRAIN_TIMEOUT_MS);
    return deps.finish(entry, fail(`task: spawn failed: ${(err as Error).message}`));
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
      entry.spawnedAt = deps.now();
      try {
        writePidFile(path.join(entry.dir, PID_FILE), entry.pid);
      } catch (err) {
        // The task runs all the same; only a restarted daemon would miss it if this one crashed.
        deps.log.error({ err, taskId: task.id }, 'writing pid file failed');
      }
      resolve();
      const tcpPorts = deps.portReadyTimeoutMs > 0 ? Object.entries(ports.byKey).filter(([k]) => k.startsWith('tcp/')).map(([, p]) => p) : [];
      void waitForTcpPorts(task.address, tcpPorts, { gone: () => exited || entry.stopRequested, timeoutMs: deps.portReadyTimeoutMs }).then((r) => {
        if (r === 'gone') return;
        const message = r === 'timeout' ? `${startedMessage}; port ${tcpPorts.join(', ')} not accepting connections yet` : startedMessage;
        deps.log.info({ taskId: task.id, pid: entry.pid, ports: ports.byKey }, 'task running');
        deps.emit({ taskId: task.id, state: 'running', message, pid: entry.pid, ports: ports.byKey });
      });
    });
    child.on('error', (err) => {
      if (spawned) return deps.log.warn({ taskId: task.id, err }, 'task process error');
      void log.finish(LOG_DRAIN_TIMEOUT_MS);
      deps.finish(entry, fail(`task: spawn failed: ${err.message}`));
      resolve();
    });
    child.once('exit', (code, signal) => {
      exited = true;
      if (spawned) void onExit(entry, deps, code, signal);
    });
  });
}

/** The process ended: its group goes, its last lines reach the log, then its outcome (naming the cause of a failure) is reported. */
async function onExit(entry: TaskProcess, deps: TaskLaunchDeps, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
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
  const ranMs = entry.spawnedAt === undefined ? undefined : deps.now() - entry.spawnedAt;
  deps.log.info({ taskId: entry.ctx.task.id, pid, code, signal, ranMs, state: outcome.state }, 'task exited');
  deps.finish(entry, { ...outcome, pid });
}

function fail(message: string): Pick<TaskOutcome, 'state' | 'message'> {
  return { state: 'failed', message };
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
