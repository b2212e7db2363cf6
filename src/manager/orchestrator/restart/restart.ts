/**
 * The restart policy (`--restart-condition`, `--restart-delay`,
 * `--restart-max-attempts`, `--restart-window`) as one pure decision about a
 * task that finished while still wanted running (swarmkit `restart/`).
 */
import type { Task } from '../../../model/types';
import { endedOnItsOwn, stateSinceMs } from '../task-lifecycle';

/** What to do about a dead task: replace it now, at a later time, or never. */
export type RestartDecision =
  | { kind: 'restart' }
  | { kind: 'wait'; atMs: number }
  | { kind: 'give-up'; reason: string };

/**
 * Decide on `dead`, given every task of its slot (or of its node, for global
 * services). A task stopped by shoal or lost with its node is always replaced;
 * one that ended on its own is replaced as its policy says. Either way the
 * replacement waits `delayMs` after the end, so a crashing task cannot spin.
 */
export function decideRestart(dead: Task, slotTasks: readonly Task[], now: number): RestartDecision {
  const policy = dead.spec.restartPolicy;
  if (endedOnItsOwn(dead.status.state)) {
    if (policy.condition === 'none') return { kind: 'give-up', reason: 'restart condition is none' };
    if (policy.condition === 'on-failure' && !failed(dead)) {
      return { kind: 'give-up', reason: 'task completed and restart condition is on-failure' };
    }
    if (policy.maxAttempts > 0 && restartAttempts(dead, slotTasks, now) >= policy.maxAttempts) {
      return { kind: 'give-up', reason: `restart limit of ${policy.maxAttempts} reached` };
    }
  }
  const atMs = stateSinceMs(dead) + Math.max(0, policy.delayMs);
  return now >= atMs ? { kind: 'restart' } : { kind: 'wait', atMs };
}

/** Whether the task's end counts as a failure for `on-failure`. */
export function failed(t: Task): boolean {
  if (t.status.state === 'failed' || t.status.state === 'rejected') return true;
  return t.status.exitCode !== undefined && t.status.exitCode !== 0;
}

/**
 * Restarts already spent: earlier tasks of the slot, same spec version, that
 * ended on their own inside the window (each was followed by a restart).
 * Counting per spec version resets the budget on a service update, as swarmkit does.
 */
export function restartAttempts(dead: Task, slotTasks: readonly Task[], now: number): number {
  const { windowMs } = dead.spec.restartPolicy;
  let n = 0;
  for (const t of slotTasks) {
    if (t.id === dead.id || t.specVersion !== dead.specVersion || !endedOnItsOwn(t.status.state)) continue;
    if (windowMs > 0 && stateSinceMs(t) < now - windowMs) continue;
    n++;
  }
  return n;
}
