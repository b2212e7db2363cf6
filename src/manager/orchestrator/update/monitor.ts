/**
 * The update monitor: how one new task of a walk is doing. A task holds the
 * walk until it is ready (running, and healthy if it has a check); from then
 * it is watched for `monitor`; ending on its own or going unhealthy before
 * the window closes is a failure, and so is a check that gives no verdict
 * in time. Pure: the task, what earlier passes saw of it, and `now` in.
 */
import type { HealthCheck, Task } from '../../../model/types';
import { endedOnItsOwn, isRunnable, stateSinceMs } from '../task-lifecycle';
import { isReady } from '../../../spec/task-spec';

/** What the updater remembers of one new task between passes (ms since the epoch). */
export interface TaskObservation {
  /** First seen running. */
  runningAt?: number;
  /** First seen ready: its monitor window opens here. */
  readyAt?: number;
}

/**
 * Where a walk's task stands. `settledAt` is when it stopped holding its
 * batch (ready, or ended), from which the delay to the next batch counts.
 */
export type Verdict =
  | { kind: 'starting'; wakeAt?: number }
  | { kind: 'monitoring'; settledAt: number; until: number }
  | { kind: 'passed'; settledAt: number }
  | { kind: 'failed'; settledAt: number }
  | { kind: 'gone'; settledAt: number };

/**
 * How long a task with a check may run before its check must have said
 * "healthy": the start period, then every retry a full interval, plus one
 * more interval and a timeout for the probe in flight. A check that fails
 * says "unhealthy" sooner; this only catches one that says nothing.
 */
export function healthVerdictMs(check: HealthCheck): number {
  return check.startPeriodMs + (check.retries + 1) * check.intervalMs + check.timeoutMs;
}

/**
 * Judge `task` at `now`. `seen` is undefined for a task this manager has
 * not watched before (a new leader, a restart); a task that already ended
 * then is not counted as failed, as swarmkit's updater, whose memory is also
 * in-process, does not count it either. Returns the observation to keep.
 */
export function judge(task: Task, seen: TaskObservation | undefined, monitorMs: number, now: number): { verdict: Verdict; seen?: TaskObservation } {
  if (!isRunnable(task)) {
    const endedAt = Math.min(stateSinceMs(task), now);
    if (!seen) return { verdict: { kind: 'gone', settledAt: endedAt } };
    const settledAt = seen.readyAt ?? endedAt;
    // A task stopped by shoal (scaled away, handed over) or lost with its node did not fail the update.
    const inWindow = seen.readyAt === undefined || endedAt <= seen.readyAt + monitorMs;
    return { verdict: { kind: endedOnItsOwn(task.status.state) && inWindow ? 'failed' : 'gone', settledAt }, seen };
  }

  const obs: TaskObservation = { ...seen };
  if (task.status.state === 'running' && obs.runningAt === undefined) obs.runningAt = Math.min(stateSinceMs(task), now);
  if (isReady(task) && obs.readyAt === undefined) {
    // A running state's `since` is exact; when it turned healthy is not recorded, so the first pass that sees it is the time.
    obs.readyAt = task.spec.healthcheck ? now : obs.runningAt;
  }
  const check = task.spec.healthcheck;
  if (obs.readyAt === undefined) {
    if (task.status.health === 'unhealthy') return { verdict: { kind: 'failed', settledAt: now }, seen: obs };
    if (check && obs.runningAt !== undefined) {
      const deadline = obs.runningAt + Math.max(monitorMs, healthVerdictMs(check));
      if (now >= deadline) return { verdict: { kind: 'failed', settledAt: now }, seen: obs };
      return { verdict: { kind: 'starting', wakeAt: deadline }, seen: obs };
    }
    return { verdict: { kind: 'starting' }, seen: obs };
  }
  const until = obs.readyAt + monitorMs;
  if (now >= until) return { verdict: { kind: 'passed', settledAt: obs.readyAt }, seen: obs };
  if (task.status.health === 'unhealthy') return { verdict: { kind: 'failed', settledAt: obs.readyAt }, seen: obs };
  return { verdict: { kind: 'monitoring', settledAt: obs.readyAt, until }, seen: obs };
}
