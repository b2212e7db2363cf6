import { isIPv4 } from 'node:net';

/**
 * A datagram peer's address as a batch socket hands it over: an IPv4 address
 * as an unsigned 32-bit number (the native socket: no string per datagram),
 * or its text form (the dgram socket, and every IPv6 address).
 */
export type UdpAddress = number | string;

/** A key for address:port that is cheap to hash: a number for numeric addresses. */
export type UdpPeerKey = number | string;

/** The map key of a peer; numbers for IPv4 from the native socket, `addr:port` strings otherwise. */
export function udpPeerKey(address: UdpAddress, port: number): UdpPeerKey {
  return typeof address === 'number' ? address * 0x10000 + port : `${address}:${port}`;
}

/** The text form of an address, for logs and for balancers that hash the client's address. */
export function udpAddressText(address: UdpAddress): string {
  if (typeof address === 'string') return address;
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** An IPv4 address as an unsigned 32-bit number, or null when `text` is no IPv4 literal. */
export function ipv4ToNumber(text: string): number | null {
  if (!isIPv4(text)) return null;
  const [a, b, c, d] = text.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}
