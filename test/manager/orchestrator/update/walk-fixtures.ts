/**
 * Services mid-update for the updater's tests: spec v1 (`node v1.js`) was
 * replaced by v2 (`node v2.js`) at START; old tasks run v1, new ones v2. A
 * small world that runs the orchestrator, the updater and a fake agent pass
 * after pass on a fake clock.
 */
import { reconcileGlobal } from '../../../../src/manager/orchestrator/global/global';
import { reconcileReplicated } from '../../../../src/manager/orchestrator/replicated/replicated';
import { reconcileUpdate } from '../../../../src/manager/orchestrator/update/updater';
import type { UpdateObservations, UpdateResult } from '../../../../src/manager/orchestrator/update/updater';
import type { TaskAction } from '../../../../src/manager/orchestrator/actions';
import type { HealthCheck, Node, Service, ServiceModeName, Task, UpdateConfig, UpdateStatus } from '../../../../src/model/types';
import { T0, at, fakeDeps, makeService, makeTask } from '../../../support/builders';
import type { TaskOptions } from '../../../support/builders';

/** When the walk of every test service started, in ms after T0. */
export const START = 1_000;

/** Docker's defaults, spelled out so a case states only what it is about. */
export const DEFAULTS: UpdateConfig = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first' };

/** A quick health check: a verdict within 1 s + 3 × 100 ms + 100 ms. */
export const CHECK: HealthCheck = { kind: 'tcp', intervalMs: 100, timeoutMs: 100, retries: 2, startPeriodMs: 1_000 };

/** Knobs of a service mid-update. */
export interface WalkServiceOptions {
  mode?: ServiceModeName;
  replicas?: number;
  update?: Partial<UpdateConfig>;
  rollback?: Partial<UpdateConfig>;
  /** State of the update status; null for none. Default updating. */
  state?: UpdateStatus['state'] | null;
  /** Give the new spec a health check. */
  health?: boolean;
  /** Leave previousSpec out. */
  noPrevious?: boolean;
}

/** Service `web` at version 2 running spec v2, previous spec v1, its walk started at START. */
export function walkService(o: WalkServiceOptions = {}): Service {
  const svc = makeService('web', { replicas: o.replicas ?? 3, version: 2 });
  svc.spec.mode = o.mode ?? 'replicated';
  const previous = structuredClone(svc.spec);
  previous.task.command = ['node', 'v1.js'];
  svc.spec.task.command = ['node', 'v2.js'];
  if (o.health) svc.spec.task.healthcheck = CHECK;
  svc.spec.updateConfig = { ...DEFAULTS, ...o.update };
  svc.spec.rollbackConfig = { ...DEFAULTS, ...o.rollback };
  if (!o.noPrevious) svc.previousSpec = previous;
  const state = o.state === undefined ? 'updating' : o.state;
  if (state) svc.updateStatus = { state, startedAt: at(START), message: 'update in progress' };
  return svc;
}

/** A task of the previous spec (v1), created at 0. */
export function oldTask(id: string, svc: Service, o: TaskOptions = {}): Task {
  const t = makeTask(id, svc, { version: 1, ...o });
  t.spec = structuredClone(svc.previousSpec?.task ?? { ...svc.spec.task, command: ['node', 'v1.js'] });
  return t;
}

/** A task of the current spec born during the walk (created at START unless told). */
export function walkTask(id: string, svc: Service, o: TaskOptions & { health?: Task['status']['health'] } = {}): Task {
  const t = makeTask(id, svc, { created: START, ...o });
  if (o.health) t.status.health = o.health;
  return t;
}

/** Apply a core's task actions to a task list. */
export function applyActions(tasks: Task[], actions: readonly TaskAction[]): Task[] {
  let out = [...tasks];
  for (const a of actions) {
    if (a.type === 'create') out.push(a.task);
    else if (a.type === 'update') out = out.map((x) => (x.id === a.task.id ? a.task : x));
    else out = out.filter((x) => x.id !== a.taskId);
  }
  return out;
}

/** What the fake agent does to a task at a tick: its next status, or the same object. */
export type FakeAgent = (t: Task, now: number) => Task;

/**
 * A fake agent: places a pending task on n1 and starts it; a task with a
 * check is `starting` on its first tick and healthy (or, if it `fails`,
 * unhealthy) on the next; a task without one that `fails` exits with 1 at
 * once. Tasks asked to stop stop.
 */
export function startingAgent(fails: (t: Task) => boolean = () => false): FakeAgent {
  return (t, now) => {
    const since = new Date(now).toISOString();
    const nodeId = t.nodeId || 'n1';
    if (t.desiredState === 'running' && t.status.state === 'pending') {
      if (t.spec.healthcheck) return { ...t, nodeId, status: { state: 'running', since, message: 'started', health: 'starting' } };
      if (fails(t)) return { ...t, nodeId, status: { state: 'failed', since, message: 'exit 1', exitCode: 1 } };
      return { ...t, nodeId, status: { state: 'running', since, message: 'started' } };
    }
    if (t.desiredState === 'running' && t.status.health === 'starting') {
      return { ...t, status: { ...t.status, health: fails(t) ? 'unhealthy' : 'healthy' } };
    }
    if (t.desiredState === 'shutdown' && (t.status.state === 'running' || t.status.state === 'pending')) {
      return { ...t, status: { state: 'shutdown', since, message: 'stopped' } };
    }
    return t;
  };
}

/** The world the multi-pass scenarios run in. */
export class World {
  now = T0;
  obs: UpdateObservations | undefined;
  readonly deps = fakeDeps();
  /** The tasks as the orchestrator and updater left them in the last tick, before the agent acted. */
  written: Task[] = [];
  /** Every updater result, with the time it was taken. */
  readonly log: { now: number; result: UpdateResult }[] = [];

  constructor(
    public service: Service,
    public tasks: Task[],
    readonly nodes: Node[],
    public agent: FakeAgent,
  ) {}

  /** One tick at `now`: orchestrator, updater, then the agent acts on what they wrote. */
  tick(now: number): UpdateResult {
    this.now = now;
    const input = { service: this.service, tasks: this.tasks, nodes: this.nodes, now };
    const orch = this.service.spec.mode === 'global' ? reconcileGlobal(input, this.deps) : reconcileReplicated(input, this.deps);
    this.tasks = applyActions(this.tasks, orch.actions);
    const r = reconcileUpdate({ ...input, tasks: this.tasks, observations: this.obs }, this.deps);
    this.log.push({ now, result: r });
    this.tasks = applyActions(this.tasks, r.actions);
    this.obs = r.observations;
    if (r.service) this.service = r.service;
    this.written = this.tasks;
    this.tasks = this.tasks.map((t) => this.agent(t, now));
    return r;
  }

  /** Tick every `stepMs` until `done` holds or `maxTicks` pass; returns whether it held. */
  runUntil(done: (w: World) => boolean, stepMs: number, maxTicks = 500, check?: (w: World) => void): boolean {
    for (let i = 0; i < maxTicks; i++) {
      this.tick(this.now + stepMs);
      check?.(this);
      if (done(this)) return true;
    }
    return false;
  }

  /** Live tasks (wanted running, not finished) of slot `slot`. */
  live(slot: number): Task[] {
    return this.tasks.filter((t) => t.slot === slot && t.desiredState === 'running' && ['pending', 'running'].includes(t.status.state));
  }
}
