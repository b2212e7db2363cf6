/**
 * IPVS objects as shoal thinks of them: a virtual service (identified by
 * protocol, address and port, or by firewall mark) and its destinations (real
 * servers). Builders, parsers, the plan and the dataplane all speak these.
 */
import { AF_INET6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from './ipvs-uapi';

/** What identifies a virtual service in the kernel: fwmark != 0, or protocol + address + port. */
export interface IpvsServiceId {
  /** AF_INET or AF_INET6. */
  af: number;
  /** IPPROTO_*; 0 for fwmark services (the kernel ignores it). */
  protocol: number;
  /** Dotted quad (or IPv6 text); '' for fwmark services. */
  address: string;
  /** 0 for fwmark services. */
  port: number;
  /** 0 for address services. */
  fwmark: number;
}

/** A virtual service with its settings, as sent in NEW_SERVICE/SET_SERVICE or read from a dump. */
export interface IpvsService extends IpvsServiceId {
  /** Scheduler module name: rr, lc, sh, ... */
  scheduler: string;
  /** IP_VS_SVC_F_* flags (dumps include IP_VS_SVC_F_HASHED). */
  flags: number;
  /** Persistence timeout in seconds; 0 = not persistent. */
  timeout: number;
  /** Persistence netmask, as the 32-bit number the kernel keeps (__be32 bytes read as host order). */
  netmask: number;
}

/** A destination's address within its service. */
export interface IpvsDestId {
  /** Address family of the destination. */
  af: number;
  address: string;
  port: number;
}

/** A destination with its settings (what NEW_DEST/SET_DEST send). */
export interface IpvsDest extends IpvsDestId {
  /** IP_VS_CONN_F_MASQ, ...; shoal uses masquerade (NAT). */
  fwdMethod: number;
  /** 0 = no new connections (draining). */
  weight: number;
  /** Upper connection threshold; 0 = none. */
  upperThreshold: number;
  /** Lower threshold to leave the overloaded state; 0 = none. */
  lowerThreshold: number;
}

/** A destination as read from a GET_DEST dump: settings plus live connection counts. */
export interface IpvsDestEntry extends IpvsDest {
  activeConns: number;
  inactiveConns: number;
  persistConns: number;
}

/** Stable text key of a virtual service: `tcp/10.0.0.2:80`, `udp/[fd00::1]:53` or `fwmark/1397227608` (with `/v6` for IPv6). */
export function serviceKey(id: IpvsServiceId): string {
  if (id.fwmark !== 0) return `fwmark/${id.fwmark}${id.af === AF_INET6 ? '/v6' : ''}`;
  return `${protocolName(id.protocol)}/${hostPort(id.af, id.address, id.port)}`;
}

/** Stable text key of a destination inside its service: `10.0.1.5:8080`. */
export function destKey(d: IpvsDestId): string {
  return hostPort(d.af, d.address, d.port);
}

/** The identifying part of a service (what DEL_SERVICE and GET_DEST carry). */
export function serviceIdOf(s: IpvsServiceId): IpvsServiceId {
  return { af: s.af, protocol: s.protocol, address: s.address, port: s.port, fwmark: s.fwmark };
}

/** Name of an IP protocol number for keys and logs. */
export function protocolName(p: number): string {
  if (p === IPPROTO_TCP) return 'tcp';
  if (p === IPPROTO_UDP) return 'udp';
  if (p === IPPROTO_SCTP) return 'sctp';
  return `proto${p}`;
}

function hostPort(af: number, address: string, port: number): string {
  return af === AF_INET6 ? `[${address}]:${port}` : `${address}:${port}`;
}
