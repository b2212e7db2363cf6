/**
 * Each node's own address on each overlay network (its bridge: the gateway
 * and DNS server of its local tasks). Allocated when a network is created
 * and when a node joins, freed when a node is removed; the control loop
 * also runs this every pass, so a node that joined while a network was full
 * gets its address once one frees up. Pure.
 */
import type { Network, Node, Service, Task } from '../../model/types';
import { AddressPool, buildPools } from './address-pool';

/**
 * The network with an address for every node in `nodes` and none for nodes
 * that are gone, or undefined when nothing changes. Nodes that find the
 * host range full stay without one (listed in `unplaced`).
 */
export function reconcileNodeAddresses(
  network: Network,
  nodes: readonly Pick<Node, 'id' | 'index'>[],
  pool: AddressPool,
): { network?: Network; unplaced: string[] } {
  const ids = new Set(nodes.map((n) => n.id));
  const next: Record<string, string> = {};
  let changed = false;
  for (const [nodeId, address] of Object.entries(network.nodeAddresses)) {
    if (ids.has(nodeId)) next[nodeId] = address;
    else {
      pool.release(address);
      changed = true;
    }
  }
  const unplaced: string[] = [];
  // Node k tends to get .k; the id breaks ties so the order is stable.
  const order = [...nodes].sort((a, b) => a.index - b.index || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const { id } of order) {
    if (next[id]) continue;
    const address = pool.allocateNode();
    if (!address) {
      unplaced.push(id);
      continue;
    }
    next[id] = address;
    changed = true;
  }
  return changed ? { network: { ...network, nodeAddresses: next }, unplaced } : { unplaced };
}

/**
 * reconcileNodeAddresses over every network, with pools built from what was
 * read (or given, to share with the task pass); returns the networks that change.
 */
export function reconcileAllNodeAddresses(
  networks: readonly Network[],
  nodes: readonly Pick<Node, 'id' | 'index'>[],
  services: readonly Service[],
  tasks: readonly Task[],
  pools: Map<string, AddressPool> = buildPools(networks, services, tasks),
): { networks: Network[]; unplaced: { networkId: string; nodeIds: string[] }[] } {
  const out: Network[] = [];
  const unplaced: { networkId: string; nodeIds: string[] }[] = [];
  for (const n of networks) {
    const pool = pools.get(n.id);
    if (!pool) continue;
    const r = reconcileNodeAddresses(n, nodes, pool);
    if (r.network) out.push(r.network);
    if (r.unplaced.length > 0) unplaced.push({ networkId: n.id, nodeIds: r.unplaced });
  }
  return { networks: out, unplaced };
}
