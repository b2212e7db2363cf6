/**
 * The replicated orchestrator's core: slots 1..replicas each hold exactly one
 * live task (swarmkit `orchestrator/replicated`). Pure: the service, its
 * tasks and the nodes in; actions and the next wake-up time out. Live tasks
 * on an older spec are the updater's to replace (update/updater.ts).
 */
import type { Constraint, Node, Service, Task } from '../../../model/types';
import type { ReconcileResult } from '../actions';
import { DEFAULT_TASK_HISTORY_LIMIT, trimHistory } from '../history';
import { evictionReason, isNodeDown, safeConstraints } from '../node-fitness';
import { reconcileSlot, retireSlot } from '../slot-reconciler';
import type { SlotContext } from '../slot-reconciler';
import { newTask } from '../task-factory';
import type { TaskFactoryDeps } from '../task-factory';
import { settle } from '../task-lifecycle';
import { TaskPlan } from '../task-plan';
import { isDirty } from '../../../spec/task-spec';

/** What one replicated pass looks at. */
export interface ReplicatedInput {
  service: Service;
  /** Every task of this service, history included. */
  tasks: readonly Task[];
  nodes: readonly Node[];
  /** Milliseconds since the epoch. */
  now: number;
  /** Finished tasks kept per slot (default 5). */
  historyLimit?: number;
}

/**
 * Bring a replicated service to its replica count: fill empty slots, retire
 * slots above the count, move tasks off down, drained or no longer matching
 * nodes, restart dead tasks per policy, drop duplicates and old history.
 */
export function reconcileReplicated(input: ReplicatedInput, deps: TaskFactoryDeps): ReconcileResult {
  const { service, now } = input;
  const plan = new TaskPlan(now);
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const replicas = Math.max(0, service.spec.replicas);

  const bySlot = new Map<number, Task[]>();
  for (const t of input.tasks) {
    const list = bySlot.get(t.slot);
    if (list) list.push(t);
    else bySlot.set(t.slot, [t]);
  }
  for (let s = 1; s <= replicas; s++) if (!bySlot.has(s)) bySlot.set(s, []);

  // Tasks keep the constraints they were created with; parse once per spec version.
  const constraintsByVersion = new Map<number, Constraint[] | null>();
  const constraintsOf = (t: Task): Constraint[] | null => {
    if (!constraintsByVersion.has(t.specVersion)) {
      constraintsByVersion.set(t.specVersion, safeConstraints(t.spec.placement?.constraints));
    }
    return constraintsByVersion.get(t.specVersion) as Constraint[] | null;
  };
  const nodeDown = (t: Task): boolean => t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));

  const keep = Math.max(input.historyLimit ?? DEFAULT_TASK_HISTORY_LIMIT, service.spec.task.restartPolicy.maxAttempts);
  for (const slot of [...bySlot.keys()].sort((a, b) => a - b)) {
    const tasks = bySlot.get(slot) as Task[];
    let occupied = false;
    if (slot < 1 || slot > replicas) {
      retireSlot(tasks, { plan, nodeDown });
    } else {
      const ctx: SlotContext = {
        plan,
        serviceVersion: service.version,
        evictionOf: (t) => (t.nodeId ? evictionReason(nodes.get(t.nodeId), constraintsOf(t)) : null),
        nodeDown,
        isDirty: (t) => isDirty(t, service),
        canPlace: true,
        abandonDead: false,
        spawn: (restarts) => newTask(service, slot, '', now, deps, restarts),
      };
      occupied = reconcileSlot(tasks, ctx);
    }
    for (const t of tasks) plan.update(t, settle(plan.current(t), nodeDown(t), plan.at));
    trimHistory(tasks, plan, keep, occupied);
  }
  return plan.result();
}
