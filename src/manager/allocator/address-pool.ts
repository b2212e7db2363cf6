/**
 * The addresses of one overlay network as an in-memory table, rebuilt from
 * what the caller read (the network's node addresses, the services' VIPs,
 * the live tasks' addresses), as the loopback task allocator is
 * (orchestrator/address-allocator.ts). Nodes take the lowest free host
 * addresses and tasks the highest, so the node addresses (each node's
 * gateway on the network) stay .1, .2, ... when nodes join after tasks.
 */
import { intToIp, ipToInt, isIPv4 } from '../../model/addresses';
import { isTerminal } from '../../model/types';
import type { Network, Service, Task } from '../../model/types';
import { formatSubnet, parseSubnet } from '../../spec/subnet';
import { inRange, layoutOf, rangeSize, type SubnetLayout } from './subnet-layout';

/**
 * Whether a task's network addresses are in use: its process may still
 * exist, or it died and the restart policy has not ruled yet (as for
 * loopback addresses). A completed task, job or not, has let go of them.
 */
export function holdsAddresses(t: Task): boolean {
  if (!isTerminal(t.status.state)) return true;
  return t.desiredState === 'running' && t.status.state !== 'complete';
}

/** Free and used addresses of one network. */
export class AddressPool {
  readonly layout: SubnetLayout;
  private readonly used = new Set<number>();
  /** Scan cursors: nothing below `low` / above `high` in the host range is free. */
  private low: number;
  private high: number;
  private vipNext: number;
  private hostsUsed = 0;

  constructor(readonly network: Network) {
    this.layout = layoutOf(parseSubnet(network.subnet));
    this.low = this.layout.hosts.first;
    this.high = this.layout.hosts.last;
    this.vipNext = this.layout.vips.first;
    for (const a of Object.values(network.nodeAddresses)) this.mark(a);
  }

  /** `10.0.1.0/24` of the network, for messages. */
  get subnetText(): string {
    return formatSubnet(this.layout.subnet);
  }

  /** Record an address someone holds; addresses outside the subnet are ignored. Returns false if it was already taken. */
  mark(address: string): boolean {
    if (!isIPv4(address)) return true;
    const n = ipToInt(address);
    if (!inRange(this.layout.hosts, n) && !inRange(this.layout.vips, n)) return true;
    if (this.used.has(n)) return false;
    this.used.add(n);
    if (inRange(this.layout.hosts, n)) this.hostsUsed++;
    return true;
  }

  /** Give an address back. */
  release(address: string): void {
    const n = ipToInt(address);
    if (!this.used.delete(n)) return;
    if (inRange(this.layout.hosts, n)) {
      this.hostsUsed--;
      this.low = Math.min(this.low, n);
      this.high = Math.max(this.high, n);
    } else if (inRange(this.layout.vips, n)) {
      this.vipNext = Math.min(this.vipNext, n);
    }
  }

  /** The lowest free host address, for a node; undefined when the host range is full. */
  allocateNode(): string | undefined {
    while (this.low <= this.layout.hosts.last && this.used.has(this.low)) this.low++;
    if (this.low > this.layout.hosts.last) return undefined;
    return this.take(this.low);
  }

  /** The highest free host address, for a task; undefined when the host range is full. */
  allocateTask(): string | undefined {
    while (this.high >= this.layout.hosts.first && this.used.has(this.high)) this.high--;
    if (this.high < this.layout.hosts.first) return undefined;
    return this.take(this.high);
  }

  /** The lowest free VIP; undefined when the VIP range is full. */
  allocateVip(): string | undefined {
    while (this.vipNext <= this.layout.vips.last && this.used.has(this.vipNext)) this.vipNext++;
    if (this.vipNext > this.layout.vips.last) return undefined;
    return this.take(this.vipNext);
  }

  /** Host addresses nobody holds: what tasks (and nodes joining later) can still get. */
  freeHosts(): number {
    return rangeSize(this.layout.hosts) - this.hostsUsed;
  }

  private take(n: number): string {
    this.used.add(n);
    if (inRange(this.layout.hosts, n)) this.hostsUsed++;
    return intToIp(n);
  }
}

/**
 * One pool per network with everything in use marked: node addresses, the
 * VIPs of `services`, the addresses of live `tasks`. Networks whose subnet
 * does not parse (a damaged store) are left out rather than stop the caller.
 */
export function buildPools(networks: readonly Network[], services: readonly Service[], tasks: readonly Task[]): Map<string, AddressPool> {
  const pools = new Map<string, AddressPool>();
  for (const n of networks) {
    try {
      pools.set(n.id, new AddressPool(n));
    } catch {
      continue;
    }
  }
  for (const s of services) for (const v of s.endpoint.virtualIPs ?? []) pools.get(v.networkId)?.mark(v.address);
  for (const t of tasks) {
    if (!t.networks || !holdsAddresses(t)) continue;
    for (const a of t.networks) pools.get(a.networkId)?.mark(a.address);
  }
  return pools;
}
