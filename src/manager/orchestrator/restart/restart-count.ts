/**
 * The restart count a slot's next task carries (Task.restarts): one more
 * than the task it replaces when that task ended on its own (the restart
 * policy replaced it), the same when it was stopped by shoal or lost with its
 * node (an eviction is not the task's fault). A task the updater creates for
 * a new spec does not come through here and starts at 0.
 */
import type { Task } from '../../../model/types';
import { endedOnItsOwn } from '../task-lifecycle';

/** Restarts of the task that replaces `replaced` (0 when there is none). */
export function restartsAfter(replaced: Task | undefined): number {
  if (!replaced) return 0;
  return (replaced.restarts ?? 0) + (endedOnItsOwn(replaced.status.state) ? 1 : 0);
}
