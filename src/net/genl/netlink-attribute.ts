/**
 * Netlink attributes (struct nlattr, include/uapi/linux/netlink.h): a 4-byte
 * header `{ u16 nla_len; u16 nla_type }` then the payload, padded to 4 bytes.
 * nla_len counts header and payload but not the padding. Numbers are in host
 * byte order except where a uapi header says `__be16`/`__be32` (ports,
 * addresses); shoal targets little-endian Linux (x86-64, arm64), so host
 * order is written as little-endian here and checked once by the socket shell.
 * Pure: no sockets, no state.
 */
import { NetlinkEncodeError, NetlinkMalformedError } from '../../errors';

/** Size of struct nlattr. */
export const NLA_HDRLEN = 4;
/** Attribute payloads and messages are aligned to 4 bytes. */
export const NLA_ALIGNTO = 4;
/** Set in nla_type on attributes that hold attributes. */
export const NLA_F_NESTED = 0x8000;
/** Set in nla_type on attributes whose payload is in network byte order. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** The bits of nla_type that are the type proper. */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** One attribute to encode: its type (flags included) and its payload bytes. */
export interface NetlinkAttribute {
  type: number;
  value: Buffer;
}

/** Round up to the next multiple of 4. */
export function nlaAlign(n: number): number {
  return (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
}

/** Encode attributes back to back, each padded to 4 bytes with zeros. */
export function encodeAttributes(attrs: readonly NetlinkAttribute[]): Buffer {
  let size = 0;
  for (const a of attrs) size += nlaAlign(NLA_HDRLEN + a.value.length);
  const out = Buffer.alloc(size);
  let off = 0;
  for (const a of attrs) {
    const len = NLA_HDRLEN + a.value.length;
    if (len > 0xffff) throw new NetlinkEncodeError(`netlink attribute ${a.type} too long (${len} bytes)`);
    out.writeUInt16LE(len, off);
    out.writeUInt16LE(a.type, off + 2);
    a.value.copy(out, off + NLA_HDRLEN);
    off += nlaAlign(len);
  }
  return out;
}

/** A u8 attribute. */
export function u8Attr(type: number, v: number): NetlinkAttribute {
  const b = Buffer.alloc(1);
  b.writeUInt8(v);
  return { type, value: b };
}

/** A u16 attribute in host byte order. */
export function u16Attr(type: number, v: number): NetlinkAttribute {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { type, value: b };
}

/** A u16 attribute in network byte order (`__be16`, e.g. a port). */
export function be16Attr(type: number, v: number): NetlinkAttribute {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return { type, value: b };
}

/** A u32 attribute in host byte order. */
export function u32Attr(type: number, v: number): NetlinkAttribute {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}

/** A NUL-terminated string attribute (NLA_NUL_STRING / NLA_STRING as the kernel's nla_put_string writes it). */
export function stringAttr(type: number, s: string): NetlinkAttribute {
  return { type, value: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]) };
}

/** An attribute with raw bytes (NLA_BINARY). */
export function bytesAttr(type: number, value: Buffer): NetlinkAttribute {
  return { type, value };
}

/** An attribute holding other attributes; flagged NLA_F_NESTED, which the kernel masks off when parsing. */
export function nestedAttr(type: number, children: readonly NetlinkAttribute[]): NetlinkAttribute {
  return { type: type | NLA_F_NESTED, value: encodeAttributes(children) };
}

/** A decoded attribute: type without flags, whether it was flagged nested, payload without padding. */
export interface DecodedAttribute {
  type: number;
  nested: boolean;
  value: Buffer;
}

/**
 * Decode a run of attributes. Trailing bytes shorter than a header are
 * ignored, as the kernel's nla_for_each_attr does; an attribute claiming more
 * bytes than are left is an error (a truncated or corrupt message).
 */
export function decodeAttributes(buf: Buffer): DecodedAttribute[] {
  const out: DecodedAttribute[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new NetlinkMalformedError(`malformed netlink attribute at offset ${off}: length ${len}, ${buf.length - off} bytes left`);
    }
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, value: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += nlaAlign(len);
  }
  return out;
}

/** Attributes by type; when a type repeats, the last one wins (as nla_parse does). */
export function attributeMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of decodeAttributes(buf)) m.set(a.type, a.value);
  return m;
}

/** Read a host-order u16 payload; undefined when absent, an error when too short. */
export function readU16(v: Buffer | undefined): number | undefined {
  if (!v) return undefined;
  need(v, 2, 'u16');
  return v.readUInt16LE(0);
}

/** Read a network-order u16 payload (`__be16`). */
export function readBe16(v: Buffer | undefined): number | undefined {
  if (!v) return undefined;
  need(v, 2, 'be16');
  return v.readUInt16BE(0);
}

/** Read a host-order u32 payload. */
export function readU32(v: Buffer | undefined): number | undefined {
  if (!v) return undefined;
  need(v, 4, 'u32');
  return v.readUInt32LE(0);
}

/** Read a host-order s32 payload (the kernel sends some signed counters, e.g. IPVS weights, as u32). */
export function readS32(v: Buffer | undefined): number | undefined {
  if (!v) return undefined;
  need(v, 4, 's32');
  return v.readInt32LE(0);
}

/** Read a NUL-terminated (or unterminated) string payload. */
export function readString(v: Buffer | undefined): string | undefined {
  if (!v) return undefined;
  const nul = v.indexOf(0);
  return v.subarray(0, nul < 0 ? v.length : nul).toString('utf8');
}

function need(v: Buffer, n: number, what: string): void {
  if (v.length < n) throw new NetlinkMalformedError(`netlink ${what} attribute has ${v.length} bytes`);
}
