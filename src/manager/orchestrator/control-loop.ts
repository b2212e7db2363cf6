import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { controlLoopMetrics, type ControlLoopMetrics } from './control-loop-metrics';
import { systemTimers, type TimerHandle, type Timers } from '../../model/clock';
import { KEYS, TASK_STATES, type Network, type Node, type Service, type Task } from '../../model/types';
import type { Compare, KeyValue, Op, Store, Watcher } from '../../store/store';
import type { ReconcileResult, TaskAction } from './actions';
import { buildPools } from '../allocator/address-pool';
import { reconcileAllNodeAddresses } from '../allocator/node-addresses';
import { carryNetworks } from '../allocator/service-networks';
import { allocateWaitingTasks, awaitsAddresses, makeTaskNetworkAllocator } from '../allocator/task-networks';
import { reconcileGlobal } from './global/global';
import { reconcileJobs } from './jobs/jobs';
import { reconcileRemoved } from './removed';
import { reconcileReplicated } from './replicated/replicated';
import type { ReplicatedInput } from './replicated/replicated';
import { makeAddressAllocator } from './task-factory';
import type { TaskFactoryDeps } from './task-factory';
import { reconcileUpdate } from './update/updater';
import type { UpdateObservations, UpdateResult } from './update/updater';
import { schedule } from '../scheduler/scheduler';

/** Dependencies of the control loop. */
export interface ControlLoopDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
  now: () => number;
  newId: () => string;
  /** The debounce, resync and wake-up timers [Node's]; tests pass a fake clock. */
  timers?: Timers;
}

/** Control loop settings. */
export interface ControlLoopOptions {
  /** Terminal tasks kept per slot (Docker's task-history-limit). */
  historyLimit: number;
  /** Give tasks overlay addresses and hold them pending until they have one (netns mode) [false]. */
  overlayAddresses?: boolean;
}

/** Wait after a store change before a pass, so a burst of changes costs one pass. */
const CHANGE_DEBOUNCE_MS = 10;
/** Pause before watching the store again after its watch ended. */
const WATCH_RETRY_MS = 1_000;
/** A pass also runs this often, in case a wake-up was missed. */
const RESYNC_PERIOD_MS = 5_000;
const CAS_CONFLICT_RETRY_MS = 20;

interface Snapshot {
  nodes: Node[];
  services: Service[];
  tasks: Task[];
  networks: Network[];
  taskRevs: Map<string, number>;
  serviceRevs: Map<string, number>;
  networkRevs: Map<string, number>;
}

/** One service's updater decision, written in one transaction. */
interface UpdateWrite {
  service: Service;
  result: UpdateResult;
}

/**
 * The manager's reconciliation shell: on every change to nodes, services or
 * tasks it runs the pure orchestrators and writes their actions, then the
 * pure updater (rolling updates and rollbacks) over what that left, then the
 * network allocator (addresses for tasks born while a network was full, and
 * for nodes), then the pure scheduler, writing its assignments ("decide,
 * then apply in one place"). Passes never overlap; a change during a pass
 * queues one more. The orchestrators go first so that the updater walks
 * slots that are already the right number, on nodes that are still there.
 * Tasks still waiting for an overlay address are kept from the scheduler.
 */
export class ControlLoop {
  private watcher: Watcher | null = null;
  private timer: TimerHandle | null = null;
  private resync: TimerHandle | null = null;
  private wake: TimerHandle | null = null;
  private running = false;
  private again = false;
  private stopped = true;
  private idle: Promise<void> = Promise.resolve();
  /** What the updater remembers between passes, per service with a walk in progress. */
  private readonly walks = new Map<string, UpdateObservations>();
  private readonly timers: Timers;
  private readonly m: ControlLoopMetrics;

  constructor(
    private readonly deps: ControlLoopDeps,
    private readonly options: ControlLoopOptions,
  ) {
    this.timers = deps.timers ?? systemTimers;
    this.m = controlLoopMetrics(deps.registry);
  }

  /** Start watching and reconciling. */
  run(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.watchStore();
    this.resync = this.timers.setInterval(() => this.trigger(), RESYNC_PERIOD_MS);
    this.resync.unref();
    this.trigger();
  }

  /**
   * Every change asks for a pass. A watch the store ends (etcd lost, its
   * history compacted) is opened again from now on, after a pass: the pass
   * reads everything, so nothing missed in between is lost.
   */
  private watchStore(): void {
    try {
      this.watcher = this.deps.store.watch('/', 0, {
        onEvents: () => this.trigger(),
        onError: (err) => {
          if (this.stopped) return;
          this.deps.logger.warn({ err }, 'store watch ended; watching again');
          this.trigger();
          this.timers.setTimeout(() => {
            if (!this.stopped) this.watchStore();
          }, WATCH_RETRY_MS);
        },
      });
    } catch (err) {
      this.deps.logger.warn({ err }, 'cannot watch the store; the resync pass stands in');
    }
  }

  /** Stop; waits for a pass in flight. Safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.cancel();
    this.watcher = null;
    for (const t of [this.timer, this.wake]) if (t) this.timers.clearTimeout(t);
    if (this.resync) this.timers.clearInterval(this.resync);
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
    this.timer = this.timers.setTimeout(() => {
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
      const { actions, nextWakeMs: orchestratorWake } = this.orchestrate(snap, now);
      conflicts += await this.apply(actions, snap);
      const orchestrated = actions.length > 0 ? await this.read() : snap;
      const { writes, nextWakeMs: updaterWake } = this.update(orchestrated, now);
      conflicts += await this.applyUpdates(writes, orchestrated);
      const after = writes.length > 0 ? await this.read() : orchestrated;
      const nextWakeMs = earliest(orchestratorWake, updaterWake);
      conflicts += await this.allocateNetworks(after, now);
      const started = process.hrtime.bigint();
      const sched = schedule({ nodes: after.nodes, services: after.services, tasks: this.schedulable(after), now });
      this.m.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const d of sched.decisions) this.m.decisions.inc({ result: d.nodeId ? 'assigned' : 'unplaceable' });
      conflicts += await this.apply(sched.actions, after);
      this.countTasks(after.tasks);
      if (nextWakeMs !== undefined && !this.stopped) {
        if (this.wake) this.timers.clearTimeout(this.wake);
        this.wake = this.timers.setTimeout(() => this.trigger(0), Math.max(0, nextWakeMs - this.deps.now()));
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
    const [nodes, services, tasks, networks] = await Promise.all([
      this.deps.store.range<Node>(KEYS.nodes),
      this.deps.store.range<Service>(KEYS.services),
      this.deps.store.range<Task>(KEYS.tasks),
      this.deps.store.range<Network>(KEYS.networks),
    ]);
    return {
      nodes: nodes.kvs.map((kv) => kv.value),
      services: services.kvs.map((kv) => kv.value),
      tasks: tasks.kvs.map((kv) => kv.value),
      networks: networks.kvs.map((kv) => kv.value),
      taskRevs: new Map(tasks.kvs.map((kv: KeyValue<Task>) => [kv.value.id, kv.modRevision])),
      serviceRevs: new Map(services.kvs.map((kv: KeyValue<Service>) => [kv.value.id, kv.modRevision])),
      networkRevs: new Map(networks.kvs.map((kv: KeyValue<Network>) => [kv.value.id, kv.modRevision])),
    };
  }

  /** What a new task needs, with allocators over one read: an id, a loopback address, its overlay addresses. */
  private factoryDeps(snap: Snapshot): TaskFactoryDeps {
    const base = { newId: this.deps.newId, allocateAddress: makeAddressAllocator(snap.tasks) };
    if (!this.options.overlayAddresses) return base;
    const nets = makeTaskNetworkAllocator(snap.networks, snap.services, snap.tasks);
    return { ...base, allocateNetworks: (s) => nets.allocate(s) };
  }

  /**
   * Addresses for tasks that were born while a network was full, and for
   * nodes without one on some network (or with one they no longer need).
   * Returns how many writes lost a race.
   */
  private async allocateNetworks(snap: Snapshot, now: number): Promise<number> {
    if (snap.networks.length === 0 || !this.options.overlayAddresses) return 0;
    // One set of pools for both, nodes first: without its node's address a task cannot use the network anyway.
    const pools = buildPools(snap.networks, snap.services, snap.tasks);
    const { networks } = reconcileAllNodeAddresses(snap.networks, snap.nodes, snap.services, snap.tasks, pools);
    let conflicts = await this.apply(allocateWaitingTasks(snap.tasks, snap.services, snap.networks, now, pools), snap);
    const iso = new Date(now).toISOString();
    const results = await Promise.all(
      networks.map((n) =>
        this.deps.store.txn({
          compare: [{ key: KEYS.network(n.id), modRevision: snap.networkRevs.get(n.id) ?? 0 }],
          success: [{ type: 'put', key: KEYS.network(n.id), value: { ...n, updatedAt: iso } }],
        }),
      ),
    );
    for (const n of networks) this.deps.logger.info({ network: n.name, nodeAddresses: n.nodeAddresses }, 'node addresses changed');
    conflicts += results.filter((r) => !r.succeeded).length;
    return conflicts;
  }

  /** The tasks the scheduler sees: all but those still waiting for an overlay address. */
  private schedulable(snap: Snapshot): Task[] {
    if (snap.networks.length === 0 || !this.options.overlayAddresses) return snap.tasks;
    const services = new Map(snap.services.map((s) => [s.id, s]));
    return snap.tasks.filter((t) => !awaitsAddresses(t, services.get(t.serviceId), snap.networks));
  }

  /** Run every orchestrator over one consistent read. */
  private orchestrate(snap: Snapshot, now: number): { actions: TaskAction[]; nextWakeMs?: number } {
    const byService = groupByService(snap.tasks);
    const deps = this.factoryDeps(snap);
    const actions: TaskAction[] = [];
    let nextWakeMs: number | undefined;
    for (const service of snap.services) {
      const tasks = byService.get(service.id) ?? [];
      byService.delete(service.id);
      const r = orchestratorFor(service)({ service, tasks, nodes: snap.nodes, now, historyLimit: this.options.historyLimit }, deps);
      actions.push(...r.actions);
      nextWakeMs = earliest(nextWakeMs, r.nextWakeMs);
    }
    // What is left belongs to removed services.
    for (const tasks of byService.values()) actions.push(...reconcileRemoved(tasks, now).actions);
    return { actions, nextWakeMs };
  }

  /** Run the updater over every service; returns the writes it asks for. */
  private update(snap: Snapshot, now: number): { writes: UpdateWrite[]; nextWakeMs?: number } {
    const byService = groupByService(snap.tasks);
    const deps = this.factoryDeps(snap);
    const writes: UpdateWrite[] = [];
    let nextWakeMs: number | undefined;
    for (const service of snap.services) {
      const input = { service, tasks: byService.get(service.id) ?? [], nodes: snap.nodes, now, observations: this.walks.get(service.id) };
      const result = reconcileUpdate(input, deps);
      nextWakeMs = earliest(nextWakeMs, result.nextWakeMs);
      if (result.actions.length > 0 || result.service) writes.push({ service, result });
      else this.remember(service.id, result.observations);
    }
    for (const id of this.walks.keys()) if (!snap.serviceRevs.has(id)) this.walks.delete(id);
    return { writes, nextWakeMs };
  }

  /**
   * Write each service's update decision in one transaction, guarded by the
   * revisions read: a stop-first retire and its replacement land together,
   * and nothing lands if the operator changed the service meanwhile.
   */
  private async applyUpdates(writes: UpdateWrite[], snap: Snapshot): Promise<number> {
    const results = await Promise.all(
      writes.map(async ({ service, result }) => {
        const compare: Compare[] = [{ key: KEYS.service(service.id), modRevision: snap.serviceRevs.get(service.id) ?? 0 }];
        const success: Op[] = [];
        // An automatic rollback rebuilds the endpoint: the service keeps its VIPs and follows its networks.
        const next = result.service && carryNetworks(service, result.service, snap.networks, snap.services);
        if (next) success.push({ type: 'put', key: KEYS.service(service.id), value: next });
        for (const a of result.actions) {
          const id = a.type === 'delete' ? a.taskId : a.task.id;
          compare.push({ key: KEYS.task(id), modRevision: a.type === 'create' ? 0 : (snap.taskRevs.get(id) ?? 0) });
          if (a.type === 'create') compare.push(...networkGuards(a.task, snap));
          success.push(a.type === 'delete' ? { type: 'delete', key: KEYS.task(id) } : { type: 'put', key: KEYS.task(id), value: a.task });
        }
        const r = await this.deps.store.txn({ compare, success });
        if (!r.succeeded) return false;
        this.remember(service.id, result.observations);
        const status = result.service?.updateStatus;
        if (status && status !== service.updateStatus) {
          this.m.updateStates.inc({ state: status.state });
          this.deps.logger.info({ service: service.spec.name, state: status.state, message: status.message }, 'update status changed');
        }
        return true;
      }),
    );
    return results.filter((ok) => !ok).length;
  }

  private remember(serviceId: string, observations: UpdateObservations | undefined): void {
    if (observations) this.walks.set(serviceId, observations);
    else this.walks.delete(serviceId);
  }

  /** Write actions with compare-and-swap on what was read; returns how many lost a race. */
  private async apply(actions: TaskAction[], snap: Snapshot): Promise<number> {
    const revs = snap.taskRevs;
    const results = await Promise.all(
      actions.map((a) => {
        if (a.type === 'create') {
          const compare = [{ key: KEYS.task(a.task.id), modRevision: 0 }, ...networkGuards(a.task, snap)];
          return this.deps.store.txn({ compare, success: [{ type: 'put', key: KEYS.task(a.task.id), value: a.task }] });
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

/** The orchestrator of a service's mode. */
function orchestratorFor(service: Service): (input: ReplicatedInput, deps: TaskFactoryDeps) => ReconcileResult {
  switch (service.spec.mode) {
    case 'global':
      return reconcileGlobal;
    case 'replicated-job':
    case 'global-job':
      return reconcileJobs;
    default:
      return reconcileReplicated;
  }
}

/**
 * A new task's overlay addresses were picked around the node addresses
 * read; if a network changed since (a node joined and took an address), the
 * create loses and the next pass picks again.
 */
function networkGuards(task: Task, snap: Snapshot): Compare[] {
  return (task.networks ?? []).map((a) => ({ key: KEYS.network(a.networkId), modRevision: snap.networkRevs.get(a.networkId) ?? 0 }));
}

function groupByService(tasks: readonly Task[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = out.get(t.serviceId);
    if (list) list.push(t);
    else out.set(t.serviceId, [t]);
  }
  return out;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}
