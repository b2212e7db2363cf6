/**
 * How the orchestrators read and end a task's life: which tasks occupy a
 * slot, which died and await the restart policy, which are history, and how
 * a task is told to stop.
 */
import { isTerminal, stateRank } from '../../model/types';
import type { Task, TaskState, TaskStatus } from '../../model/types';

const RUNNING_RANK = stateRank('running');
const ASSIGNED_RANK = stateRank('assigned');

/** Status message of a task stopped before any node got it. */
export const SHUTDOWN_UNASSIGNED_MESSAGE = 'shut down before being assigned to a node';
/** Status message of a task whose node stopped answering. */
export const ORPHANED_MESSAGE = 'node is down';

/** Wanted running and not finished: the task that occupies its slot. */
export function isRunnable(t: Task): boolean {
  return stateRank(t.desiredState) <= RUNNING_RANK && !isTerminal(t.status.state);
}

/** Finished while still wanted running: the restart policy has not ruled on it yet. */
export function awaitsRestart(t: Task): boolean {
  return stateRank(t.desiredState) <= RUNNING_RANK && isTerminal(t.status.state);
}

/** Finished and let go: kept only as `service ps` history. */
export function isHistory(t: Task): boolean {
  return stateRank(t.desiredState) > RUNNING_RANK && isTerminal(t.status.state);
}

/**
 * The process ended by itself (exit, crash, refusal) rather than being stopped
 * by shoal (`shutdown`) or lost with its node (`orphaned`). Only these are
 * restart attempts, and only these can mark a slot the policy gave up on.
 */
export function endedOnItsOwn(state: TaskState): boolean {
  return state === 'complete' || state === 'failed' || state === 'rejected';
}

/** Newest first: creation time, then id, so equal timestamps still order the same way every pass. */
export function newestFirst(a: Task, b: Task): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Which of several tasks claiming one slot to keep: the furthest along, then the newest. */
export function bestFirst(a: Task, b: Task): number {
  const d = stateRank(b.status.state) - stateRank(a.status.state);
  return d !== 0 ? d : newestFirst(a, b);
}

/** Time (ms) the task entered its current state; an unreadable stamp counts as long ago. */
export function stateSinceMs(t: Task): number {
  const ms = Date.parse(t.status.since);
  return Number.isNaN(ms) ? 0 : ms;
}

/** Ask a task to stop: desired state shutdown, then whatever status settling that implies. */
export function retire(t: Task, nodeDown: boolean, at: string): Task {
  const wanted = stateRank(t.desiredState) > RUNNING_RANK ? t : { ...t, desiredState: 'shutdown' as TaskState, updatedAt: at };
  return settle(wanted, nodeDown, at);
}

/**
 * Give a task that is wanted stopped the status no agent will ever report:
 * never assigned means no process was started, so it is shut down at once;
 * a node that is down will not report, so its tasks are orphaned.
 * Returns the same object when nothing changes.
 */
export function settle(t: Task, nodeDown: boolean, at: string): Task {
  if (stateRank(t.desiredState) <= RUNNING_RANK || isTerminal(t.status.state)) return t;
  let status: TaskStatus | undefined;
  if (stateRank(t.status.state) < ASSIGNED_RANK) status = { state: 'shutdown', since: at, message: SHUTDOWN_UNASSIGNED_MESSAGE };
  else if (nodeDown) status = { state: 'orphaned', since: at, message: ORPHANED_MESSAGE };
  return status ? { ...t, status, updatedAt: at } : t;
}
