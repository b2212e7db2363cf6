/**
 * Task addresses on overlay networks: one address per network of the task's
 * service, handed out with the task (task-factory.ts) from pools rebuilt
 * from the tasks read, and retried for tasks that were born while a network
 * was full. Such a task stays pending with a message naming the network and
 * is kept from the scheduler until it has every address, the way swarmkit's
 * allocator holds tasks back from its scheduler. Pure.
 */
import type { Network, NetworkAddress, Service, Task } from '../../model/types';
import type { TaskAction } from '../orchestrator/actions';
import { NO_FREE_ADDRESS, PENDING_MESSAGE, pendingStatus, pendsFor } from '../../spec/pending';
import { buildPools, type AddressPool } from './address-pool';

/** The addresses a new task got, or why it got none. */
export type NetworkAllocation = { ok: true; networks: NetworkAddress[] } | { ok: false; reason: string };

/** Allocates overlay addresses for new tasks, remembering what it handed out in this pass. */
export interface TaskNetworkAllocator {
  allocate(service: Service): NetworkAllocation;
}

/** The cluster's default network: the builtin one. */
export function defaultNetwork(networks: readonly Network[]): Network | undefined {
  return networks.find((n) => n.builtin);
}

/**
 * Ids of the networks a service's tasks join: those its spec names that
 * still exist, or the default network when it names none (a service created
 * before networks existed, or one whose spec went through an older client).
 */
export function serviceNetworkIds(service: Service, networks: readonly Network[]): string[] {
  const named = service.spec.networks ?? [];
  if (named.length === 0) {
    const d = defaultNetwork(networks);
    return d ? [d.id] : [];
  }
  const known = new Set(networks.map((n) => n.id));
  return named.filter((id) => known.has(id));
}

/**
 * A pool allocator over the networks and tasks read (VIPs of `services` are
 * marked too). The pools are built on the first allocation: most passes
 * create no task.
 */
export function makeTaskNetworkAllocator(networks: readonly Network[], services: readonly Service[], tasks: readonly Task[]): TaskNetworkAllocator {
  let pools: Map<string, AddressPool> | undefined;
  return {
    allocate(service) {
      pools ??= buildPools(networks, services, tasks);
      return allocateIn(pools, serviceNetworkIds(service, networks));
    },
  };
}

/** One address on each network, all or nothing. */
function allocateIn(pools: Map<string, AddressPool>, ids: readonly string[]): NetworkAllocation {
  const got: NetworkAddress[] = [];
  for (const id of ids) {
    const pool = pools.get(id);
    if (!pool) continue;
    const address = pool.allocateTask();
    if (!address) {
      for (const a of got) pools.get(a.networkId)?.release(a.address);
      return { ok: false, reason: `${NO_FREE_ADDRESS} on network ${pool.network.name} (subnet ${pool.subnetText} is full)` };
    }
    got.push({ networkId: id, address });
  }
  return { ok: true, networks: got };
}

/**
 * Whether a task still waits for overlay addresses: not yet placed, wanted
 * running, and missing one on a network of its service. Such tasks are not
 * given to the scheduler.
 */
export function awaitsAddresses(task: Task, service: Service | undefined, networks: readonly Network[]): boolean {
  if (!service || task.desiredState !== 'running') return false;
  if (task.status.state !== 'new' && task.status.state !== 'pending') return false;
  const have = new Set((task.networks ?? []).map((a) => a.networkId));
  return serviceNetworkIds(service, networks).some((id) => !have.has(id));
}

/**
 * Try again for every task waiting for addresses, oldest first: each one
 * that now gets all of them is updated with its addresses and the usual
 * pending message; the others keep (or get) the message naming the full
 * network. `pools` (built from the same read) may be shared with the node
 * address pass so both see each other's picks.
 */
export function allocateWaitingTasks(
  tasks: readonly Task[],
  services: readonly Service[],
  networks: readonly Network[],
  now: number,
  pools: Map<string, AddressPool> = buildPools(networks, services, tasks),
): TaskAction[] {
  const byId = new Map(services.map((s) => [s.id, s]));
  const waiting = tasks
    .filter((t) => awaitsAddresses(t, byId.get(t.serviceId), networks))
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (waiting.length === 0) return [];
  const at = new Date(now).toISOString();
  const actions: TaskAction[] = [];
  for (const t of waiting) {
    const service = byId.get(t.serviceId) as Service;
    const have = new Map((t.networks ?? []).map((a) => [a.networkId, a]));
    const missing = serviceNetworkIds(service, networks).filter((id) => !have.has(id));
    const r = allocateIn(pools, missing);
    const since = t.status.state === 'pending' ? t.status.since : at;
    if (r.ok) {
      const status = pendingStatus('scheduling', PENDING_MESSAGE, since);
      actions.push({ type: 'update', task: { ...t, networks: [...have.values(), ...r.networks], status, updatedAt: at } });
    } else if (!pendsFor(t.status, 'no-free-address', r.reason)) {
      actions.push({ type: 'update', task: { ...t, status: pendingStatus('no-free-address', r.reason, since), updatedAt: at } });
    }
  }
  return actions;
}
