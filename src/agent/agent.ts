import type { Logger } from 'pino';
import type { ApiClient } from '../api/client';
import type { RegisterRequest, RegisterResponse, StatusRequest } from '../api/contract';
import { NotFoundError } from '../errors';
import { isTerminal, stateRank, type Task, type TaskStatus } from '../model/types';
import type { ClusterView } from './cluster-view';
import type { ProcessExecutor, TaskEvent } from './executor/process-executor';

/** Dependencies of the agent. */
export interface AgentDeps {
  client: ApiClient;
  view: ClusterView;
  executor: ProcessExecutor;
  logger: Logger;
  now: () => number;
  /** Called with the node id the manager gave, to persist it. */
  onRegistered(res: RegisterResponse): void;
}

/** Agent settings. */
export interface AgentOptions {
  registration: RegisterRequest;
  /** "ip:port" of this node's DNS server, given to tasks as SHOAL_DNS. */
  dnsAddress: string;
}

/** Wait between status flush retries and registration attempts. */
const RETRY_MS = 500;
/** How long a clean shutdown tries to deliver the tasks' final states. */
const FINAL_REPORT_TIMEOUT_MS = 3_000;

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
  private started = new Set<string>();
  private stopping = new Set<string>();
  private pending = new Map<string, TaskStatus>();
  private flushing = false;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Set on clean shutdown: tasks are being stopped on purpose, not lost. */
  private quiescing = false;
  private readonly logger: Logger;

  constructor(
    private readonly deps: AgentDeps,
    private readonly options: AgentOptions,
  ) {
    this.logger = deps.logger.child({ component: 'agent' });
    this.nodeId = options.registration.nodeId;
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
    await this.deps.executor.close();
    const deadline = this.deps.now() + FINAL_REPORT_TIMEOUT_MS;
    while ((this.pending.size > 0 || this.flushing) && this.deps.now() < deadline) {
      if (!this.flushing && !this.flushTimer) await this.flush();
      else await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop heartbeats and reports; safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.heartbeatTimer = this.flushTimer = null;
  }

  private async register(): Promise<void> {
    for (;;) {
      try {
        const res = await this.deps.client.call<RegisterResponse>('POST', '/v1/dispatcher/register', { ...this.options.registration, nodeId: this.nodeId });
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

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.periodMs);
  }

  private async heartbeat(): Promise<void> {
    try {
      const r = await this.deps.client.call<{ periodMs: number }>('POST', '/v1/dispatcher/heartbeat', { nodeId: this.nodeId });
      this.periodMs = r.periodMs;
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
      const state = this.pending.get(t.id)?.state ?? t.status.state;
      if (t.desiredState === 'running') {
        if (state === 'assigned' && !this.started.has(t.id)) this.start(t);
        else if (!isTerminal(state) && stateRank(state) > stateRank('assigned') && !this.started.has(t.id)) {
          // Running according to the store, but not started by this process: lost in a node restart.
          this.report(t.id, { state: 'failed', message: 'task lost: node restarted', err: 'node restarted' });
        }
      } else if (stateRank(t.desiredState) > stateRank('running')) {
        if (this.started.has(t.id)) this.stopTask(t);
        else if (!isTerminal(state) && stateRank(state) >= stateRank('assigned')) {
          this.report(t.id, { state: 'shutdown', message: 'shutdown before start' });
        }
      }
    }
    // Tasks the manager deleted while this node still runs them.
    for (const id of this.started) {
      if (!mine.has(id)) {
        const t = this.deps.view.tasks.get(id);
        if (!t) void this.deps.executor.stop(id).then(() => this.deps.executor.removeTask(id));
      }
    }
  }

  private start(t: Task): void {
    this.started.add(t.id);
    this.report(t.id, { state: 'accepted', message: 'accepted' });
    this.deps.executor
      .start({ task: t, nodeId: this.nodeId!, dnsAddress: this.options.dnsAddress })
      .catch((err) => this.report(t.id, { state: 'failed', message: `start failed: ${(err as Error).message}`, err: (err as Error).message }));
  }

  private stopTask(t: Task): void {
    if (this.stopping.has(t.id)) return;
    this.stopping.add(t.id);
    void this.deps.executor
      .stop(t.id, t.spec.stopGracePeriodMs)
      .catch((err) => this.logger.error({ err, taskId: t.id }, 'stop failed'))
      .finally(() => {
        this.started.delete(t.id);
        this.stopping.delete(t.id);
      });
  }

  private onExecutorEvent(e: TaskEvent): void {
    const status: Partial<TaskStatus> = { state: e.state, message: e.message };
    if (e.exitCode !== undefined) status.exitCode = e.exitCode;
    if (e.pid !== undefined) status.pid = e.pid;
    if (e.ports) status.ports = e.ports;
    if (e.state === 'failed') status.err = e.message;
    if (e.state === 'shutdown' && this.quiescing) status.message = 'node shut down';
    if (isTerminal(e.state)) this.started.delete(e.taskId);
    this.report(e.taskId, status as Omit<TaskStatus, 'since'>);
  }

  private report(taskId: string, status: Omit<TaskStatus, 'since'> & { since?: string }): void {
    const prev = this.pending.get(taskId);
    // Keep the furthest state; a later event never moves a task back.
    if (prev && stateRank(prev.state) > stateRank(status.state)) return;
    const task = this.deps.view.tasks.get(taskId);
    const merged: TaskStatus = { ...(prev ?? {}), ...status, since: new Date(this.deps.now()).toISOString() };
    if (!merged.ports && task?.status.ports) merged.ports = task.status.ports;
    this.pending.set(taskId, merged);
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
