/**
 * The scheduler's decision core: pending tasks in, assignments out. Pure:
 * the shell reads nodes, services and tasks, calls `schedule`, and applies
 * the actions with compare-and-swap (swarmkit's `applySchedulingDecisions`
 * is the only place that writes).
 */
import type { Node, Service, Task, TaskStatus } from '../../model/types';
import type { TaskAction } from '../orchestrator/actions';
import { DecisionTree } from './decision-tree';
import { boundFilters } from './filter';
import { buildNodeInfos, hostPortKeys, versionKey } from './node-info';
import { NO_SUITABLE_NODE, pendingStatus, pendsFor } from '../../spec/pending';
import { Pipeline } from './pipeline';
import { spreadLabels } from './preference';

/** Status message of a task the scheduler placed. */
export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';

/** What one scheduling pass looks at. */
export interface ScheduleInput {
  nodes: readonly Node[];
  services: ReadonlyMap<string, Service> | readonly Service[];
  /** Every task in the cluster: placed ones count as load and hold host ports. */
  tasks: readonly Task[];
  /** Milliseconds since the epoch. */
  now: number;
}

/** Where one pending task went, or why it stays pending. */
export interface SchedulingDecision {
  taskId: string;
  nodeId: string | null;
  reason?: string;
}

/** Outcome of a pass: writes for the shell and a per-task account for logs and tests. */
export interface ScheduleResult {
  actions: TaskAction[];
  decisions: SchedulingDecision[];
}

/** Whether the scheduler should act on this task: it waits for a node and should run. */
export function needsScheduling(task: Task): boolean {
  return (task.status.state === 'pending' || task.status.state === 'new') && task.desiredState === 'running';
}

/**
 * Place every pending task. Unbound tasks are divided among the values of
 * their spread preferences, then go to the node passing all filters that
 * the service has not kept failing on, with the fewest tasks of their
 * service, then the fewest tasks overall, then the lowest id. Tasks born
 * bound to a node (global services) are assigned once that node is ready,
 * active, matching and has room for their reservations.
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const services = toServiceMap(input.services);
  const since = new Date(input.now).toISOString();
  const infos = buildNodeInfos(input.nodes, input.tasks, services, { now: input.now, waiting: needsScheduling });
  const sortedInfos = [...infos.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: ScheduleResult = { actions: [], decisions: [] };

  const bound: Task[] = [];
  const groups = new Map<string, Task[]>();
  for (const t of input.tasks) {
    if (!needsScheduling(t)) continue;
    if (t.nodeId) {
      bound.push(t);
      continue;
    }
    // Tasks of one service at one spec version share constraints and ports, so
    // the filters run over the nodes once per group, not once per task.
    const key = versionKey(t.serviceId, t.specVersion);
    const g = groups.get(key);
    if (g) g.push(t);
    else groups.set(key, [t]);
  }

  const boundPipeline = new Pipeline(boundFilters());
  for (const t of bound) {
    const service = services.get(t.serviceId);
    if (!service) {
      out.decisions.push({ taskId: t.id, nodeId: null, reason: 'service not found' });
      continue;
    }
    const info = infos.get(t.nodeId);
    if (!info) {
      keepPending(out, t, `${NO_SUITABLE_NODE} (node ${t.nodeId} is not in the cluster)`, since);
      continue;
    }
    boundPipeline.setTask(t, service);
    if (boundPipeline.process(info)) info.addTask(assign(out, t, t.nodeId, since), hostPortKeys(service));
    else keepPending(out, t, boundPipeline.explain(), since);
  }

  const pipeline = new Pipeline();
  for (const key of [...groups.keys()].sort()) {
    const tasks = (groups.get(key) as Task[]).sort(bySlotThenId);
    const service = services.get(tasks[0].serviceId);
    if (!service) {
      for (const t of tasks) out.decisions.push({ taskId: t.id, nodeId: null, reason: 'service not found' });
      continue;
    }
    pipeline.setTask(tasks[0], service);
    const tree = new DecisionTree({
      serviceId: service.id,
      labels: spreadLabels(tasks[0].spec.placement),
      nodes: sortedInfos,
      accepts: (info) => pipeline.process(info),
      failureKey: key,
    });
    const ports = hostPortKeys(service);
    for (const t of tasks) {
      const info = tree.next();
      if (!info) {
        keepPending(out, t, pipeline.explain(), since);
        continue;
      }
      info.addTask(assign(out, t, info.id, since), ports);
      // Re-check the node: placing this task may have used the last of
      // something a filter guards (a host port, memory, the per-node
      // replica limit); the pipeline charges it.
      tree.placed(info, pipeline.recheck(info));
    }
  }
  return out;
}

function assign(out: ScheduleResult, t: Task, nodeId: string, since: string): Task {
  const status: TaskStatus = { state: 'assigned', since, message: ASSIGNED_MESSAGE };
  const task: Task = { ...t, nodeId, status, updatedAt: since };
  out.actions.push({ type: 'update', task });
  out.decisions.push({ taskId: t.id, nodeId });
  return task;
}

function keepPending(out: ScheduleResult, t: Task, reason: string, since: string): void {
  out.decisions.push({ taskId: t.id, nodeId: null, reason });
  if (pendsFor(t.status, 'no-suitable-node', reason)) return;
  // `since` is when the state began, so it moves only when the state does.
  const status = pendingStatus('no-suitable-node', reason, t.status.state === 'pending' ? t.status.since : since);
  out.actions.push({ type: 'update', task: { ...t, status, updatedAt: since } });
}

function bySlotThenId(a: Task, b: Task): number {
  if (a.slot !== b.slot) return a.slot - b.slot;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function toServiceMap(services: ScheduleInput['services']): ReadonlyMap<string, Service> {
  if (services instanceof Map) return services;
  const m = new Map<string, Service>();
  for (const s of services as readonly Service[]) m.set(s.id, s);
  return m;
}
