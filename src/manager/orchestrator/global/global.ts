/**
 * The global orchestrator's core: one live task on every node that is ready,
 * active and matches the service's constraints (swarmkit
 * `orchestrator/global`). Tasks are born bound to their node, slot 0.
 * Live tasks on an older spec are the updater's to replace (update/updater.ts).
 */
import type { Node, Service, Task } from '../../../model/types';
import type { ReconcileResult } from '../actions';
import { DEFAULT_TASK_HISTORY_LIMIT, trimHistory } from '../history';
import { acceptsNewTasks, evictionReason, isNodeDown, safeConstraints } from '../node-fitness';
import { reconcileSlot, retireSlot } from '../slot-reconciler';
import { newTask } from '../task-factory';
import type { TaskFactoryDeps } from '../task-factory';
import { settle } from '../task-lifecycle';
import { TaskPlan } from '../task-plan';
import { isDirty } from '../../../spec/task-spec';

/** What one global pass looks at. */
export interface GlobalInput {
  service: Service;
  /** Every task of this service, history included. */
  tasks: readonly Task[];
  nodes: readonly Node[];
  /** Milliseconds since the epoch. */
  now: number;
  /** Finished tasks kept per node (default 5). */
  historyLimit?: number;
}

/**
 * Bring a global service to one task per eligible node: start tasks on nodes
 * that joined or became eligible, retire tasks on nodes that went down, were
 * drained or stopped matching, restart dead tasks per policy.
 */
export function reconcileGlobal(input: GlobalInput, deps: TaskFactoryDeps): ReconcileResult {
  const { service, now } = input;
  const plan = new TaskPlan(now);
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  // Global placement follows the service's current constraints: a constraint
  // change moves the service off nodes without waiting for an update.
  const constraints = safeConstraints(service.spec.task.placement?.constraints);
  const nodeDown = (t: Task): boolean => t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));

  const byNode = new Map<string, Task[]>();
  for (const n of input.nodes) byNode.set(n.id, []);
  for (const t of input.tasks) {
    const list = byNode.get(t.nodeId);
    if (list) list.push(t);
    else byNode.set(t.nodeId, [t]);
  }

  const keep = Math.max(input.historyLimit ?? DEFAULT_TASK_HISTORY_LIMIT, service.spec.task.restartPolicy.maxAttempts);
  for (const nodeId of [...byNode.keys()].sort()) {
    const tasks = byNode.get(nodeId) as Task[];
    const node = nodes.get(nodeId);
    let occupied = false;
    if (nodeId === '') {
      // A global task without a node cannot be placed by anyone.
      retireSlot(tasks, { plan, nodeDown });
    } else {
      const eviction = evictionReason(node, constraints);
      occupied = reconcileSlot(tasks, {
        plan,
        serviceVersion: service.version,
        evictionOf: () => eviction,
        nodeDown,
        isDirty: (t) => isDirty(t, service),
        canPlace: acceptsNewTasks(node, constraints),
        abandonDead: eviction !== null,
        spawn: (restarts) => newTask(service, 0, nodeId, now, deps, restarts),
      });
    }
    for (const t of tasks) plan.update(t, settle(plan.current(t), nodeDown(t), plan.at));
    trimHistory(tasks, plan, keep, occupied);
  }
  return plan.result();
}
