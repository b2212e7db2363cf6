/**
 * One unit of a job: a slot of a replicated job or a node of a global job.
 * Each unit runs its task to completion once per job iteration; this file
 * decides where a unit stands and what its tasks need (swarmkit
 * `orchestrator/jobs`, restart supervisor).
 */
import type { Service, Task } from '../../../model/types';
import type { EvictionReason } from '../node-fitness';
import { decideRestart } from '../restart/restart';
import { awaitsRestart, bestFirst, isHistory, isRunnable, newestFirst, retire } from '../task-lifecycle';
import type { TaskPlan } from '../task-plan';

/**
 * Where a unit stands after this pass looked at it:
 * - `done`: its task completed; it is never run again in this iteration;
 * - `running`: a task is live (pending, assigned or running);
 * - `waiting`: a task failed and its restart delay has not passed, or its node does not take tasks now;
 * - `restart`: a task failed (or was evicted) and is replaced now;
 * - `given-up`: the restart policy let a failed task go;
 * - `fresh`: nothing ran yet in this iteration (or what ran was stopped by shoal): start one when concurrency allows.
 */
export type UnitState = 'done' | 'running' | 'waiting' | 'restart' | 'given-up' | 'fresh';

/** What the unit logic needs to know about where the unit lives. */
export interface UnitContext {
  plan: TaskPlan;
  /** Why a live task must leave its node, or null. */
  evictionOf(t: Task): EvictionReason | null;
  /** Whether the task's node is down or gone (its tasks become orphaned). */
  nodeDown(t: Task): boolean;
  /** Whether a replacement may be created now (global: the node takes new tasks). */
  canPlace: boolean;
}

/**
 * Whether a task belongs to the service's current job iteration. A job runs
 * again when its spec changes (the version moves) or on `--force` (the
 * force counter moves), as Docker re-runs a job on `service update`.
 */
export function inIteration(t: Task, service: Service): boolean {
  return t.specVersion === service.version && (t.forceUpdate ?? 0) === (service.forceUpdate ?? 0);
}

/** A task that ran to its end successfully: the unit's result, never restarted. */
export function isCompletion(t: Task): boolean {
  return t.status.state === 'complete';
}

/** Tell a completed task it is wanted complete, so `service ps` shows `Complete` / `Complete` as Docker does. */
export function markComplete(t: Task, at: string): Task {
  return t.desiredState === 'complete' ? t : { ...t, desiredState: 'complete', updatedAt: at };
}

/**
 * Judge a unit from its tasks of the current iteration, writing into the
 * plan what those tasks need (retire duplicates and evicted tasks, mark
 * completions, retire the failed task a replacement supersedes). The caller
 * creates the replacement for `restart` and `fresh` units.
 */
export function judgeUnit(tasks: readonly Task[], ctx: UnitContext): UnitState {
  const { plan } = ctx;
  const retireTask = (t: Task): void => plan.update(t, retire(plan.current(t), ctx.nodeDown(t), plan.at));

  const completions = tasks.filter(isCompletion);
  if (completions.length > 0) {
    for (const t of completions) plan.update(t, markComplete(plan.current(t), plan.at));
    for (const t of tasks) if (!isCompletion(t) && !isHistory(t)) retireTask(t);
    return 'done';
  }

  const live: Task[] = [];
  let evicted = 0;
  for (const t of tasks) {
    if (!isRunnable(t)) continue;
    if (ctx.evictionOf(t)) {
      retireTask(t);
      evicted++;
    } else {
      live.push(t);
    }
  }
  live.sort(bestFirst);
  for (const t of live.slice(1)) retireTask(t);

  const dead = tasks.filter(awaitsRestart).sort(newestFirst);
  if (live.length > 0) {
    for (const t of dead) retireTask(t);
    return 'running';
  }
  // Eviction is not the task's fault: replaced at once, no policy, no delay.
  if (evicted > 0) {
    for (const t of dead) retireTask(t);
    return ctx.canPlace ? 'restart' : 'fresh';
  }
  if (dead.length > 0) {
    const [subject, ...older] = dead;
    for (const t of older) retireTask(t);
    const decision = decideRestart(subject, tasks, plan.now);
    switch (decision.kind) {
      case 'restart':
        if (!ctx.canPlace) return 'waiting';
        retireTask(subject);
        return 'restart';
      case 'wait':
        plan.wakeAt(decision.atMs);
        return 'waiting';
      case 'give-up':
        retireTask(subject);
        return 'given-up';
    }
  }
  const newest = [...tasks].sort(newestFirst)[0];
  if (newest && isHistory(newest) && (newest.status.state === 'failed' || newest.status.state === 'rejected')) return 'given-up';
  return 'fresh';
}

/** How many units hold a share of the job's concurrency: those live or about to be. */
export function busyUnits(states: Iterable<UnitState>): number {
  let n = 0;
  for (const s of states) if (s === 'running' || s === 'waiting' || s === 'restart') n++;
  return n;
}

/**
 * Delete a unit's oldest finished tasks beyond `keep`, across iterations.
 * The completion of the current iteration is kept whatever its age: it is
 * what tells later passes the unit is done.
 */
export function trimUnitHistory(tasks: readonly Task[], plan: TaskPlan, keep: number, isResult: (t: Task) => boolean): void {
  const history = tasks
    .filter((t) => !plan.deleted(t))
    .map((t) => plan.current(t))
    .filter((t) => isHistory(t) && !isResult(t))
    .sort(newestFirst);
  // The newest finished task stays even with a limit of 0: it records that the policy gave up.
  for (const t of history.slice(Math.max(keep, 1))) plan.delete(t);
}
