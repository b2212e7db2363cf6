import type { Node, Task } from '../../model/types';

/**
 * Whether a task may receive new connections and appear in DNS answers: it
 * runs and is meant to keep running (a task being stopped leaves at once,
 * which is how draining starts), it has an address, its node is ready, and,
 * when its spec has a health check, its last result was healthy (a task still
 * `starting` gets no traffic, an `unhealthy` one loses it at once). The LB
 * table and the DNS view both ask this, so they never disagree.
 */
export function isRoutable(task: Task, nodesById: ReadonlyMap<string, Node>): boolean {
  if (task.status.state !== 'running' || task.desiredState !== 'running') return false;
  if (!task.address) return false;
  if (nodesById.get(task.nodeId)?.status.state !== 'ready') return false;
  return !task.spec.healthcheck || task.status.health === 'healthy';
}

/** Nodes keyed by id, the lookup isRoutable() wants. */
export function nodesById(nodes: Iterable<Node>): Map<string, Node> {
  const byId = new Map<string, Node>();
  for (const node of nodes) byId.set(node.id, node);
  return byId;
}
