import { isIPv4, isIPv6 } from 'node:net';

/** One end of a proxied TCP connection. */
export interface ProxyEndpoint {
  address: string;
  port: number;
}

/** PROXY protocol versions a frontend can send (haproxy's proxy-protocol.txt). */
export type ProxyProtocolVersion = 'v1' | 'v2';

/** The 12-byte signature that starts every v2 header. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v2 version 2, command PROXY. */
const V2_VERSION_PROXY = 0x21;
/** v2 version 2, command LOCAL: no addresses, the backend uses the real connection's. */
const V2_VERSION_LOCAL = 0x20;
/** v2 address family and transport: TCP over IPv4. */
const V2_TCP4 = 0x11;
/** v2 address family and transport: TCP over IPv6. */
const V2_TCP6 = 0x21;
/** v2 address family and transport: unspecified. */
const V2_UNSPEC = 0x00;
/** Signature, version/command, family, 2-byte length. */
const V2_FIXED_BYTES = 16;

/** The header for `version`, sent to the backend before any client byte. */
export function proxyHeader(version: ProxyProtocolVersion, src: ProxyEndpoint, dst: ProxyEndpoint): Buffer {
  return version === 'v1' ? proxyHeaderV1(src, dst) : proxyHeaderV2(src, dst);
}

/** A v1 (text) header: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, or `PROXY UNKNOWN\r\n` when the families differ or are unknown. */
export function proxyHeaderV1(src: ProxyEndpoint, dst: ProxyEndpoint): Buffer {
  const family = commonFamily(src, dst);
  if (!family) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const s = family.src;
  const d = family.dst;
  const proto = family.v4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${proto} ${s} ${d} ${src.port} ${dst.port}\r\n`, 'latin1');
}

/** A v2 (binary) header with the PROXY command and TCP over IPv4 or IPv6, or LOCAL/UNSPEC when the families differ or are unknown. */
export function proxyHeaderV2(src: ProxyEndpoint, dst: ProxyEndpoint): Buffer {
  const family = commonFamily(src, dst);
  if (!family) {
    const header = Buffer.alloc(V2_FIXED_BYTES);
    PROXY_V2_SIGNATURE.copy(header, 0);
    header[12] = V2_VERSION_LOCAL;
    header[13] = V2_UNSPEC;
    header.writeUInt16BE(0, 14);
    return header;
  }
  const addrBytes = family.v4 ? 4 : 16;
  const length = addrBytes * 2 + 4;
  const header = Buffer.alloc(V2_FIXED_BYTES + length);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = V2_VERSION_PROXY;
  header[13] = family.v4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(length, 14);
  const encode = family.v4 ? ipv4Bytes : ipv6Bytes;
  encode(family.src).copy(header, V2_FIXED_BYTES);
  encode(family.dst).copy(header, V2_FIXED_BYTES + addrBytes);
  header.writeUInt16BE(src.port, V2_FIXED_BYTES + addrBytes * 2);
  header.writeUInt16BE(dst.port, V2_FIXED_BYTES + addrBytes * 2 + 2);
  return header;
}

/** Both addresses in one family, IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counted as IPv4; undefined when they differ. */
function commonFamily(src: ProxyEndpoint, dst: ProxyEndpoint): { v4: boolean; src: string; dst: string } | undefined {
  const s = unmap(src.address);
  const d = unmap(dst.address);
  if (isIPv4(s) && isIPv4(d)) return { v4: true, src: s, dst: d };
  if (isIPv6(s) && isIPv6(d)) return { v4: false, src: s, dst: d };
  return undefined;
}

function unmap(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address.split('%')[0];
  // A trailing dotted quad (::ffff:1.2.3.4 with a mixed IPv6 peer) becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
