/**
 * The job orchestrator's core: `replicated-job` and `global-job` services,
 * whose tasks run to completion and are never restarted once complete
 * (swarmkit `orchestrator/jobs`). Pure: the service, its tasks and the nodes
 * in; actions and the next wake-up time out.
 *
 * A replicated job wants `replicas` completions: slots 1..replicas each run
 * until one task completes, at most `maxConcurrent` slots at once. A global
 * job runs one task to completion on every eligible node, at most
 * `maxConcurrent` nodes at once (0: all). Failed tasks are restarted as the
 * restart policy says; a new spec version or `--force` starts a new
 * iteration that runs the whole job again.
 */
import type { Constraint, Node, Service, Task } from '../../../model/types';
import type { ReconcileResult } from '../actions';
import { DEFAULT_TASK_HISTORY_LIMIT } from '../history';
import { acceptsNewTasks, evictionReason, isNodeDown, safeConstraints } from '../node-fitness';
import { newTask } from '../task-factory';
import type { TaskFactoryDeps } from '../task-factory';
import { isHistory, retire, settle } from '../task-lifecycle';
import { TaskPlan } from '../task-plan';
import { busyUnits, inIteration, isCompletion, judgeUnit, trimUnitHistory } from './job-unit';
import type { UnitState } from './job-unit';

/** What one job pass looks at: the same shape as the replicated and global inputs. */
export interface JobsInput {
  service: Service;
  /** Every task of this service, history included. */
  tasks: readonly Task[];
  nodes: readonly Node[];
  /** Milliseconds since the epoch. */
  now: number;
  /** Finished tasks kept per slot or node (default 5). */
  historyLimit?: number;
}

/** Whether a service mode runs to completion. */
export function isJobMode(mode: Service['spec']['mode']): boolean {
  return mode === 'replicated-job' || mode === 'global-job';
}

/** Bring a job service towards its completions: the entry point for both job modes. */
export function reconcileJobs(input: JobsInput, deps: TaskFactoryDeps): ReconcileResult {
  return input.service.spec.mode === 'global-job' ? reconcileGlobalJob(input, deps) : reconcileReplicatedJob(input, deps);
}

/** A replicated job: `replicas` completions, `maxConcurrent` (default `replicas`) slots at a time. */
export function reconcileReplicatedJob(input: JobsInput, deps: TaskFactoryDeps): ReconcileResult {
  const { service, now } = input;
  const plan = new TaskPlan(now);
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const total = Math.max(0, service.spec.replicas);
  const limit = service.spec.maxConcurrent && service.spec.maxConcurrent > 0 ? service.spec.maxConcurrent : total;
  const nodeDown = (t: Task): boolean => t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));
  const constraintsOf = memoConstraints();

  const bySlot = groupBy(input.tasks, (t) => String(t.slot));
  const states = new Map<number, UnitState>();
  for (let s = 1; s <= total; s++) {
    const tasks = (bySlot.get(String(s)) ?? []).filter((t) => inIteration(t, service));
    states.set(
      s,
      judgeUnit(tasks, {
        plan,
        evictionOf: (t) => (t.nodeId ? evictionReason(nodes.get(t.nodeId), constraintsOf(t)) : null),
        nodeDown,
        canPlace: true,
      }),
    );
  }
  // Tasks of an earlier iteration, or of a slot beyond the count, stop.
  for (const t of input.tasks) {
    const slot = t.slot;
    if (!inIteration(t, service) || slot < 1 || slot > total) retireUnlessHistory(plan, t, nodeDown(t));
  }

  let busy = busyUnits(states.values());
  for (const [slot, state] of states) {
    const start = state === 'restart' || (state === 'fresh' && busy < limit);
    if (!start) continue;
    plan.create(newTask(service, slot, '', now, deps));
    if (state === 'fresh') busy++;
  }

  const keep = historyToKeep(input);
  for (const [slot, tasks] of bySlot) {
    for (const t of tasks) plan.update(t, settle(plan.current(t), nodeDown(t), plan.at));
    const current = Number(slot) >= 1 && Number(slot) <= total;
    trimUnitHistory(tasks, plan, keep, (t) => current && inIteration(t, service) && isCompletion(t));
  }
  return plan.result();
}

/** A global job: one completion on every eligible node, `maxConcurrent` (0: no limit) nodes at a time. */
export function reconcileGlobalJob(input: JobsInput, deps: TaskFactoryDeps): ReconcileResult {
  const { service, now } = input;
  const plan = new TaskPlan(now);
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const limit = service.spec.maxConcurrent && service.spec.maxConcurrent > 0 ? service.spec.maxConcurrent : Infinity;
  // Like the global orchestrator, placement follows the current constraints.
  const constraints = safeConstraints(service.spec.task.placement?.constraints);
  const nodeDown = (t: Task): boolean => t.nodeId !== '' && isNodeDown(nodes.get(t.nodeId));

  const byNode = groupBy(input.tasks, (t) => t.nodeId);
  for (const n of input.nodes) if (!byNode.has(n.id)) byNode.set(n.id, []);
  const nodeIds = [...byNode.keys()].sort();

  const states = new Map<string, UnitState>();
  for (const nodeId of nodeIds) {
    const all = byNode.get(nodeId) as Task[];
    const node = nodes.get(nodeId);
    if (nodeId === '' || !node) {
      // A node that left the cluster, or a task without one: nothing runs there again.
      for (const t of all) retireUnlessHistory(plan, t, nodeDown(t));
      continue;
    }
    const eviction = evictionReason(node, constraints);
    states.set(
      nodeId,
      judgeUnit(
        all.filter((t) => inIteration(t, service)),
        { plan, evictionOf: () => eviction, nodeDown, canPlace: acceptsNewTasks(node, constraints) },
      ),
    );
    for (const t of all) if (!inIteration(t, service)) retireUnlessHistory(plan, t, nodeDown(t));
  }

  let busy = busyUnits(states.values());
  for (const [nodeId, state] of states) {
    if (!acceptsNewTasks(nodes.get(nodeId), constraints)) continue;
    const start = state === 'restart' || (state === 'fresh' && busy < limit);
    if (!start) continue;
    plan.create(newTask(service, 0, nodeId, now, deps));
    if (state === 'fresh') busy++;
  }

  const keep = historyToKeep(input);
  for (const nodeId of nodeIds) {
    const tasks = byNode.get(nodeId) as Task[];
    for (const t of tasks) plan.update(t, settle(plan.current(t), nodeDown(t), plan.at));
    trimUnitHistory(tasks, plan, keep, (t) => inIteration(t, service) && isCompletion(t));
  }
  return plan.result();
}

function retireUnlessHistory(plan: TaskPlan, t: Task, nodeDown: boolean): void {
  const cur = plan.current(t);
  if (!isHistory(cur)) plan.update(t, retire(cur, nodeDown, plan.at));
}

// Restart attempts are counted from history, so keep at least as many tasks as the policy allows attempts.
function historyToKeep(input: JobsInput): number {
  return Math.max(input.historyLimit ?? DEFAULT_TASK_HISTORY_LIMIT, input.service.spec.task.restartPolicy.maxAttempts);
}

function groupBy(tasks: readonly Task[], key: (t: Task) => string): Map<string, Task[]> {
  const m = new Map<string, Task[]>();
  for (const t of tasks) {
    const k = key(t);
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  }
  return m;
}

// Tasks keep the constraints they were created with; parse once per spec version.
function memoConstraints(): (t: Task) => Constraint[] | null {
  const byVersion = new Map<number, Constraint[] | null>();
  return (t) => {
    if (!byVersion.has(t.specVersion)) byVersion.set(t.specVersion, safeConstraints(t.spec.placement?.constraints));
    return byVersion.get(t.specVersion) as Constraint[] | null;
  };
}
