/**
 * How the allocator picks and carves up overlay subnets: the next free
 * default /24, and the layout of a subnet (DESIGN.md "Addresses", netns mode):
 *
 *   network address | nodes from .1 up ... tasks from the top down | VIP range (top quarter) | broadcast
 *
 * Pure: numbers in, numbers out. Parsing and overlap are spec/subnet.ts.
 */
import { ipToInt } from '../../model/addresses';
import { subnetsOverlap, type Subnet } from '../../spec/subnet';

/** Default networks are 10.0.N.0/24, N = 1, 2, ...; the cluster's own default is 10.0.0.0/24. */
export const DEFAULT_POOL_BASE = ipToInt('10.0.0.0');
/** Prefix length of default subnets. */
export const DEFAULT_SUBNET_PREFIX = 24;
/** Number of 10.0.N.0/24 blocks there are. */
const DEFAULT_POOL_BLOCKS = 256;

/** The first 10.0.N.0/24 (N = 1, 2, ...) that overlaps none of `taken`, or undefined when all 255 are used. */
export function nextFreeSubnet(taken: readonly Subnet[]): Subnet | undefined {
  const size = 2 ** (32 - DEFAULT_SUBNET_PREFIX);
  for (let n = 1; n < DEFAULT_POOL_BLOCKS; n++) {
    const s: Subnet = { base: DEFAULT_POOL_BASE + n * size, prefix: DEFAULT_SUBNET_PREFIX, size };
    if (!taken.some((t) => subnetsOverlap(t, s))) return s;
  }
  return undefined;
}

/** The VIP range of a subnet: its top quarter (for a /24, x.x.x.192/26). */
export function vipRangeOf(s: Subnet): Subnet {
  const prefix = s.prefix + 2;
  const size = s.size / 4;
  return { base: s.base + s.size - size, prefix, size };
}

/** Inclusive first and last address of a block. */
export interface AddressRange {
  first: number;
  last: number;
}

/** How a subnet is carved up: node and task addresses share the bottom, VIPs the top quarter; network and broadcast are never handed out. */
export interface SubnetLayout {
  subnet: Subnet;
  /** Nodes take addresses from the bottom of this range, tasks from its top. */
  hosts: AddressRange;
  vips: AddressRange;
}

/** Layout of a subnet (see SubnetLayout). */
export function layoutOf(s: Subnet): SubnetLayout {
  const vip = vipRangeOf(s);
  return {
    subnet: s,
    hosts: { first: s.base + 1, last: vip.base - 1 },
    vips: { first: vip.base, last: s.base + s.size - 2 },
  };
}

/** Number of addresses in a range. */
export function rangeSize(r: AddressRange): number {
  return Math.max(0, r.last - r.first + 1);
}

/** Whether an address (integer) lies in a range. */
export function inRange(r: AddressRange, n: number): boolean {
  return n >= r.first && n <= r.last;
}
