/**
 * What the scheduler knows about one node while it decides: the node and a
 * summary of the tasks it holds (swarmkit `nodeinfo.go`). Built once per
 * pass from plain data and updated in memory as tasks are placed, so one
 * pass spreads a whole batch.
 */
import { TASK_STATES, portKey } from '../../model/types';
import type { Node, Resources, Service, Task, TaskState } from '../../model/types';

// stateRank() searches the state list; this pass reads every task in the
// cluster, so it looks ranks up in a table instead.
const RANK = Object.fromEntries(TASK_STATES.map((s, i) => [s, i])) as Record<TaskState, number>;
const RUNNING_RANK = RANK.running;

/** Failures of one service on one node that make the scheduler avoid the node (swarmkit `maxFailures`). */
export const MAX_RECENT_FAILURES = 5;
/** How far back those failures count (swarmkit `monitorFailures`). */
export const FAILURE_WINDOW_MS = 5 * 60_000;

/** Key of a service at one spec version: failures count per version, so an update starts clean. */
export function versionKey(serviceId: string, specVersion: number): string {
  return `${serviceId}\u0000${specVersion}`;
}

/** A node plus the load, resources and host ports its live tasks account for. */
export class NodeInfo {
  /** Tasks counted towards spreading, per service id. */
  readonly tasksByService = new Map<string, number>();
  /** Tasks counted towards spreading, all services. */
  activeTasks = 0;
  /** Host-mode published ports held on this node, as `tcp/8080`. */
  readonly usedHostPorts = new Set<string>();
  /** The node's resources less the reservations of every task still holding them. */
  readonly available: Resources;
  /** Recent failed or rejected tasks, per `versionKey`. */
  readonly recentFailures = new Map<string, number>();

  constructor(readonly node: Node) {
    // A node that never reported its resources is not limited by them: an
    // unknown size must not turn every reservation into "no suitable node".
    this.available = {
      nanoCpus: node.resources?.nanoCpus ?? Infinity,
      memoryBytes: node.resources?.memoryBytes ?? Infinity,
    };
  }

  /** Node id, the scheduler's final tie-break. */
  get id(): string {
    return this.node.id;
  }

  /** Tasks of one service on this node. */
  serviceTasks(serviceId: string): number {
    return this.tasksByService.get(serviceId) ?? 0;
  }

  /** Whether the service, at this spec version, failed here often enough lately to avoid the node. */
  avoidedFor(key: string): boolean {
    return this.recentFailures.size > 0 && (this.recentFailures.get(key) ?? 0) >= MAX_RECENT_FAILURES;
  }

  /**
   * Account for a task on this node. A task that is only being shut down no
   * longer counts as load (its replacement is what we spread), but it still
   * holds its host ports and its reservations until its process is gone.
   */
  addTask(task: Task, hostPorts: readonly string[]): void {
    if (RANK[task.status.state] > RUNNING_RANK) return;
    for (const p of hostPorts) this.usedHostPorts.add(p);
    const reserved = task.spec.resources?.reservations;
    if (reserved) {
      this.available.nanoCpus -= reserved.nanoCpus ?? 0;
      this.available.memoryBytes -= reserved.memoryBytes ?? 0;
    }
    if (RANK[task.desiredState] > RUNNING_RANK) return;
    this.tasksByService.set(task.serviceId, this.serviceTasks(task.serviceId) + 1);
    this.activeTasks++;
  }

  /** Remember a failure of `task` here if it happened inside the window before `now`. */
  addFailure(task: Task, now: number): void {
    if (task.status.state !== 'failed' && task.status.state !== 'rejected') return;
    const since = Date.parse(task.status.since);
    if (Number.isNaN(since) || now - since >= FAILURE_WINDOW_MS) return;
    const key = versionKey(task.serviceId, task.specVersion);
    this.recentFailures.set(key, (this.recentFailures.get(key) ?? 0) + 1);
  }
}

/** Host-mode published ports of a service, as `tcp/8080` keys. */
export function hostPortKeys(service: Service | undefined): string[] {
  if (!service) return [];
  const keys: string[] = [];
  for (const p of service.spec.endpoint.ports) {
    if (p.publishMode === 'host' && p.publishedPort) keys.push(portKey(p.protocol, p.publishedPort));
  }
  return keys;
}

/** How buildNodeInfos reads the tasks. */
export interface NodeInfoOptions {
  /** Count failures inside the window before this time (ms); without it none are counted. */
  now?: number;
  /**
   * Tasks still waiting for the scheduler, left out even when born bound to a
   * node (global): they hold nothing until assigned, or their own reservation
   * would keep them off their node.
   */
  waiting?: (t: Task) => boolean;
}

/** One NodeInfo per node, loaded with every task already placed on a node and its recent failures. */
export function buildNodeInfos(
  nodes: readonly Node[],
  tasks: readonly Task[],
  services: ReadonlyMap<string, Service>,
  options: NodeInfoOptions = {},
): Map<string, NodeInfo> {
  const { now, waiting } = options;
  const infos = new Map<string, NodeInfo>();
  for (const n of nodes) infos.set(n.id, new NodeInfo(n));
  const portsByService = new Map<string, string[]>();
  for (const t of tasks) {
    if (!t.nodeId) continue;
    const info = infos.get(t.nodeId);
    if (!info) continue;
    if (now !== undefined) info.addFailure(t, now);
    if (waiting?.(t)) continue;
    let ports = portsByService.get(t.serviceId);
    if (!ports) {
      ports = hostPortKeys(services.get(t.serviceId));
      portsByService.set(t.serviceId, ports);
    }
    info.addTask(t, ports);
  }
  return infos;
}
