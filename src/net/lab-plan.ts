/**
 * The names and addresses of a netns lab, computed before anything is built,
 * so the shell that creates it and the one that cleans up after a crash agree
 * on what belongs to a lab.
 */
import { InvalidArgumentError } from '../errors';

/** Subnet a lab uses when none is given: a test range that is never routed, it exists only inside the lab's namespaces. */
export const DEFAULT_LAB_SUBNET = '10.77.0.0/24';

/** Longest prefix: `<prefix>-h<k>` and `<prefix>-v<k>` must fit Linux's 15-byte interface names (IFNAMSIZ - 1). */
export const MAX_LAB_PREFIX_LENGTH = 8;

/** Most hosts one lab builds; keeps `-h<k>` at three digits or less. */
export const MAX_LAB_HOSTS = 250;

/** Name of the interface each host sees, as a real machine would. */
export const LAB_HOST_IFNAME = 'eth0';

const PREFIX_RE = /^[a-z][a-z0-9]*$/;

/** One simulated host: its namespace, its link and its underlay address. */
export interface LabHostPlan {
  /** 0-based position; address is the subnet's (index + 1)th host address. */
  index: number;
  /** Network namespace name, `<prefix>-h<index>`. */
  netns: string;
  /** Interface name inside the host's namespace. */
  ifname: string;
  /** The veth end enslaved to the bridge in the underlay namespace, `<prefix>-v<index>`. */
  bridgePort: string;
  /** Dotted IPv4 address of the host on the underlay. */
  address: string;
  /** Prefix length of the underlay subnet. */
  prefixLength: number;
}

/** Everything one lab creates, by name. */
export interface LabPlan {
  prefix: string;
  /** Namespace holding the bridge, so the root namespace is never touched. */
  underlayNetns: string;
  /** Bridge name inside the underlay namespace. */
  bridge: string;
  /** Normalised subnet, `a.b.c.d/len`. */
  subnet: string;
  hosts: LabHostPlan[];
}

/** What a lab is asked to be. */
export interface LabPlanOptions {
  /** Short name prefix, lowercase letters and digits, at most MAX_LAB_PREFIX_LENGTH. */
  name: string;
  hosts: number;
  subnet?: string;
}

/** Checks a lab prefix; throws InvalidArgumentError with the reason. */
export function checkLabPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix) || prefix.length > MAX_LAB_PREFIX_LENGTH) {
    throw new InvalidArgumentError(`lab name "${prefix}" must be 1-${MAX_LAB_PREFIX_LENGTH} lowercase letters or digits, starting with a letter`);
  }
}

/** Parses `a.b.c.d/len` into a 32-bit network number (host bits cleared) and the length. */
export function parseSubnet(subnet: string): { network: number; prefixLength: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefixLength = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefixLength > 32) {
    throw new InvalidArgumentError(`subnet "${subnet}" is not an IPv4 CIDR like 10.77.0.0/24`);
  }
  const addr = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefixLength);
  return { network: addr - (addr % size), prefixLength };
}

/** Formats a 32-bit number as a dotted IPv4 address. */
export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Whether a namespace name is one a lab with this prefix creates; cleanup deletes only these. */
export function isLabNetns(prefix: string, netns: string): boolean {
  // `<prefix>-t-<task>`: namespaces the lab's shoal nodes made for their tasks (shoal-lab.ts).
  return netns === `${prefix}-ul` || new RegExp(`^${prefix}-h\\d+$`).test(netns) || new RegExp(`^${prefix}-t-[a-z0-9]+$`).test(netns);
}

/** Whether a link name is one a lab with this prefix may create. */
export function isLabLink(prefix: string, link: string): boolean {
  return link === `${prefix}-br` || new RegExp(`^${prefix}-v\\d+$`).test(link);
}

/** Computes a lab's names and addresses; throws InvalidArgumentError on bad options. */
export function planLab(opts: LabPlanOptions): LabPlan {
  checkLabPrefix(opts.name);
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_LAB_HOSTS) {
    throw new InvalidArgumentError(`hosts must be an integer from 1 to ${MAX_LAB_HOSTS}, got ${opts.hosts}`);
  }
  const { network, prefixLength } = parseSubnet(opts.subnet ?? DEFAULT_LAB_SUBNET);
  // Usable addresses exclude the network and broadcast addresses.
  const usable = prefixLength >= 31 ? 0 : 2 ** (32 - prefixLength) - 2;
  if (opts.hosts > usable) {
    throw new InvalidArgumentError(`subnet ${formatIPv4(network)}/${prefixLength} has ${usable} host addresses, too few for ${opts.hosts} hosts`);
  }
  const p = opts.name;
  return {
    prefix: p,
    underlayNetns: `${p}-ul`,
    bridge: `${p}-br`,
    subnet: `${formatIPv4(network)}/${prefixLength}`,
    hosts: Array.from({ length: opts.hosts }, (_, index) => ({
      index,
      netns: `${p}-h${index}`,
      ifname: LAB_HOST_IFNAME,
      bridgePort: `${p}-v${index}`,
      address: formatIPv4(network + index + 1),
      prefixLength,
    })),
  };
}
