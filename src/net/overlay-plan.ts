/**
 * Names and addresses of netns mode's kernel objects, derived from the
 * model so a restarted daemon finds what it made before. Pure.
 * Interface names are at most 15 bytes (IFNAMSIZ - 1).
 */
import { intToIp, ipToInt } from '../model/addresses';
import type { Network } from '../model/types';

/** Default VXLAN UDP port (IANA), as Docker's data-path port. */
export const DEFAULT_VXLAN_PORT = 4789;
/** VXLAN adds 50 bytes of headers; task interfaces leave room for them on a 1500-byte underlay. */
export const OVERLAY_MTU = 1450;
/** Default prefix of task namespace names under /run/netns. */
export const DEFAULT_TASK_NETNS_PREFIX = 'shoal-t-';
/** Label of the loopback addresses that hold the VIPs a node serves (so userspace frontends can bind them). */
export const VIP_LABEL = 'lo:shoal';

/** The network's bridge on every node. */
export function bridgeName(vni: number): string {
  return `shb${vni}`;
}

/** The network's VXLAN device on every node, a port of its bridge. */
export function vxlanName(vni: number): string {
  return `shx${vni}`;
}

/** Node-side end of a task's veth pair (the other end is `eth0` in the task's namespace). */
export function taskVethName(taskId: string): string {
  return `shv${taskId.slice(0, 11)}`;
}

/** Name of a task's namespace. */
export function taskNetnsName(prefix: string, taskId: string): string {
  return `${prefix}${taskId}`;
}

/** Prefix length of a CIDR. */
export function prefixLength(cidr: string): number {
  return Number(cidr.split('/')[1]);
}

/** Whether `address` falls inside `cidr`. */
export function inSubnet(address: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ipToInt(address) & mask) >>> 0) === ((ipToInt(base) & mask) >>> 0);
}

/** The canonical network address of a CIDR (`10.0.0.7/24` -> `10.0.0.0/24`). */
export function networkOf(cidr: string): string {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return `${intToIp((ipToInt(base) & mask) >>> 0)}/${bits}`;
}

/** What a task's namespace gets on one network. */
export interface TaskAttachmentPlan {
  netns: string;
  veth: string;
  bridge: string;
  /** `a.b.c.d/len` on the task's eth0. */
  cidr: string;
  /** The node's address on the network: the task's default gateway, its VIP route and its DNS server. */
  gateway: string;
  vipRange: string;
  resolvConf: string;
}

/** Plans a task's attachment to its (first) network. */
export function planTaskAttachment(prefix: string, taskId: string, network: Network, address: string, nodeAddress: string): TaskAttachmentPlan {
  return {
    netns: taskNetnsName(prefix, taskId),
    veth: taskVethName(taskId),
    bridge: bridgeName(network.vni),
    cidr: `${address}/${prefixLength(network.subnet)}`,
    gateway: nodeAddress,
    vipRange: network.vipRange,
    resolvConf: resolvConf(nodeAddress),
  };
}

/**
 * resolv.conf of a task: the node's DNS on the overlay, and Docker's
 * `ndots:0` so that a bare service name is tried as is, first.
 */
export function resolvConf(nameserver: string): string {
  return `# written by shoal: the node's embedded DNS on the overlay\nnameserver ${nameserver}\noptions ndots:0\n`;
}

/** Unicast peers of a node's VXLAN devices: every other node's underlay address. */
export function vxlanPeers(selfAddress: string, nodeAddresses: readonly string[]): string[] {
  return [...new Set(nodeAddresses.filter((a) => a !== selfAddress))].sort();
}
