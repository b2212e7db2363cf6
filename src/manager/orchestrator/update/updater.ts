/**
 * The updater's core: a rolling update (or rollback) as a pure state machine
 * over the store's contents (swarmkit `orchestrator/update`). Each pass it
 * looks at the service, its tasks and nodes at `now`, and answers with task
 * actions, maybe a new service object (a new update status, or the previous
 * spec on an automatic rollback), and when to look again.
 *
 * Who does what, so that the updater and the orchestrators never fight over
 * a slot (a slot is a replica number, or a node for a global service):
 * - the orchestrators own the number of slots, failures, restarts, evictions
 *   and history, and only ever create a task in a slot with no live task;
 *   everything they create runs the current spec;
 * - the updater owns live dirty tasks: it alone replaces them, slot by slot.
 *   stop-first retires the old task and creates its replacement in one
 *   write, so the slot never looks empty to an orchestrator; start-first
 *   creates the replacement beside the old task;
 * - the one slot rule both rely on (slot-reconciler.ts): a slot may hold a
 *   dirty and a clean live task at once, and the dirty one is retired as soon
 *   as the clean one is ready. That finishes a start-first hand-over even
 *   when the update is paused meanwhile, as swarmkit's in-flight workers do.
 *
 * A walk's progress is read back from the tasks each pass: the walk's task
 * in a slot is its oldest clean task born since the walk started. Only what
 * the store does not say is kept between passes, in `UpdateObservations`
 * (when a task was first seen ready, which tasks failed); a manager that
 * restarts starts those afresh, as swarmkit's in-memory updater does.
 */
import type { Node, Service, Task, UpdateConfig, UpdateStatus } from '../../../model/types';
import type { TaskAction } from '../actions';
import { acceptsNewTasks, isNodeDown, safeConstraints } from '../node-fitness';
import { newTask } from '../task-factory';
import type { TaskFactoryDeps } from '../task-factory';
import { isRunnable, newestFirst, retire } from '../task-lifecycle';
import { TaskPlan } from '../task-plan';
import { isDirty } from '../../../spec/task-spec';
import { judge } from './monitor';
import type { TaskObservation, Verdict } from './monitor';
import {
  ROLLBACK_COMPLETED_MESSAGE,
  UPDATE_COMPLETED_MESSAGE,
  failureMessage,
  rollbackBlocker,
  rolledBack,
  updatingStatus,
  walkConfig,
  walkPhase,
} from './update-status';
import type { WalkPhase } from './update-status';

/** What one updater pass looks at. */
export interface UpdateInput {
  service: Service;
  /** Every task of this service, history included. */
  tasks: readonly Task[];
  nodes: readonly Node[];
  /** Milliseconds since the epoch. */
  now: number;
  /** What the previous pass returned for this service; omitted on a manager's first pass. */
  observations?: UpdateObservations;
}

/** What the updater remembers between passes about the walk in progress. */
export interface UpdateObservations {
  /** The walk these belong to (phase and start); those of another walk are dropped. */
  walk: string;
  /** The walk's tasks, by id. */
  tasks: Record<string, TaskObservation>;
  /** The walk's tasks counted as failed, in the order they failed. */
  failed: string[];
}

/** What one updater pass decides. */
export interface UpdateResult {
  actions: TaskAction[];
  /** The service to write, compare-and-swap on the revision read, in the same transaction as `actions`. */
  service?: Service;
  /** Earliest time (ms) something is due: a delay ends, a monitor window closes, a health check is overdue. */
  nextWakeMs?: number;
  /** To hand to the next pass; absent when no walk is in progress. */
  observations?: UpdateObservations;
}

/** A replica slot, or a node of a global service, as the walk sees it. */
interface WalkSlot {
  slot: number;
  nodeId: string;
  tasks: Task[];
  /** Whether the walk may put a new task here (a slot the service has, a node that takes tasks). */
  open: boolean;
}

/** Move the update or rollback of `input.service` one step forward. */
export function reconcileUpdate(input: UpdateInput, deps: TaskFactoryDeps): UpdateResult {
  const { now } = input;
  let service = input.service;
  const mode = service.spec.mode;
  // Jobs run to completion; a new spec simply applies to their next runs.
  if (mode !== 'replicated' && mode !== 'global') return { actions: [] };

  const slots = walkSlots(input);
  let phase = walkPhase(service.updateStatus);
  let written: Service | undefined;
  if (!service.updateStatus) {
    // A spec written without a status (an older manager, a direct store write) still rolls out.
    if (!slots.some((s) => s.open && liveDirty(s, service).length > 0)) return { actions: [] };
    service = written = { ...service, updateStatus: updatingStatus(now) };
    phase = 'update';
  }
  // Paused stays paused until the next `service update` or rollback writes a new status.
  if (!phase) return { actions: [] };

  const status = service.updateStatus!;
  const config = walkConfig(service.spec, phase);
  const startedMs = Date.parse(status.startedAt);
  const walk = `${phase}@${status.startedAt}`;
  const prev = input.observations?.walk === walk ? input.observations : undefined;
  const obs: UpdateObservations = { walk, tasks: {}, failed: [...(prev?.failed ?? [])] };
  let wake: number | undefined;
  const wakeAt = (ms: number | undefined) => {
    if (ms !== undefined && (wake === undefined || ms < wake)) wake = ms;
  };

  // Judge the walk's task in every slot it reached.
  const verdicts: { task: Task; verdict: Verdict }[] = [];
  const todo: WalkSlot[] = [];
  let handovers = 0;
  for (const s of slots) {
    const mine = walkTask(s, service, startedMs);
    if (!mine) {
      if (!s.open || liveDirty(s, service).length === 0) continue;
      // A clean live task born before this walk (a hand-over an earlier walk began) finishes by the slot rule.
      if (s.tasks.some((t) => isRunnable(t) && !isDirty(t, service))) handovers++;
      else todo.push(s);
      continue;
    }
    const { verdict, seen } = judge(mine, prev?.tasks[mine.id], config.monitorMs, now);
    if (seen) obs.tasks[mine.id] = seen;
    verdicts.push({ task: mine, verdict });
    if (verdict.kind === 'failed' && !obs.failed.includes(mine.id)) obs.failed.push(mine.id);
    if (verdict.kind === 'starting') wakeAt(verdict.wakeAt);
    if (verdict.kind === 'monitoring') wakeAt(verdict.until);
  }

  // Too many failures: the failure action, unless it is `continue`.
  const attempted = new Set([...verdicts.map((v) => v.task.id), ...obs.failed]).size;
  const failures = obs.failed.length;
  if (failures > 0 && config.failureAction !== 'continue' && failures / attempted > config.maxFailureRatio) {
    const culprit = obs.failed[failures - 1];
    // A rollback that fails pauses; it never rolls back again.
    if (phase === 'update' && config.failureAction === 'rollback' && !rollbackBlocker(service)) {
      return { actions: [], service: rolledBack(service, now, failureMessage(phase, 'rolled back', culprit)) };
    }
    const paused: UpdateStatus = {
      state: phase === 'update' ? 'paused' : 'rollback_paused',
      startedAt: status.startedAt,
      message: failureMessage(phase, 'paused', culprit),
    };
    return { actions: [], service: { ...service, updateStatus: paused } };
  }

  const plan = new TaskPlan(now);
  const holding = handovers > 0 || verdicts.some((v) => v.verdict.kind === 'starting');
  if (!holding && todo.length > 0) {
    const settled = verdicts.map((v) => (v.verdict as { settledAt: number }).settledAt);
    const nextBatchAt = settled.length > 0 ? Math.max(...settled) + config.delayMs : now;
    if (now < nextBatchAt) {
      wakeAt(nextBatchAt);
    } else {
      const batch = config.parallelism > 0 ? todo.slice(0, config.parallelism) : todo;
      const nodes = new Map(input.nodes.map((n) => [n.id, n]));
      const nodeDown = (t: Task) => t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));
      for (const s of batch) obs.tasks[replace(s, service, config.order, { plan, deps, nodeDown }).id] = {};
    }
  } else if (!holding && !verdicts.some((v) => v.verdict.kind === 'monitoring')) {
    return { actions: [], service: { ...service, updateStatus: completedStatus(phase, status.startedAt, now) } };
  }

  const r = plan.result();
  return { actions: r.actions, ...(written && { service: written }), ...(wake !== undefined && { nextWakeMs: wake }), observations: obs };
}

/** The status of a walk that reached every slot and saw its tasks through their monitor window. */
function completedStatus(phase: WalkPhase, startedAt: string, now: number): UpdateStatus {
  const completedAt = new Date(now).toISOString();
  return phase === 'update'
    ? { state: 'completed', startedAt, completedAt, message: UPDATE_COMPLETED_MESSAGE }
    : { state: 'rollback_completed', startedAt, completedAt, message: ROLLBACK_COMPLETED_MESSAGE };
}

/** Slots (replicated) or nodes (global) in walk order, each with its tasks. */
function walkSlots(input: UpdateInput): WalkSlot[] {
  const { service } = input;
  const out = new Map<string, WalkSlot>();
  if (service.spec.mode === 'global') {
    const constraints = safeConstraints(service.spec.task.placement?.constraints);
    const nodes = new Map(input.nodes.map((n) => [n.id, n]));
    for (const t of input.tasks) {
      let s = out.get(t.nodeId);
      if (!s) out.set(t.nodeId, (s = { slot: 0, nodeId: t.nodeId, tasks: [], open: t.nodeId !== '' && acceptsNewTasks(nodes.get(t.nodeId), constraints) }));
      s.tasks.push(t);
    }
    return [...out.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }
  const replicas = Math.max(0, service.spec.replicas);
  for (const t of input.tasks) {
    const key = String(t.slot);
    let s = out.get(key);
    if (!s) out.set(key, (s = { slot: t.slot, nodeId: '', tasks: [], open: t.slot >= 1 && t.slot <= replicas }));
    s.tasks.push(t);
  }
  return [...out.values()].sort((a, b) => a.slot - b.slot);
}

function liveDirty(s: WalkSlot, service: Service): Task[] {
  return s.tasks.filter((t) => isRunnable(t) && isDirty(t, service));
}

/**
 * The walk's task in a slot: its oldest clean task born since the walk
 * started. Whoever created it (the updater, or an orchestrator replacing a
 * task that died or a slot that scaled up), the new spec proves itself there.
 */
function walkTask(s: WalkSlot, service: Service, startedMs: number): Task | undefined {
  const born = s.tasks.filter((t) => Date.parse(t.createdAt) >= startedMs && !isDirty(t, service)).sort(newestFirst);
  return born[born.length - 1];
}

/**
 * Replace a slot's dirty tasks. stop-first retires them in the same write
 * that creates the replacement; start-first leaves them running beside it
 * (the slot rule retires them once it is ready), unless none is running,
 * when there is nothing to keep serving.
 */
function replace(
  s: WalkSlot,
  service: Service,
  order: UpdateConfig['order'],
  ctx: { plan: TaskPlan; deps: TaskFactoryDeps; nodeDown(t: Task): boolean },
): Task {
  const fresh = newTask(service, s.slot, s.nodeId, ctx.plan.now, ctx.deps);
  ctx.plan.create(fresh);
  const old = liveDirty(s, service);
  if (order === 'start-first' && old.some((t) => t.status.state === 'running')) return fresh;
  for (const t of old) ctx.plan.update(t, retire(t, ctx.nodeDown(t), ctx.plan.at));
  return fresh;
}
