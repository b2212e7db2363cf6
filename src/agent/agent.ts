import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApiClient } from '../api/client';
import type { HeartbeatResponse, RegisterRequest, RegisterResponse, StatusRequest } from '../api/contract';
import { NotFoundError } from '../errors';
import { isTerminal, portKey, stateRank, type NodeRole, type Task, type TaskState, type TaskStatus } from '../model/types';
import type { ClusterView } from './cluster-view';
import type { ProcessExecutor } from './executor/process-executor';
import type { TaskEvent } from './executor/task-run';
import { HealthChecker } from './health/health-checker';
import type { HealthStatus } from './health/health-state';
import { runProbe, type Prober, type ProbeTarget } from './health/probe';

/** The calls the agent makes to the manager API. */
export type AgentClient = Pick<ApiClient, 'call'>;
/** What the agent reads of the cluster view. */
export type AgentView = Pick<ClusterView, 'tasks' | 'synced' | 'onChange'>;
/** The executor operations the agent uses. */
export type AgentExecutor = Pick<ProcessExecutor, 'onEvent' | 'start' | 'stop' | 'removeTask' | 'cleanupOrphans' | 'close' | 'environment'>;

/** Dependencies of the agent. */
export interface AgentDeps {
  client: AgentClient;
  view: AgentView;
  executor: AgentExecutor;
  logger: Logger;
  now: () => number;
  /** Called with the node id the manager gave, to persist it. */
  onRegistered(res: RegisterResponse): void;
  /** Called with the managers' API addresses each heartbeat answer names. */
  onManagers?(managers: string[]): void;
  /** Called with the node's role on record (and the managers' etcd) each heartbeat answer names. */
  onRole?(role: NodeRole, store: string | undefined): void;
  /** Called with the roots to trust and the issuing root each heartbeat answer names (certificate renewal, CA rotation). */
  onPki?(pki: NonNullable<HeartbeatResponse['pki']>): void;
  /** Waits out the drain delay; default a timer (tests pass one they release themselves). */
  sleep?: (ms: number) => Promise<void>;
  /** Runs one health probe; default the real cmd/http/tcp probes. */
  probe?: Prober;
  /** Where the health probe counter is registered. */
  registry?: Registry;
}

/** Agent settings. */
export interface AgentOptions {
  registration: RegisterRequest;
  /** "ip:port" of this node's DNS server, given to tasks as SHOAL_DNS. */
  dnsAddress: string;
  /** Wait between a task leaving rotation and its stop (SIGTERM); default DRAIN_DELAY_MS. */
  drainDelayMs?: number;
}

/**
 * How long a task that may be receiving traffic keeps running, untouched,
 * after it leaves rotation (desired state no longer running, deleted, or found
 * unhealthy) and before its SIGTERM: every node's mesh watches the same store
 * and drops it from new connections as soon as it sees the change, so this is
 * the time for the slowest mesh to see it. In-flight connections then get the
 * stop grace period.
 */
export const DRAIN_DELAY_MS = 1_000;
/** Status message (and err) of a task stopped because its health check failed. */
export const UNHEALTHY_MESSAGE = 'task: unhealthy';

/** Wait between status flush retries and registration attempts. */
const RETRY_MS = 500;
/** How long a clean shutdown tries to deliver the tasks' final states. */
const FINAL_REPORT_TIMEOUT_MS = 3_000;

/** A status update: the state, and whichever fields change; the rest is kept from the last report. */
type StatusReport = Pick<TaskStatus, 'state'> & Partial<Omit<TaskStatus, 'state' | 'since'>>;

/** What the agent keeps about a task this process started. */
interface LocalTask {
  task: Task;
  /** A stop is under way: draining, then the executor's SIGTERM/SIGKILL. */
  stopping: boolean;
  /** Delete the task's files once stopped (the manager forgot the task). */
  remove: boolean;
  /** Some mesh may be routing to it (it ran, and was healthy when checked), so its stop drains first. */
  routed: boolean;
  /** Being stopped because its health check failed: its end is reported as failed. */
  unhealthy: boolean;
  health?: HealthChecker;
}

/**
 * The node's agent: registers with the dispatcher, heartbeats, runs the
 * tasks assigned to this node through the executor and reports their status.
 * It acts on what the cluster view shows; the executor is the only code that
 * touches processes.
 */
export class Agent {
  nodeId: string | undefined;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private periodMs = 1_000;
  private stopped = true;
  /** Tasks this process started (or is starting); anything else "running" here was lost. */
  private local = new Map<string, LocalTask>();
  private pending = new Map<string, TaskStatus>();
  /** Last status built for each task (pending or delivered): a health change reports it again with only health changed. */
  private last = new Map<string, TaskStatus>();
  private flushing = false;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Set on clean shutdown: tasks are being stopped on purpose, not lost. */
  private quiescing = false;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly drainDelayMs: number;
  /** What the node says of itself when it registers; a role change alters it. */
  private registration: RegisterRequest;

  constructor(
    private readonly deps: AgentDeps,
    private readonly options: AgentOptions,
  ) {
    this.logger = deps.logger.child({ component: 'agent' });
    this.nodeId = options.registration.nodeId;
    this.registration = options.registration;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.drainDelayMs = options.drainDelayMs ?? DRAIN_DELAY_MS;
    deps.executor.onEvent((e) => this.onExecutorEvent(e));
    deps.view.onChange(() => this.reconcile());
  }

  /** Register (retrying until the manager answers), clean up leftovers, start heartbeats. */
  async run(): Promise<void> {
    this.stopped = false;
    const orphans = await this.deps.executor.cleanupOrphans();
    if (orphans.length > 0) this.logger.warn({ tasks: orphans }, 'killed task processes left by a previous run');
    await this.register();
    this.scheduleHeartbeat();
  }

  /**
   * Clean shutdown of the node: stop acting on the view, stop every task
   * (reported as shutdown, so the manager replaces them at once instead of
   * after missed heartbeats), and deliver the last reports.
   */
  async shutdownTasks(): Promise<void> {
    this.quiescing = true;
    for (const lt of this.local.values()) lt.health?.stop();
    await this.deps.executor.close();
    const deadline = this.deps.now() + FINAL_REPORT_TIMEOUT_MS;
    while ((this.pending.size > 0 || this.flushing) && this.deps.now() < deadline) {
      if (!this.flushing && !this.flushTimer) await this.flush();
      else await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop heartbeats, health checks and reports; safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const lt of this.local.values()) lt.health?.stop();
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.heartbeatTimer = this.flushTimer = null;
  }

  private async register(): Promise<void> {
    for (;;) {
      try {
        const res = await this.deps.client.call<RegisterResponse>('POST', '/v1/dispatcher/register', { ...this.registration, nodeId: this.nodeId });
        this.nodeId = res.nodeId;
        this.periodMs = res.heartbeatPeriodMs;
        this.deps.onRegistered(res);
        this.logger.info({ nodeId: res.nodeId, index: res.index }, 'registered with the manager');
        this.reconcile();
        return;
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn({ err: (err as Error).message }, 'registration failed; retrying');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  /**
   * Register again saying `change` of itself (a node that became a manager
   * names its API port, one that stepped down drops it); tasks run on.
   */
  async reRegister(change: Pick<RegisterRequest, 'role' | 'ports'>): Promise<void> {
    this.registration = { ...this.registration, ...change };
    if (!this.stopped) await this.register();
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.periodMs);
  }

  private async heartbeat(): Promise<void> {
    try {
      const r = await this.deps.client.call<HeartbeatResponse>('POST', '/v1/dispatcher/heartbeat', { nodeId: this.nodeId });
      this.periodMs = r.periodMs;
      if (r.managers) this.deps.onManagers?.(r.managers);
      if (r.role) this.deps.onRole?.(r.role, r.store);
      if (r.pki) this.deps.onPki?.(r.pki);
    } catch (err) {
      if (err instanceof NotFoundError) await this.register();
      else this.logger.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
    this.scheduleHeartbeat();
  }

  /** Bring this node's processes in line with the tasks assigned to it. */
  reconcile(): void {
    if (!this.nodeId || !this.deps.view.synced || this.stopped || this.quiescing) return;
    const mine = new Map<string, Task>();
    for (const t of this.deps.view.tasks.values()) if (t.nodeId === this.nodeId) mine.set(t.id, t);
    for (const t of mine.values()) {
      const state = this.knownState(t);
      const lt = this.local.get(t.id);
      if (t.desiredState === 'running') {
        if (state === 'assigned' && !lt) this.start(t);
        else if (!isTerminal(state) && stateRank(state) > stateRank('assigned') && !lt) {
          // Running according to the store, but not started by this process: lost in a node restart.
          this.report(t.id, { state: 'failed', message: 'task lost: node restarted', err: 'node restarted' });
        }
      } else if (stateRank(t.desiredState) > stateRank('running')) {
        if (lt) this.stopTask(lt);
        else if (!isTerminal(state) && stateRank(state) >= stateRank('assigned')) {
          this.report(t.id, { state: 'shutdown', message: 'shutdown before start' });
        }
      }
    }
    // Tasks the manager deleted while this node still runs them.
    for (const [id, lt] of this.local) {
      if (!mine.has(id) && !this.deps.view.tasks.has(id)) this.stopTask(lt, { remove: true });
    }
    for (const id of this.last.keys()) if (!this.deps.view.tasks.has(id) && !this.pending.has(id)) this.last.delete(id);
  }

  /**
   * The furthest state known for a task: the view lags behind what this agent
   * already reported (a task that just ended still shows running there until
   * the watch catches up), and acting on the stale state would report a task
   * it stopped as lost, or overwrite its final status.
   */
  private knownState(t: Task): TaskState {
    const reported = this.pending.get(t.id)?.state ?? this.last.get(t.id)?.state;
    return reported && stateRank(reported) > stateRank(t.status.state) ? reported : t.status.state;
  }

  private start(t: Task): void {
    this.local.set(t.id, { task: t, stopping: false, remove: false, routed: false, unhealthy: false });
    this.report(t.id, { state: 'accepted', message: 'accepted' });
    this.deps.executor
      .start({ task: t, nodeId: this.nodeId!, dnsAddress: this.options.dnsAddress })
      .catch((err) => this.report(t.id, { state: 'failed', message: `start failed: ${(err as Error).message}`, err: (err as Error).message }));
  }

  /**
   * Takes a task out of service: a task some mesh may route to first drains
   * (every mesh already stops sending it new connections, having seen the same
   * change; the delay lets the slowest one catch up while open connections
   * go on), then the executor stops it (SIGTERM, grace period, SIGKILL).
   */
  private stopTask(lt: LocalTask, opts: { remove?: boolean } = {}): void {
    if (opts.remove) lt.remove = true;
    if (lt.stopping) return;
    lt.stopping = true;
    lt.health?.stop();
    const id = lt.task.id;
    void (async () => {
      if (lt.routed) {
        this.logger.debug({ taskId: id, drainDelayMs: this.drainDelayMs }, 'draining task before stopping it');
        await this.sleep(this.drainDelayMs);
      }
      await this.deps.executor.stop(id, lt.task.spec.stopGracePeriodMs);
      if (lt.remove) await this.deps.executor.removeTask(id);
    })()
      .catch((err) => this.logger.error({ err, taskId: id }, 'stop failed'))
      .finally(() => {
        if (this.local.get(id) === lt) this.local.delete(id);
      });
  }

  /** Starts the task's health check once its process runs; the first status is `starting`. */
  private watchHealth(lt: LocalTask, ports: Record<string, number> | undefined): void {
    const check = lt.task.spec.healthcheck!;
    const { task } = lt;
    const first = task.targetPorts[0];
    const port = first ? ports?.[portKey(first.protocol, first.port)] : undefined;
    const target = (): ProbeTarget | undefined => {
      const exec = this.deps.executor.environment(task.id);
      return exec && { address: task.address, port, env: exec.env, cwd: exec.cwd };
    };
    lt.health = new HealthChecker(
      { now: this.deps.now, probe: this.deps.probe ?? runProbe, logger: this.logger, registry: this.deps.registry },
      { taskId: task.id, check, startedAt: this.deps.now(), target, onChange: (health) => this.onHealth(lt, health) },
    );
    lt.health.run();
  }

  /** A health change: reported with the task still running; an unhealthy task then leaves rotation and is stopped. */
  private onHealth(lt: LocalTask, health: HealthStatus): void {
    if (lt.stopping || this.local.get(lt.task.id) !== lt) return;
    this.report(lt.task.id, { state: 'running', health });
    if (health === 'healthy') lt.routed = true;
    if (health === 'unhealthy') {
      this.logger.warn({ taskId: lt.task.id }, 'task unhealthy; stopping it');
      lt.unhealthy = true;
      this.stopTask(lt);
    }
  }

  private onExecutorEvent(e: TaskEvent): void {
    const lt = this.local.get(e.taskId);
    const status: StatusReport = { state: e.state, message: e.message };
    if (e.exitCode !== undefined) status.exitCode = e.exitCode;
    if (e.pid !== undefined) status.pid = e.pid;
    if (e.ports) status.ports = e.ports;
    if (e.state === 'failed') status.err = e.message;
    if (e.state === 'running' && lt && !lt.stopping) {
      if (lt.task.spec.healthcheck) {
        status.health = 'starting';
        this.watchHealth(lt, e.ports);
      } else {
        lt.routed = true;
      }
    }
    if (isTerminal(e.state)) {
      lt?.health?.stop();
      if (lt?.unhealthy && e.state === 'shutdown') {
        // The stop was ours, but the task's fault: failed, so the orchestrator replaces it per its restart policy.
        Object.assign(status, { state: 'failed', message: UNHEALTHY_MESSAGE, err: UNHEALTHY_MESSAGE });
      }
      if (lt) this.local.delete(e.taskId);
    }
    if (status.state === 'shutdown' && this.quiescing) status.message = 'node shut down';
    this.report(e.taskId, status);
  }

  private report(taskId: string, status: StatusReport): void {
    const prev = this.pending.get(taskId) ?? this.last.get(taskId);
    // Keep the furthest state; a later event never moves a task back.
    if (prev && stateRank(prev.state) > stateRank(status.state)) return;
    const task = this.deps.view.tasks.get(taskId);
    // `since` is when the state changed: a health change within running keeps it.
    const since = prev && prev.state === status.state ? prev.since : new Date(this.deps.now()).toISOString();
    const merged: TaskStatus = { ...(prev ?? {}), ...status, message: status.message ?? prev?.message ?? '', since };
    if (!merged.ports && task?.status.ports) merged.ports = task.status.ports;
    this.pending.set(taskId, merged);
    this.last.set(taskId, merged);
    this.scheduleFlush(0);
  }

  private scheduleFlush(delay: number): void {
    if (this.flushTimer || this.flushing) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, delay);
  }

  private async flush(): Promise<void> {
    if (this.pending.size === 0 || !this.nodeId) return;
    this.flushing = true;
    const batch = this.pending;
    this.pending = new Map();
    const body: StatusRequest = { nodeId: this.nodeId, updates: [...batch].map(([taskId, status]) => ({ taskId, status })) };
    try {
      await this.deps.client.call('POST', '/v1/dispatcher/status', body);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'status report failed; retrying');
      for (const [id, st] of batch) if (!this.pending.has(id)) this.pending.set(id, st);
      this.flushing = false;
      if (!this.stopped) this.scheduleFlush(RETRY_MS);
      return;
    }
    this.flushing = false;
    if (this.pending.size > 0) this.scheduleFlush(0);
  }
}
