import { readFileSync } from 'node:fs';

/** Bit of CAP_NET_ADMIN in the capability sets (linux/capability.h). */
export const CAP_NET_ADMIN = 12;

/** Whether a `CapEff:` hex mask from /proc/<pid>/status holds a capability. Pure. */
export function hasCapability(statusText: string, cap: number): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m) return false;
  return ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}

/** Whether this process may configure networking (namespaces, links, nftables). */
export function hasNetAdmin(): boolean {
  try {
    return hasCapability(readFileSync('/proc/self/status', 'utf8'), CAP_NET_ADMIN);
  } catch {
    return false;
  }
}
