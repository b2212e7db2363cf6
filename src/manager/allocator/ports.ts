import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { PortConfig, Protocol, Service, ServiceSpec } from '../../model/types';

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

/** Ingress ports in `spec` that `previous` did not already publish (those need a bind check). */
export function newIngressPorts(spec: ServiceSpec, previous?: ServiceSpec): PortConfig[] {
  return spec.endpoint.ports.filter(
    (p) =>
      p.publishMode === 'ingress' &&
      p.publishedPort !== undefined &&
      !previous?.endpoint.ports.some(
        (q) => q.publishMode === 'ingress' && q.publishedPort === p.publishedPort && q.protocol === p.protocol,
      ),
  );
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
