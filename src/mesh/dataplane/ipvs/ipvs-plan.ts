/**
 * The IPVS reconciler: (desired services, kernel dump, what shoal owns, now)
 * -> the ordered operations that make the kernel match. Pure and
 * deterministic; the dataplane (ipvs-dataplane.ts) is the one place that
 * sends them.
 *
 * Ownership rule (what shoal may change or delete):
 * - A kernel service whose key matches a desired frontend is shoal's: it is
 *   adopted as is and reconciled (scheduler, flags, destinations). This is
 *   how a restarted daemon takes its own earlier services back.
 * - A kernel service no frontend wants is deleted only if it is shoal's:
 *   shoal created or adopted it in this process (`owned`), or it carries
 *   shoal's signature, which survives restarts: a firewall mark in shoal's
 *   block (ingress) or an address in a VIP range shoal allocates from
 *   (`ownedRanges`). Everything else is someone else's and left alone, dests
 *   included. FLUSH is never sent.
 *
 * Destinations of a shoal service:
 * - in the table with weight > 0: created or updated to weight and thresholds;
 * - in the table with weight 0 (draining): set to weight 0 while connections
 *   (active + inactive) remain, deleted once there are none, never created;
 * - not in the table: drained the same way, and deleted after
 *   `orphanDrainMs` even with connections left, so a backend that died
 *   without closing its connections cannot linger for the 15 minutes of an
 *   idle established IPVS entry.
 */
import { ipToInt, isIPv4 } from '../../../model/addresses';
import { isShoalFwmark } from './ipvs-desired';
import type { DesiredService } from './ipvs-desired';
import type { IpvsDest, IpvsDestEntry, IpvsDestId, IpvsService, IpvsServiceId } from './ipvs-types';
import { destKey, serviceIdOf, serviceKey } from './ipvs-types';
import { IP_VS_SVC_F_HASHED, IP_VS_SVC_F_PERSISTENT } from './ipvs-uapi';

/** A kernel service as dumped, with its destinations when they were dumped too. */
export interface ObservedService {
  service: IpvsService;
  /** null when not dumped (shoal skips the destinations of services it does not want). */
  dests: IpvsDestEntry[] | null;
}

/** Everything the reconciler decides from. */
export interface IpvsPlanInput {
  desired: readonly DesiredService[];
  observed: readonly ObservedService[];
  /** Keys of services shoal created or adopted in this process (a Set, or the Map a previous plan returned). */
  owned: { has(key: string): boolean };
  /** CIDRs (IPv4) shoal allocates VIPs from: a service there is shoal's even after a restart. */
  ownedRanges: readonly string[];
  /** Milliseconds, any monotonic origin. */
  now: number;
  /** When each orphan destination (`<service key> <dest key>`) was first seen draining. */
  drainingSince: ReadonlyMap<string, number>;
  /** How long an orphan destination may keep connections before it is removed anyway. */
  orphanDrainMs: number;
}

/** Why a destination is removed. */
export type DelDestReason = 'drained' | 'removed' | 'drain-deadline';

/** One change to the kernel's IPVS table. Destination ops name the frontend they serve, for failure reports. */
export type IpvsOp =
  | { op: 'new-service'; frontendId: string; service: IpvsService }
  | { op: 'set-service'; frontendId: string; service: IpvsService }
  | { op: 'del-service'; service: IpvsServiceId }
  | { op: 'new-dest'; frontendId: string; service: IpvsServiceId; dest: IpvsDest }
  | { op: 'set-dest'; frontendId: string; service: IpvsServiceId; dest: IpvsDest }
  | { op: 'del-dest'; frontendId: string; service: IpvsServiceId; dest: IpvsDestId; reason: DelDestReason };

/** The reconciler's answer. */
export interface IpvsPlan {
  /** In order: per desired service (by key) its service op, new, changed, then removed destinations; then service deletions. */
  ops: IpvsOp[];
  /** What shoal owns once the ops succeed, by key. */
  owned: Map<string, IpvsServiceId>;
  /** Keys of kernel services taken over because a frontend wants them and shoal did not know them as its own. */
  adopted: string[];
  /** Orphan destinations still draining, with when they started. */
  drainingSince: Map<string, number>;
}

/** Flags the kernel keeps on its own; never compared nor sent. */
const KERNEL_FLAGS = IP_VS_SVC_F_HASHED;

/** Decide the operations that bring the kernel from `observed` to `desired`. */
export function planIpvs(input: IpvsPlanInput): IpvsPlan {
  const observedByKey = new Map<string, ObservedService>();
  for (const o of input.observed) observedByKey.set(serviceKey(o.service), o);
  // An unparsable range owns nothing rather than everything.
  const ranges = input.ownedRanges.map(parseCidr).filter((r): r is Cidr => r !== undefined);
  const isShoals = (key: string, id: IpvsServiceId) => input.owned.has(key) || hasShoalSignature(id, ranges);

  const ops: IpvsOp[] = [];
  const owned = new Map<string, IpvsServiceId>();
  const adopted: string[] = [];
  const drainingSince = new Map<string, number>();
  const desiredKeys = new Set<string>();

  for (const want of [...input.desired].sort((a, b) => compare(serviceKey(a.service), serviceKey(b.service)))) {
    const key = serviceKey(want.service);
    desiredKeys.add(key);
    const id = serviceIdOf(want.service);
    owned.set(key, id);
    const have = observedByKey.get(key);
    if (!have) {
      ops.push({ op: 'new-service', frontendId: want.frontendId, service: want.service });
      for (const d of want.dests) if (d.weight > 0) ops.push({ op: 'new-dest', frontendId: want.frontendId, service: id, dest: d });
      continue;
    }
    if (!isShoals(key, have.service)) adopted.push(key);
    if (!sameServiceSettings(have.service, want.service)) ops.push({ op: 'set-service', frontendId: want.frontendId, service: want.service });
    ops.push(...planDests(want, key, have.dests ?? [], input, drainingSince));
  }

  for (const o of [...observedByKey.entries()].sort(([a], [b]) => compare(a, b))) {
    const [key, have] = o;
    if (desiredKeys.has(key) || !isShoals(key, have.service)) continue;
    ops.push({ op: 'del-service', service: serviceIdOf(have.service) });
  }
  return { ops, owned, adopted, drainingSince };
}

function planDests(
  want: DesiredService,
  serviceKeyText: string,
  observed: readonly IpvsDestEntry[],
  input: IpvsPlanInput,
  drainingSince: Map<string, number>,
): IpvsOp[] {
  const frontendId = want.frontendId;
  const service = serviceIdOf(want.service);
  const haveByKey = new Map<string, IpvsDestEntry>();
  for (const d of observed) haveByKey.set(destKey(d), d);
  const adds: IpvsOp[] = [];
  const sets: IpvsOp[] = [];
  const dels: IpvsOp[] = [];
  const wanted = new Set<string>();

  for (const d of want.dests) {
    const key = destKey(d);
    wanted.add(key);
    const have = haveByKey.get(key);
    if (!have) {
      // A draining backend the kernel does not have needs no entry: nothing can drain from it.
      if (d.weight > 0) adds.push({ op: 'new-dest', frontendId, service, dest: d });
    } else if (d.weight === 0 && connections(have) === 0) {
      dels.push({ op: 'del-dest', frontendId, service, dest: destIdOf(have), reason: 'drained' });
    } else if (!sameDestSettings(have, d)) {
      sets.push({ op: 'set-dest', frontendId, service, dest: d });
    }
  }

  for (const have of [...haveByKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, d]) => d)) {
    const key = destKey(have);
    if (wanted.has(key)) continue;
    if (connections(have) === 0) {
      dels.push({ op: 'del-dest', frontendId, service, dest: destIdOf(have), reason: 'removed' });
      continue;
    }
    const drainKey = `${serviceKeyText} ${key}`;
    const since = input.drainingSince.get(drainKey) ?? input.now;
    if (input.now - since >= input.orphanDrainMs) {
      dels.push({ op: 'del-dest', frontendId, service, dest: destIdOf(have), reason: 'drain-deadline' });
      continue;
    }
    drainingSince.set(drainKey, since);
    if (have.weight !== 0) sets.push({ op: 'set-dest', frontendId, service, dest: { ...destSettingsOf(have), weight: 0 } });
  }
  return [...adds, ...sets, ...dels];
}

/** Whether a service carries shoal's mark: a firewall mark in its block, or an address in one of its VIP ranges. */
function hasShoalSignature(id: IpvsServiceId, ranges: readonly Cidr[]): boolean {
  if (id.fwmark !== 0) return isShoalFwmark(id.fwmark);
  if (!isIPv4(id.address)) return false;
  const ip = ipToInt(id.address);
  return ranges.some((r) => ((ip & r.mask) >>> 0) === r.network);
}

function sameServiceSettings(have: IpvsService, want: IpvsService): boolean {
  const persistent = (want.flags & IP_VS_SVC_F_PERSISTENT) !== 0;
  return (
    have.scheduler === want.scheduler &&
    (have.flags & ~KERNEL_FLAGS) >>> 0 === want.flags >>> 0 &&
    have.timeout === want.timeout &&
    // The netmask only means something for persistent services.
    (!persistent || have.netmask === want.netmask)
  );
}

function sameDestSettings(have: IpvsDest, want: IpvsDest): boolean {
  return (
    have.weight === want.weight &&
    have.fwdMethod === want.fwdMethod &&
    have.upperThreshold === want.upperThreshold &&
    have.lowerThreshold === want.lowerThreshold
  );
}

function connections(d: IpvsDestEntry): number {
  return d.activeConns + d.inactiveConns;
}

function destIdOf(d: IpvsDestId): IpvsDestId {
  return { af: d.af, address: d.address, port: d.port };
}

function destSettingsOf(d: IpvsDestEntry): IpvsDest {
  return { af: d.af, address: d.address, port: d.port, fwdMethod: d.fwdMethod, weight: d.weight, upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold };
}

/** An IPv4 network as number and mask. */
export interface Cidr {
  network: number;
  mask: number;
}

/** Parse `a.b.c.d/n` (a bare address is /32); undefined when it is not one. */
export function parseCidr(cidr: string): Cidr | undefined {
  const [addr, bitsText, extra] = cidr.split('/');
  if (extra !== undefined || !isIPv4(addr) || (bitsText !== undefined && !/^\d{1,2}$/.test(bitsText))) return undefined;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (0xffff_ffff << (32 - bits)) >>> 0;
  return { network: (ipToInt(addr) & mask) >>> 0, mask };
}

// Code-unit order, not localeCompare: plans must not depend on the host's locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
