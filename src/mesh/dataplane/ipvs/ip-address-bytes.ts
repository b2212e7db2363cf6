/**
 * IP addresses to and from the 16-byte `union nf_inet_addr` IPVS puts in its
 * ADDR attributes (IPv4 in the first four bytes, the rest zero).
 */
import { isIP } from 'node:net';
import { NetlinkEncodeError, NetlinkMalformedError } from '../../../errors';
import { AF_INET, AF_INET6, NF_INET_ADDR_LEN } from './ipvs-uapi';

/** Address family of a textual address (AF_INET / AF_INET6), or 0 when it is neither. */
export function addressFamily(address: string): number {
  const v = isIP(address);
  return v === 4 ? AF_INET : v === 6 ? AF_INET6 : 0;
}

/** The union nf_inet_addr bytes of an address of family `af`. */
export function inetAddrBytes(af: number, address: string): Buffer {
  const out = Buffer.alloc(NF_INET_ADDR_LEN);
  if (af === AF_INET && isIP(address) === 4) {
    address.split('.').forEach((o, i) => out.writeUInt8(Number(o), i));
    return out;
  }
  if (af === AF_INET6 && isIP(address) === 6) {
    ipv6Groups(address).forEach((g, i) => out.writeUInt16BE(g, i * 2));
    return out;
  }
  throw new NetlinkEncodeError(`address ${JSON.stringify(address)} is not of family ${af}`);
}

/** Text of the address in union nf_inet_addr bytes; IPv6 in full, uncompressed lowercase groups. */
export function inetAddrText(af: number, bytes: Buffer): string {
  if (af === AF_INET) {
    if (bytes.length < 4) throw new NetlinkMalformedError(`IPv4 address of ${bytes.length} bytes`);
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (af === AF_INET6) {
    if (bytes.length < 16) throw new NetlinkMalformedError(`IPv6 address of ${bytes.length} bytes`);
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(i * 2).toString(16));
    return groups.join(':');
  }
  throw new NetlinkMalformedError(`unknown address family ${af}`);
}

/** The eight 16-bit groups of an IPv6 address that isIP already accepted. */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  // A dotted IPv4 tail (::ffff:1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
