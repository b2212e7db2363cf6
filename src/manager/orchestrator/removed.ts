/**
 * Clean-up after `service rm`: stop every task of the deleted service and
 * delete those that are done, so nothing of it is left once processes exit.
 */
import type { Node, Task } from '../../model/types';
import { isTerminal } from '../../model/types';
import type { ReconcileResult } from './actions';
import { isNodeDown } from './node-fitness';
import { retire } from './task-lifecycle';
import { TaskPlan } from './task-plan';

/**
 * Retire every task of a deleted service (`tasks`, at time `now` in ms) and
 * delete those already finished or never started. Pass `nodes` to orphan
 * tasks on nodes that are down; without them no task is orphaned.
 */
export function reconcileRemoved(tasks: readonly Task[], now: number, nodeList?: readonly Node[]): ReconcileResult {
  const plan = new TaskPlan(now);
  const nodes = nodeList ? new Map(nodeList.map((n) => [n.id, n])) : undefined;
  for (const t of tasks) {
    const down = !!nodes && t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));
    const next = retire(t, down, plan.at);
    if (isTerminal(next.status.state)) plan.delete(t);
    else plan.update(t, next);
  }
  return plan.result();
}
