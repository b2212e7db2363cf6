/**
 * Task history: finished tasks kept per slot so `service ps` can show
 * `\_ web.1` lines (Docker's `--task-history-limit`, default 5).
 */
import type { Task } from '../../model/types';
import { isHistory, newestFirst } from './task-lifecycle';
import type { TaskPlan } from './task-plan';

/** Finished tasks kept per slot when the cluster does not say otherwise. */
export const DEFAULT_TASK_HISTORY_LIMIT = 5;

/**
 * Delete a slot's oldest finished tasks beyond `keep`. An empty slot keeps at
 * least its newest one: that task is what tells later passes the restart
 * policy gave up on the slot.
 */
export function trimHistory(tasks: readonly Task[], plan: TaskPlan, keep: number, occupied: boolean): void {
  const limit = Math.max(keep, occupied ? 0 : 1);
  const history = tasks
    .filter((t) => !plan.deleted(t))
    .map((t) => plan.current(t))
    .filter(isHistory)
    .sort(newestFirst);
  for (const t of history.slice(limit).reverse()) plan.delete(t);
}
