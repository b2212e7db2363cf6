/**
 * What the scheduler knows about one node while it decides: the node and a
 * summary of the tasks it holds (swarmkit `nodeinfo.go`). Built once per
 * pass from plain data and updated in memory as tasks are placed, so one
 * pass spreads a whole batch.
 */
import { isTerminal, portKey, stateRank } from '../../model/types';
import type { Node, Service, Task } from '../../model/types';

const RUNNING_RANK = stateRank('running');

/** A node plus the load and host ports its live tasks account for. */
export class NodeInfo {
  /** Tasks counted towards spreading, per service id. */
  readonly tasksByService = new Map<string, number>();
  /** Tasks counted towards spreading, all services. */
  activeTasks = 0;
  /** Host-mode published ports held on this node, as `tcp/8080`. */
  readonly usedHostPorts = new Set<string>();

  constructor(readonly node: Node) {}

  /** Node id, the scheduler's final tie-break. */
  get id(): string {
    return this.node.id;
  }

  /** Tasks of one service on this node. */
  serviceTasks(serviceId: string): number {
    return this.tasksByService.get(serviceId) ?? 0;
  }

  /**
   * Account for a task on this node. A task that is only being shut down no
   * longer counts as load (its replacement is what we spread), but it still
   * holds its host ports until its process is gone.
   */
  addTask(task: Task, hostPorts: readonly string[]): void {
    if (isTerminal(task.status.state)) return;
    for (const p of hostPorts) this.usedHostPorts.add(p);
    if (stateRank(task.desiredState) > RUNNING_RANK) return;
    this.tasksByService.set(task.serviceId, this.serviceTasks(task.serviceId) + 1);
    this.activeTasks++;
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

/** One NodeInfo per node, loaded with every task already bound to a node. */
export function buildNodeInfos(
  nodes: readonly Node[],
  tasks: readonly Task[],
  services: ReadonlyMap<string, Service>,
): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const n of nodes) infos.set(n.id, new NodeInfo(n));
  const portsByService = new Map<string, string[]>();
  for (const t of tasks) {
    if (!t.nodeId) continue;
    const info = infos.get(t.nodeId);
    if (!info) continue;
    let ports = portsByService.get(t.serviceId);
    if (!ports) {
      ports = hostPortKeys(services.get(t.serviceId));
      portsByService.set(t.serviceId, ports);
    }
    info.addTask(t, ports);
  }
  return infos;
}
