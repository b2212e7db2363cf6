/**
 * One slot's worth of orchestration, shared by the replicated orchestrator
 * (a slot is a replica number) and the global one (a slot is a node): at most
 * one live task, replaced when its node goes away or, per the restart
 * policy, when it dies.
 */
import type { Task } from '../../model/types';
import type { EvictionReason } from './node-fitness';
import { decideRestart } from './restart/restart';
import { restartsAfter } from './restart/restart-count';
import { isReady } from '../../spec/task-spec';
import { awaitsRestart, bestFirst, endedOnItsOwn, isHistory, isRunnable, newestFirst, retire } from './task-lifecycle';
import type { TaskPlan } from './task-plan';

/** What the slot logic needs to know about where the slot lives. */
export interface SlotContext {
  plan: TaskPlan;
  /** The service's current version: a slot whose policy gave up at this version stays empty. */
  serviceVersion: number;
  /** Why a live task must leave its node, or null. */
  evictionOf(t: Task): EvictionReason | null;
  /** Whether the task's node is down or gone (its tasks become orphaned). */
  nodeDown(t: Task): boolean;
  /** Whether the task runs an older spec than the service's (update/dirty.ts); absent, none is (jobs are not updated in place). */
  isDirty?(t: Task): boolean;
  /** Whether a new task may be created for this slot now (global: the node takes new tasks). */
  canPlace: boolean;
  /** Whether dead tasks are dropped without asking the restart policy (global: the node no longer hosts the service). */
  abandonDead: boolean;
  /** A new task for this slot, with the slot's restart count so far. */
  spawn(restarts: number): Task;
}

/** Reconcile one slot; returns whether it ends the pass with a task that is or may be running. */
export function reconcileSlot(tasks: readonly Task[], ctx: SlotContext): boolean {
  const { plan } = ctx;
  const healthy: Task[] = [];
  const evicted: Task[] = [];
  for (const t of tasks) {
    if (!isRunnable(t)) continue;
    if (ctx.evictionOf(t)) {
      plan.update(t, retire(t, ctx.nodeDown(t), plan.at));
      evicted.push(t);
    } else {
      healthy.push(t);
    }
  }

  const keep = survivors(healthy, ctx);
  for (const t of healthy) if (!keep.includes(t)) plan.update(t, retire(t, ctx.nodeDown(t), plan.at));
  let occupied = keep.length > 0;

  // Eviction is not the task's fault: replace at once, no policy, no delay.
  if (!occupied && evicted.length > 0 && ctx.canPlace) {
    plan.create(ctx.spawn(restartsAfter([...evicted].sort(newestFirst)[0])));
    occupied = true;
  }

  const dead = tasks.filter(awaitsRestart).sort(newestFirst);
  if (occupied || ctx.abandonDead) {
    for (const t of dead) plan.update(t, retire(t, ctx.nodeDown(t), plan.at));
    return occupied;
  }
  if (dead.length > 0) {
    const [subject, ...older] = dead;
    for (const t of older) plan.update(t, retire(t, ctx.nodeDown(t), plan.at));
    const decision = decideRestart(subject, tasks, plan.now);
    switch (decision.kind) {
      case 'restart':
        // A node that only paused keeps the dead task waiting until it takes tasks again.
        if (!ctx.canPlace) return true;
        plan.create(ctx.spawn(restartsAfter(subject)));
        plan.update(subject, retire(subject, ctx.nodeDown(subject), plan.at));
        return true;
      case 'wait':
        plan.wakeAt(decision.atMs);
        return true;
      case 'give-up':
        plan.update(subject, retire(subject, ctx.nodeDown(subject), plan.at));
        return false;
    }
  }
  if (evicted.length > 0 || !ctx.canPlace || gaveUp(tasks, ctx.serviceVersion)) return false;
  // An empty slot (new, scaled up, or filled again after an update): its count starts over.
  plan.create(ctx.spawn(0));
  return true;
}

/**
 * Which of a slot's live tasks stay. One dirty and one clean task side by
 * side is a start-first update handing the slot over (update/updater.ts):
 * the old one serves until the new one is ready, then goes. Any other
 * pair (a crash between create and retire, a partition) keeps the task
 * furthest along, so the slot never runs twice.
 */
function survivors(live: readonly Task[], ctx: SlotContext): Task[] {
  const sorted = [...live].sort(bestFirst);
  const dirtyOf = (t: Task) => ctx.isDirty?.(t) ?? false;
  const clean = sorted.filter((t) => !dirtyOf(t));
  const dirty = sorted.filter(dirtyOf);
  if (clean.length === 0 || dirty.length === 0) return sorted.slice(0, 1);
  const ready = clean.find(isReady);
  return ready ? [ready] : [clean[0], dirty[0]];
}

/**
 * Whether the restart policy already gave up on this slot at this version:
 * its newest task ended on its own and was let go. A service update bumps the
 * version and so fills the slot again, as `docker service update --force` does.
 */
export function gaveUp(tasks: readonly Task[], serviceVersion: number): boolean {
  if (tasks.length === 0) return false;
  const newest = [...tasks].sort(newestFirst)[0];
  return newest.specVersion === serviceVersion && isHistory(newest) && endedOnItsOwn(newest.status.state);
}

/** Retire every task of a slot the service no longer has (scaled down, or a node a global service left). */
export function retireSlot(tasks: readonly Task[], ctx: Pick<SlotContext, 'plan' | 'nodeDown'>): void {
  for (const t of tasks) {
    if (!isHistory(t)) ctx.plan.update(t, retire(t, ctx.nodeDown(t), ctx.plan.at));
  }
}
