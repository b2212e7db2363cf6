/**
 * A service's side of overlay networks, decided when the operator creates,
 * scales or updates it: which networks it names (names or ids to ids, the
 * default network when none), one VIP per network (vip endpoint mode only),
 * and whether its networks can hold the task addresses it is about to need.
 * Pure: the networks, services and tasks read in; ids, VIPs or a typed error out.
 */
import { AddressPoolExhaustedError, InvalidArgumentError } from '../../errors';
import type { Network, NetworkAddress, ServiceSpec, Task } from '../../model/types';
import type { Service } from '../../model/types';
import { buildPools, holdsAddresses } from './address-pool';
import { requireNetwork } from '../../spec/network';
import { defaultNetwork, serviceNetworkIds } from './task-networks';

/**
 * Ids of the networks a spec names, in its order; the default network when
 * it names none. Throws NetworkNotFoundError for an unknown one and
 * InvalidArgumentError for one named twice.
 */
export function resolveServiceNetworks(named: readonly string[] | undefined, networks: readonly Network[]): string[] {
  if (!named || named.length === 0) {
    const d = defaultNetwork(networks);
    return d ? [d.id] : [];
  }
  const out: string[] = [];
  for (const x of named) {
    const n = requireNetwork(networks, x);
    if (out.includes(n.id)) throw new InvalidArgumentError(`network ${n.name} is given twice`);
    out.push(n.id);
  }
  return out;
}

/**
 * The VIPs of a service on `networkIds`: the ones it has on networks it
 * stays on are kept, each new network gets the lowest free address of its
 * VIP range; none in dnsrr mode. Throws AddressPoolExhaustedError when a
 * VIP range is full.
 */
export function assignVips(
  service: { id: string; endpointMode: 'vip' | 'dnsrr'; current?: readonly NetworkAddress[] },
  networkIds: readonly string[],
  networks: readonly Network[],
  services: readonly Service[],
): NetworkAddress[] {
  if (service.endpointMode !== 'vip') return [];
  const others = services.filter((s) => s.id !== service.id);
  const pools = buildPools(networks, others, []);
  const out: NetworkAddress[] = [];
  for (const id of networkIds) {
    const kept = service.current?.find((v) => v.networkId === id);
    const pool = pools.get(id);
    if (kept && (!pool || pool.mark(kept.address))) {
      out.push({ networkId: id, address: kept.address });
      continue;
    }
    if (!pool) continue;
    const address = pool.allocateVip();
    if (!address) {
      throw new AddressPoolExhaustedError(`the VIP range ${pool.network.vipRange} of network ${pool.network.name} is full: remove a service from it or use another network`);
    }
    out.push({ networkId: id, address });
  }
  return out;
}

/**
 * A service the updater rewrote: an automatic rollback swaps the specs and
 * rebuilds the endpoint from the VIP index alone. Give it back its VIPs
 * (kept on networks it stays on, new ones where it returns to a network)
 * and, when its networks change, bump forceUpdate so that its tasks are
 * redeployed onto them, as a manual update or rollback does. Returns
 * `after` itself when there is nothing to carry.
 */
export function carryNetworks(before: Service, after: Service, networks: readonly Network[], services: readonly Service[]): Service {
  const ids = serviceNetworkIds(after, networks);
  let out = after;
  if (after.endpoint.virtualIPs === undefined && (before.endpoint.virtualIPs !== undefined || after.spec.endpoint.mode === 'vip')) {
    let virtualIPs: NetworkAddress[];
    try {
      virtualIPs = assignVips({ id: after.id, endpointMode: after.spec.endpoint.mode, current: before.endpoint.virtualIPs }, ids, networks, services);
    } catch {
      // A full VIP range: keep what can be kept rather than fail the updater's write.
      virtualIPs = (before.endpoint.virtualIPs ?? []).filter((v) => ids.includes(v.networkId));
    }
    out = { ...out, endpoint: { ...out.endpoint, virtualIPs } };
  }
  const changed = serviceNetworkIds(before, networks).join() !== ids.join();
  if (changed && (after.forceUpdate ?? 0) === (before.forceUpdate ?? 0)) out = { ...out, forceUpdate: (after.forceUpdate ?? 0) + 1 };
  return out;
}

/** What the capacity check looks at. */
export interface CapacityInput {
  /** The service's id, or undefined for one being created. */
  serviceId?: string;
  /** The new spec, its networks resolved to ids. */
  spec: ServiceSpec;
  /** Whether the change makes running tasks dirty (an update walks them). */
  dirty: boolean;
  networks: readonly Network[];
  services: readonly Service[];
  tasks: readonly Task[];
}

/**
 * Whether a change can need more task addresses than the service holds now:
 * more replicas (or job concurrency), other networks, or a start-first walk.
 * Other changes are not checked, so that a label change is not refused
 * because a network filled up since the service was created.
 */
export function mayNeedMoreAddresses(cur: ServiceSpec, next: ServiceSpec, networksChanged: boolean, dirty: boolean, order: 'stop-first' | 'start-first' | undefined): boolean {
  if (networksChanged || (dirty && order === 'start-first')) return true;
  if (next.replicas > cur.replicas) return true;
  return (next.maxConcurrent ?? 0) !== (cur.maxConcurrent ?? 0);
}

/** Tasks a replicated service runs at once: its replicas, or a job's concurrency. */
function concurrentTasks(spec: ServiceSpec): number | undefined {
  if (spec.mode === 'replicated') return spec.replicas;
  if (spec.mode === 'replicated-job') return spec.maxConcurrent && spec.maxConcurrent > 0 ? Math.min(spec.maxConcurrent, spec.replicas) : spec.replicas;
  // Global services depend on the nodes that match; a task that finds its network full waits pending.
  return undefined;
}

/**
 * Refuse a replica count the service's networks cannot hold: each network
 * needs an address for every task the service will run, and during a
 * start-first update one more per task of a batch, while the old tasks still
 * hold theirs. Addresses of this service's tasks that are stopping count as
 * free (they come back on their own). Throws AddressPoolExhaustedError.
 */
export function checkTaskCapacity(input: CapacityInput): void {
  const wanted = concurrentTasks(input.spec);
  if (wanted === undefined || wanted === 0) return;
  const pools = buildPools(input.networks, input.services, input.tasks);
  const order = input.spec.updateConfig?.order ?? 'stop-first';
  const parallelism = input.spec.updateConfig?.parallelism ?? 1;
  const batch = parallelism === 0 ? wanted : Math.min(parallelism, wanted);
  for (const id of input.spec.networks ?? []) {
    const pool = pools.get(id);
    if (!pool) continue;
    let held = 0;
    let stopping = 0;
    for (const t of input.tasks) {
      if (input.serviceId === undefined || t.serviceId !== input.serviceId || !holdsAddresses(t)) continue;
      if (!t.networks?.some((a) => a.networkId === id)) continue;
      if (t.desiredState === 'running') held++;
      else stopping++;
    }
    const extra = input.dirty && order === 'start-first' ? Math.min(batch, held) : 0;
    const more = wanted + extra - held;
    const free = pool.freeHosts() + stopping;
    if (more <= free) continue;
    const why = extra > 0 ? `${wanted} tasks and ${extra} more during a start-first update` : `${wanted} tasks`;
    throw new AddressPoolExhaustedError(
      `network ${pool.network.name} (subnet ${pool.subnetText}) has ${free} free task address${free === 1 ? '' : 'es'} but service ${input.spec.name} needs ${more} more (${why}); use a larger subnet or fewer replicas`,
    );
  }
}
