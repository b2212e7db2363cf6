/**
 * Loopback-mode address plan (DESIGN.md "Addresses"):
 * node k listens on 127.0.1.k; the VIPs node k serves come from
 * 127.(20+k).0.0/16; each task gets its own address from 127.100.0.0/14 so
 * that `tasks.<svc>` names one address per task, as on an overlay.
 */

/** First node address of a local cluster. */
export const DEFAULT_NODE_BASE = '127.0.1.1';
/** Octet the VIP range of node 1 starts at: node k serves 127.(VIP_OCTET_BASE+k).x.y. */
export const VIP_OCTET_BASE = 20;
/** Task addresses are 127.100.0.1 .. 127.103.255.254. */
export const TASK_POOL_FIRST = ipToInt('127.100.0.1');
export const TASK_POOL_LAST = ipToInt('127.103.255.254');

/** Dotted quad to a 32-bit unsigned integer. */
export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

/** 32-bit unsigned integer to dotted quad. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Address of the k-th node (1-based) counting up from a base address. */
export function nodeAddress(base: string, k: number): string {
  return intToIp(ipToInt(base) + k - 1);
}

/** Address blocks (127.0.B.x) whose clusters get VIP indexes of their own. */
const VIP_BLOCKS = 127;

/**
 * The first VIP index of a new cluster. Loopback clusters side by side on
 * one host (a manager at 127.0.B.k, as `shoal up` and the tests place them)
 * start at B*256+1, so their VIPs (127.(20+k).B.n) do not meet while each has
 * fewer than 256 VIP services; any other address starts at 1.
 */
export function firstVipIndex(managerAddr: string): number {
  const m = /^127\.0\.(\d{1,3})\.\d{1,3}(?::\d+)?$/.exec(managerAddr);
  const block = m ? Number(m[1]) : 0;
  return block >= 1 && block <= VIP_BLOCKS ? block * 256 + 1 : 1;
}

/** The VIP node `nodeIndex` serves for the service with VIP index `vipIndex` (1-based). */
export function vipAddress(nodeIndex: number, vipIndex: number): string {
  if (vipIndex < 1 || vipIndex > 65_534) throw new RangeError(`vip index ${vipIndex} out of range`);
  return `127.${VIP_OCTET_BASE + nodeIndex}.${vipIndex >> 8}.${vipIndex & 255}`;
}

/** Whether a string is a dotted-quad IPv4 address. */
export function isIPv4(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}
