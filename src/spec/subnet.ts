/**
 * IPv4 subnets as an operator types them after `--subnet`: parsing and
 * checking (the network address, a prefix from /16 to /29, outside ranges
 * that mean something else on every host), formatting, and overlap. How the
 * allocator carves a subnet up is allocator/subnet-layout.ts.
 *
 * Pure: numbers in, numbers out.
 */
import { InvalidArgumentError } from '../errors';
import { intToIp, ipToInt, isIPv4 } from '../model/addresses';

/** A parsed IPv4 subnet: `base` is the network address as an unsigned 32-bit integer. */
export interface Subnet {
  base: number;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

/** Widest subnet a network may have: 65,536 addresses are plenty and keep allocation tables small. */
export const MIN_PREFIX = 16;
/** Narrowest: a /29 leaves 5 node and task addresses and 1 VIP. */
export const MAX_PREFIX = 29;
/** Ranges an operator cannot use: they mean something else on every host. */
const RESERVED_RANGES: { subnet: Subnet; what: string }[] = [
  { subnet: { base: ipToInt('0.0.0.0'), prefix: 8, size: 2 ** 24 }, what: '"this network" range 0.0.0.0/8' },
  { subnet: { base: ipToInt('127.0.0.0'), prefix: 8, size: 2 ** 24 }, what: 'loopback range 127.0.0.0/8' },
  { subnet: { base: ipToInt('169.254.0.0'), prefix: 16, size: 2 ** 16 }, what: 'link-local range 169.254.0.0/16' },
  { subnet: { base: ipToInt('224.0.0.0'), prefix: 3, size: 2 ** 29 }, what: 'multicast and reserved range 224.0.0.0/3' },
];

/** `10.0.1.0/24` text of a subnet. */
export function formatSubnet(s: Subnet): string {
  return `${intToIp(s.base)}/${s.prefix}`;
}

/**
 * Parse and check a `--subnet` value: IPv4 CIDR syntax, the network address
 * itself (no host bits), a prefix from /16 to /29, outside loopback,
 * link-local and multicast. Throws InvalidArgumentError saying what to type.
 */
export function parseSubnet(cidr: string): Subnet {
  const text = cidr.trim();
  const slash = text.indexOf('/');
  const ip = slash < 0 ? text : text.slice(0, slash);
  const len = slash < 0 ? '' : text.slice(slash + 1);
  if (ip.includes(':')) throw new InvalidArgumentError(`invalid subnet "${cidr}": only IPv4 subnets are supported`);
  if (!isIPv4(ip) || !/^\d{1,2}$/.test(len) || Number(len) > 32) {
    throw new InvalidArgumentError(`invalid subnet "${cidr}": use an IPv4 CIDR such as 10.0.1.0/24`);
  }
  const prefix = Number(len);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    throw new InvalidArgumentError(`invalid subnet "${cidr}": the prefix length must be from /${MIN_PREFIX} to /${MAX_PREFIX}`);
  }
  const size = 2 ** (32 - prefix);
  const addr = ipToInt(ip);
  const base = addr - (addr % size);
  if (base !== addr) {
    const s = { base, prefix, size };
    throw new InvalidArgumentError(`invalid subnet "${cidr}": ${ip} is not the network address of a /${prefix} (use ${formatSubnet(s)})`);
  }
  const subnet = { base, prefix, size };
  const reserved = RESERVED_RANGES.find((r) => subnetsOverlap(r.subnet, subnet));
  if (reserved) throw new InvalidArgumentError(`invalid subnet "${cidr}": it lies in the ${reserved.what}`);
  return subnet;
}

/** Whether two subnets share at least one address. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

