import type { Node, Service, Task } from '../../model/types';
import { isRoutable, nodesById } from '../table/routable';
import { serviceVip, type NetworkMode } from '../table/service-vip';

/** What the DNS server knows about one service: where its name points. */
export interface DnsServiceEntry {
  /** VIP this node serves for the service; null in dnsrr mode or before the allocator gave an index. */
  vip: string | null;
  mode: 'vip' | 'dnsrr';
  /** Addresses of the routable tasks (running, on ready nodes, healthy when checked), sorted and without duplicates. */
  taskAddresses: string[];
}

/** Everything the DNS answer builder reads, rebuilt by the mesh on every store change. */
export interface DnsView {
  /** Keyed by the lower-case service name, because DNS names are case-insensitive. */
  services: Map<string, DnsServiceEntry>;
}

/** An empty view: every cluster name is NXDOMAIN until the first watch snapshot arrives. */
export function emptyDnsView(): DnsView {
  return { services: new Map() };
}

/** Builds the DNS view of node `self` from the store's services, tasks and nodes. */
export function buildDnsView(services: Service[], tasks: Task[], nodes: Node[], self: Node, networkMode: NetworkMode = 'loopback'): DnsView {
  const byId = nodesById(nodes);
  // The same rule as the LB table: a task being stopped, or not (yet) healthy,
  // must not be handed out by tasks.<svc> or a dnsrr answer either.
  const addressesByService = new Map<string, Set<string>>();
  for (const task of tasks) {
    if (!isRoutable(task, byId)) continue;
    let set = addressesByService.get(task.serviceId);
    if (!set) addressesByService.set(task.serviceId, (set = new Set()));
    set.add(task.address);
  }

  const view = emptyDnsView();
  for (const service of services) {
    const mode = service.spec.endpoint.mode;
    const taskAddresses = [...(addressesByService.get(service.id) ?? [])].sort(compareIPv4);
    view.services.set(service.spec.name.toLowerCase(), {
      vip: serviceVip(networkMode, self, service),
      mode,
      taskAddresses,
    });
  }
  return view;
}

/** Numeric order for dotted quads so that 127.100.0.9 comes before 127.100.0.10. */
function compareIPv4(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < 4; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
