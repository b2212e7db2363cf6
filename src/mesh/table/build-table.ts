import { holdsHostPorts, portKey } from '../../model/types';
import type { Node, PortConfig, Service, Task } from '../../model/types';
import { isRoutable, nodesById } from './routable';
import { serviceVip, type NetworkMode } from './service-vip';
import type { Backend, Frontend, LbTable } from './table';

/** What one node knows when it builds its load-balancing table. */
export interface BuildTableInput {
  /** The node the table is for: published ports listen on its address, VIPs come from its range. */
  self: Node;
  nodes: Node[];
  services: Service[];
  tasks: Task[];
  /** Where VIPs come from [loopback]. */
  mode?: NetworkMode;
}

/** Weight of a serving backend; draining backends get 0 from whoever marks them. */
const SERVING_WEIGHT = 1;

/**
 * The load-balancing table of one node: every ingress published port on the
 * node's address and every VIP:targetPort, each forwarding to the routable
 * tasks of its service (see isRoutable: running, meant to run, on a ready
 * node, healthy when checked) that listen on the target port. A host-mode
 * published port is served, as in Docker, only by nodes that hold a task of
 * the service (see holdsHostPorts), on the node's address and to that node's
 * own routable tasks. Pure and deterministic (frontends and backends sorted
 * by id), so dataplanes can diff two tables.
 */
export function buildTable(input: BuildTableInput): LbTable {
  const { self } = input;
  const nodes = nodesById(input.nodes);
  const servingTasks = new Map<string, Task[]>();
  const hostServices = new Set<string>();
  for (const task of input.tasks) {
    if (task.nodeId === self.id && holdsHostPorts(task)) hostServices.add(task.serviceId);
    if (!isRoutable(task, nodes)) continue;
    const list = servingTasks.get(task.serviceId) ?? [];
    list.push(task);
    servingTasks.set(task.serviceId, list);
  }

  const frontends = new Map<string, Frontend>();
  // Two services can claim the same frontend only if the allocator let a
  // conflict through; the older service keeps it so the answer is stable.
  for (const service of [...input.services].sort(byAgeThenId)) {
    const tasks = servingTasks.get(service.id) ?? [];
    const { endpoint } = service.spec;
    for (const port of endpoint.ports) {
      const backends = backendsFor(tasks, port);
      if (port.publishMode === 'ingress' && port.publishedPort != null) {
        addOnce(frontends, frontend('ingress', port, self.address, port.publishedPort, service, backends));
      }
      if (port.publishMode === 'host' && port.publishedPort != null && hostServices.has(service.id)) {
        const local = backendsFor(tasks.filter((t) => t.nodeId === self.id), port);
        addOnce(frontends, frontend('host', port, self.address, port.publishedPort, service, local));
      }
      const vip = serviceVip(input.mode ?? 'loopback', self, service);
      if (vip !== null) {
        addOnce(frontends, frontend('vip', port, vip, port.targetPort, service, backends));
      }
    }
  }
  return { frontends: [...frontends.values()].sort((a, b) => compare(a.id, b.id)) };
}

/** Stable id of a frontend: `<kind>/<proto>/<addr>:<port>`. */
export function frontendId(kind: Frontend['kind'], protocol: PortConfig['protocol'], address: string, port: number): string {
  return `${kind}/${protocol}/${address}:${port}`;
}

function frontend(
  kind: Frontend['kind'],
  port: PortConfig,
  address: string,
  listenPort: number,
  service: Service,
  backends: Backend[],
): Frontend {
  const f: Frontend = {
    id: frontendId(kind, port.protocol, address, listenPort),
    kind,
    protocol: port.protocol,
    address,
    port: listenPort,
    service: service.spec.name,
    // Each frontend gets its own array so a dataplane may keep it without aliasing.
    backends: backends.map((b) => ({ ...b })),
  };
  // The client's address only matters where clients arrive: the published port, not the VIP.
  if (kind === 'ingress' && port.proxyProtocol) f.proxyProtocol = port.proxyProtocol;
  if (service.spec.endpoint.lb) f.lb = { ...service.spec.endpoint.lb };
  return f;
}

function backendsFor(tasks: Task[], port: PortConfig): Backend[] {
  const key = portKey(port.protocol, port.targetPort);
  const backends: Backend[] = [];
  for (const task of tasks) {
    const listening = task.status.ports?.[key];
    if (listening == null) continue;
    backends.push({ id: task.id, address: task.address, port: listening, weight: SERVING_WEIGHT });
  }
  return backends.sort((a, b) => compare(a.id, b.id));
}

function addOnce(frontends: Map<string, Frontend>, f: Frontend): void {
  if (!frontends.has(f.id)) frontends.set(f.id, f);
}

function byAgeThenId(a: Service, b: Service): number {
  return compare(a.createdAt, b.createdAt) || compare(a.id, b.id);
}

// Code-unit order, not localeCompare: the table must not depend on the host's locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
