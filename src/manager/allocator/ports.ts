import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { holdsHostPorts } from '../../model/types';
import type { Node, PortConfig, Protocol, Service, ServiceSpec, Task } from '../../model/types';
import { matchConstraints, parseConstraints } from '../../spec/constraint';

/** A published port another service already holds. */
export interface PortConflict {
  port: number;
  protocol: Protocol;
  service: string;
}

/**
 * Published ports of `spec` that another service publishes too. Ingress
 * ports are claimed on every node, so they clash with any other publication
 * of the same port; host-mode ports only clash with ingress ones (two
 * host-mode services share the port by landing on different nodes, which the
 * scheduler's host-port filter ensures).
 */
export function publishedPortConflicts(spec: ServiceSpec, services: Service[], selfId?: string): PortConflict[] {
  const out: PortConflict[] = [];
  for (const p of spec.endpoint.ports) {
    if (p.publishedPort === undefined) continue;
    for (const other of services) {
      if (other.id === selfId) continue;
      const clash = other.spec.endpoint.ports.find(
        (q) =>
          q.publishedPort === p.publishedPort &&
          q.protocol === p.protocol &&
          (p.publishMode === 'ingress' || q.publishMode === 'ingress'),
      );
      if (clash) out.push({ port: p.publishedPort, protocol: p.protocol, service: other.spec.name });
    }
  }
  return out;
}

/** One bind check before a spec is stored: must `port` be free on `node`? */
export interface BindProbe {
  node: Node;
  port: number;
  protocol: Protocol;
}

/** What bindProbes reads of the cluster. */
export interface BindProbeInput {
  spec: ServiceSpec;
  /** The service being updated, if any: ports it already publishes are its own mesh's. */
  previous?: Service;
  nodes: readonly Node[];
  services: readonly Service[];
  tasks: readonly Task[];
}

/**
 * Where the ports `spec` newly publishes must be free of other processes.
 * An ingress port is claimed on every ready node. A host-mode port is bound
 * only where a task lands, so it is checked on the nodes the scheduler could
 * pick now (ready, active, meeting the constraints): a task placed on a node
 * where something else holds the port would run but never be reached. Either
 * way a node where the mesh already holds the port for a host-mode task (of
 * another service, or this one before a mode change) is skipped: that is
 * shoal answering, and the scheduler's host-port filter keeps new tasks off.
 */
export function bindProbes(input: BindProbeInput): BindProbe[] {
  const { spec, previous } = input;
  const before = previous?.spec.endpoint.ports ?? [];
  const published = (p: PortConfig, q: PortConfig) => q.publishedPort === p.publishedPort && q.protocol === p.protocol;
  const fresh = spec.endpoint.ports.filter(
    (p) =>
      p.publishedPort !== undefined &&
      // An ingress port before means the mesh held it on every node; going to host mode needs no new check.
      !before.some((q) => published(p, q) && (q.publishMode === 'ingress' || p.publishMode === 'host')),
  );
  if (fresh.length === 0) return [];
  const constraints = parseConstraints(spec.task.placement.constraints);
  const ready = input.nodes.filter((n) => n.status.state === 'ready');
  const eligible = ready.filter((n) => n.availability === 'active' && matchConstraints(constraints, n));
  const out: BindProbe[] = [];
  for (const p of fresh) {
    const held = nodesHoldingHostPort(p, input.services, input.tasks);
    for (const node of p.publishMode === 'host' ? eligible : ready) {
      if (!held.has(node.id)) out.push({ node, port: p.publishedPort!, protocol: p.protocol });
    }
  }
  return out;
}

/** Ids of nodes whose mesh serves `port` in host mode for a task there. */
function nodesHoldingHostPort(port: PortConfig, services: readonly Service[], tasks: readonly Task[]): Set<string> {
  const publishing = new Set(
    services
      .filter((s) => s.spec.endpoint.ports.some((q) => q.publishMode === 'host' && q.publishedPort === port.publishedPort && q.protocol === port.protocol))
      .map((s) => s.id),
  );
  const nodes = new Set<string>();
  for (const t of tasks) if (publishing.has(t.serviceId) && holdsHostPorts(t)) nodes.add(t.nodeId);
  return nodes;
}

/**
 * Whether address:port can be bound right now, i.e. no other process holds it.
 * Only meaningful for addresses of this host (loopback mode: every node's).
 */
export function probeBindable(address: string, port: number, protocol: Protocol): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind(port, address, () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: address, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
