import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { KEYS, TASK_STATES, type Node, type Service, type Task } from '../model/types';
import type { KeyValue, Store, Watcher } from '../store/store';
import type { TaskAction } from './actions';
import { reconcileGlobal } from './orchestrator/global/global';
import { reconcileRemoved } from './orchestrator/removed';
import { reconcileReplicated } from './orchestrator/replicated/replicated';
import { makeAddressAllocator } from './orchestrator/task-factory';
import { schedule } from './scheduler/scheduler';

/** Dependencies of the control loop. */
export interface ControlLoopDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
  now: () => number;
  newId: () => string;
}

/** Control loop settings. */
export interface ControlLoopOptions {
  /** Terminal tasks kept per slot (Docker's task-history-limit). */
  historyLimit: number;
}

/** Wait after a store change before a pass, so a burst of changes costs one pass. */
const CHANGE_DEBOUNCE_MS = 10;
/** A pass also runs this often, in case a wake-up was missed. */
const RESYNC_PERIOD_MS = 5_000;
const CAS_CONFLICT_RETRY_MS = 20;

interface Snapshot {
  nodes: Node[];
  services: Service[];
  tasks: Task[];
  taskRevs: Map<string, number>;
}

/**
 * The manager's reconciliation shell: on every change to nodes, services or
 * tasks it runs the pure orchestrators, writes their actions, then runs the
 * pure scheduler and writes its assignments ("decide, then apply in one
 * place"). Passes never overlap; a change during a pass queues one more.
 */
export class ControlLoop {
  private watcher: Watcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resync: NodeJS.Timeout | null = null;
  private wake: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private stopped = true;
  private idle: Promise<void> = Promise.resolve();
  private readonly m: {
    tasks: Gauge;
    decisions: Counter;
    latency: Histogram;
  };

  constructor(
    private readonly deps: ControlLoopDeps,
    private readonly options: ControlLoopOptions,
  ) {
    this.m = {
      tasks: new Gauge({ name: 'shoal_tasks', help: 'Tasks by current state, as the manager sees them', labelNames: ['state'], registers: [deps.registry] }),
      decisions: new Counter({
        name: 'shoal_scheduler_decisions_total',
        help: 'Scheduling decisions by result',
        labelNames: ['result'],
        registers: [deps.registry],
      }),
      latency: new Histogram({
        name: 'shoal_scheduler_latency_seconds',
        help: 'Time one scheduler run takes to decide',
        buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers: [deps.registry],
      }),
    };
  }

  /** Start watching and reconciling. */
  run(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.watcher = this.deps.store.watch('/', 0, { onEvents: () => this.trigger() });
    this.resync = setInterval(() => this.trigger(), RESYNC_PERIOD_MS);
    this.resync.unref();
    this.trigger();
  }

  /** Stop; waits for a pass in flight. Safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.cancel();
    this.watcher = null;
    for (const t of [this.timer, this.wake]) if (t) clearTimeout(t);
    if (this.resync) clearInterval(this.resync);
    this.timer = this.wake = this.resync = null;
    await this.idle;
  }

  /** Ask for a pass soon. */
  trigger(delayMs = CHANGE_DEBOUNCE_MS): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.idle = this.pass();
    }, delayMs);
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    this.again = false;
    let conflicts = 0;
    try {
      const snap = await this.read();
      const now = this.deps.now();
      const { actions, nextWakeMs } = this.orchestrate(snap, now);
      conflicts += await this.apply(actions, snap.taskRevs);
      const after = actions.length > 0 ? await this.read() : snap;
      const started = process.hrtime.bigint();
      const sched = schedule({ nodes: after.nodes, services: after.services, tasks: after.tasks, now });
      this.m.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const d of sched.decisions) this.m.decisions.inc({ result: d.nodeId ? 'assigned' : 'unplaceable' });
      conflicts += await this.apply(sched.actions, after.taskRevs);
      this.countTasks(after.tasks);
      if (nextWakeMs !== undefined && !this.stopped) {
        if (this.wake) clearTimeout(this.wake);
        this.wake = setTimeout(() => this.trigger(0), Math.max(0, nextWakeMs - this.deps.now()));
        this.wake.unref();
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'control loop pass failed');
      this.again = true;
    } finally {
      this.running = false;
    }
    if (this.again || conflicts > 0) this.trigger(conflicts > 0 ? CAS_CONFLICT_RETRY_MS : CHANGE_DEBOUNCE_MS);
  }

  private async read(): Promise<Snapshot> {
    const [nodes, services, tasks] = await Promise.all([
      this.deps.store.range<Node>(KEYS.nodes),
      this.deps.store.range<Service>(KEYS.services),
      this.deps.store.range<Task>(KEYS.tasks),
    ]);
    return {
      nodes: nodes.kvs.map((kv) => kv.value),
      services: services.kvs.map((kv) => kv.value),
      tasks: tasks.kvs.map((kv) => kv.value),
      taskRevs: new Map(tasks.kvs.map((kv: KeyValue<Task>) => [kv.value.id, kv.modRevision])),
    };
  }

  /** Run every orchestrator over one consistent read. */
  private orchestrate(snap: Snapshot, now: number): { actions: TaskAction[]; nextWakeMs?: number } {
    const byService = new Map<string, Task[]>();
    for (const t of snap.tasks) {
      const list = byService.get(t.serviceId);
      if (list) list.push(t);
      else byService.set(t.serviceId, [t]);
    }
    const allocateAddress = makeAddressAllocator(snap.tasks);
    const deps = { newId: this.deps.newId, allocateAddress };
    const actions: TaskAction[] = [];
    let nextWakeMs: number | undefined;
    for (const service of snap.services) {
      const tasks = byService.get(service.id) ?? [];
      byService.delete(service.id);
      const input = { service, tasks, nodes: snap.nodes, now, historyLimit: this.options.historyLimit };
      const r = service.spec.mode === 'global' ? reconcileGlobal(input, deps) : reconcileReplicated(input, deps);
      actions.push(...r.actions);
      if (r.nextWakeMs !== undefined) nextWakeMs = nextWakeMs === undefined ? r.nextWakeMs : Math.min(nextWakeMs, r.nextWakeMs);
    }
    // What is left belongs to removed services.
    for (const tasks of byService.values()) actions.push(...reconcileRemoved(tasks, now).actions);
    return { actions, nextWakeMs };
  }

  /** Write actions with compare-and-swap on what was read; returns how many lost a race. */
  private async apply(actions: TaskAction[], revs: Map<string, number>): Promise<number> {
    const results = await Promise.all(
      actions.map((a) => {
        if (a.type === 'create') {
          return this.deps.store.txn({ compare: [{ key: KEYS.task(a.task.id), modRevision: 0 }], success: [{ type: 'put', key: KEYS.task(a.task.id), value: a.task }] });
        }
        const id = a.type === 'update' ? a.task.id : a.taskId;
        const compare = [{ key: KEYS.task(id), modRevision: revs.get(id) ?? 0 }];
        return this.deps.store.txn({
          compare,
          success: [a.type === 'update' ? { type: 'put', key: KEYS.task(id), value: a.task } : { type: 'delete', key: KEYS.task(id) }],
        });
      }),
    );
    return results.filter((r) => !r.succeeded).length;
  }

  private countTasks(tasks: Task[]): void {
    const counts = new Map<string, number>(TASK_STATES.map((s) => [s, 0]));
    for (const t of tasks) counts.set(t.status.state, (counts.get(t.status.state) ?? 0) + 1);
    for (const [state, n] of counts) this.m.tasks.set({ state }, n);
  }
}
