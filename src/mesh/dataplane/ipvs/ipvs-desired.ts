/**
 * What the kernel's IPVS table should hold for an LbTable: one virtual
 * service per frontend, one masquerading destination per backend. Pure.
 */
import type { LbPolicy, Protocol } from '../../../model/types';
import type { ApplyResult, Frontend, LbTable } from '../../table/table';
import { addressFamily } from './ip-address-bytes';
import type { IpvsDest, IpvsService, IpvsServiceId } from './ipvs-types';
import { destKey, serviceKey } from './ipvs-types';
import { AF_INET, IPPROTO_TCP, IPPROTO_UDP, IP_VS_CONN_F_MASQ, IP_VS_SVC_F_SCHED_SH_FALLBACK } from './ipvs-uapi';

/**
 * How published (ingress) ports become virtual services. `fwmark`, as Docker
 * does: the service is keyed by a firewall mark that a rule sets on packets to
 * the published port (see ingressMarks), so one service catches the port on
 * every local address. `address`: a plain service on the node's address and
 * the published port, which needs no marking rule. Host-mode frontends are
 * address services either way: only the node's own address serves them, so a
 * mark catching the port on every local address would be wrong.
 */
export type IngressMode = 'fwmark' | 'address';

/** Top bits of every mark shoal uses ('SH'); the low 17 bits are protocol and port. */
export const SHOAL_FWMARK_BASE = 0x5348_0000;
/** Bits that must equal SHOAL_FWMARK_BASE for a mark to be shoal's. */
export const SHOAL_FWMARK_MASK = 0xfffe_0000;

/** IPVS scheduler for each LB policy. */
export const SCHEDULER_FOR_POLICY: Record<LbPolicy, string> = {
  'round-robin': 'rr',
  'least-connections': 'lc',
  'source-hash': 'sh',
};

/** Policy when a frontend names none (as the userspace dataplane). */
export const DEFAULT_POLICY: LbPolicy = 'round-robin';
/** Persistence netmask sent with every service (ipvsadm's IPv4 default; unused without persistence). */
export const DEFAULT_NETMASK = 0xffff_ffff;

/** The virtual service one frontend becomes, with its destinations. */
export interface DesiredService {
  frontendId: string;
  service: IpvsService;
  /** Sorted by destKey; weight 0 = draining. */
  dests: IpvsDest[];
}

/** Services to program and frontends IPVS cannot serve. */
export interface DesiredTable {
  /** Sorted by serviceKey. */
  services: DesiredService[];
  failed: ApplyResult['failed'];
}

/** The firewall mark of a published port: one per protocol and port. */
export function ingressFwmark(protocol: Protocol, port: number): number {
  return (SHOAL_FWMARK_BASE | ((protocol === 'udp' ? 1 : 0) << 16) | port) >>> 0;
}

/** Whether a firewall mark is in shoal's block. */
export function isShoalFwmark(mark: number): boolean {
  return ((mark & SHOAL_FWMARK_MASK) >>> 0) === SHOAL_FWMARK_BASE;
}

/** A marking rule the host firewall needs for an fwmark ingress service: packets to `protocol`/`port` get `fwmark`. */
export interface IngressMark {
  frontendId: string;
  protocol: Protocol;
  port: number;
  fwmark: number;
}

/** The marks the ingress frontends of a table need (IngressMode `fwmark`), for whoever programs the firewall. */
export function ingressMarks(table: LbTable): IngressMark[] {
  return table.frontends
    .filter((f) => f.kind === 'ingress')
    .map((f) => ({ frontendId: f.id, protocol: f.protocol, port: f.port, fwmark: ingressFwmark(f.protocol, f.port) }));
}

/** The IPVS services a table asks for. */
export function desiredServices(table: LbTable, ingress: IngressMode): DesiredTable {
  const byKey = new Map<string, DesiredService>();
  const failed: ApplyResult['failed'] = [];
  for (const f of table.frontends) {
    const result = serviceFor(f, ingress);
    if (typeof result === 'string') {
      failed.push({ frontendId: f.id, error: result });
      continue;
    }
    const key = serviceKey(result.service);
    const first = byKey.get(key);
    if (first) {
      failed.push({ frontendId: f.id, error: `same IPVS service ${key} as frontend ${first.frontendId}` });
      continue;
    }
    byKey.set(key, result);
  }
  const services = [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, s]) => s);
  return { services, failed };
}

function serviceFor(f: Frontend, ingress: IngressMode): DesiredService | string {
  if (f.protocol !== 'tcp' && f.protocol !== 'udp') return `unknown protocol ${String(f.protocol)}`;
  if (!Number.isInteger(f.port) || f.port < 1 || f.port > 65_535) return `invalid port ${f.port}`;
  // IPVS cannot write a PROXY protocol header; only the userspace dataplane can.
  if (f.proxyProtocol) return `PROXY protocol ${f.proxyProtocol} needs the userspace dataplane`;
  const af = addressFamily(f.address);
  if (af !== AF_INET) return `IPVS dataplane serves IPv4 frontends only, not ${JSON.stringify(f.address)}`;

  const id: IpvsServiceId =
    f.kind === 'ingress' && ingress === 'fwmark'
      ? { af, protocol: 0, address: '', port: 0, fwmark: ingressFwmark(f.protocol, f.port) }
      : { af, protocol: f.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP, address: f.address, port: f.port, fwmark: 0 };
  const policy = f.lb?.policy ?? DEFAULT_POLICY;
  const service: IpvsService = {
    ...id,
    scheduler: SCHEDULER_FOR_POLICY[policy],
    // sh hashes a client onto a weight-0 (draining) destination too; fallback moves it to the next one.
    flags: policy === 'source-hash' ? IP_VS_SVC_F_SCHED_SH_FALLBACK : 0,
    timeout: 0,
    netmask: DEFAULT_NETMASK,
  };

  const dests = new Map<string, IpvsDest>();
  for (const b of f.backends) {
    if (addressFamily(b.address) !== af) return `backend ${b.id} address ${JSON.stringify(b.address)} is not IPv4`;
    if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65_535) return `backend ${b.id} has invalid port ${b.port}`;
    const dest: IpvsDest = {
      af,
      address: b.address,
      port: b.port,
      fwdMethod: IP_VS_CONN_F_MASQ,
      weight: Math.max(0, Math.floor(b.weight)),
      // IPVS marks a destination overloaded at this many connections: the per-backend limit.
      upperThreshold: f.lb?.maxConnectionsPerBackend ?? 0,
      lowerThreshold: 0,
    };
    const key = destKey(dest);
    const seen = dests.get(key);
    // Two tasks on one address:port cannot both exist; keep the serving one.
    if (!seen || dest.weight > seen.weight) dests.set(key, dest);
  }
  return {
    frontendId: f.id,
    service,
    dests: [...dests.entries()].sort(([a], [b]) => compare(a, b)).map(([, d]) => d),
  };
}

// Code-unit order, not localeCompare: plans must not depend on the host's locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
