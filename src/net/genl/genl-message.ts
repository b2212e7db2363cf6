/**
 * Netlink and generic netlink message framing (include/uapi/linux/netlink.h,
 * genetlink.h): a 16-byte nlmsghdr `{ u32 len; u16 type; u16 flags; u32 seq;
 * u32 pid }`, for generic netlink a 4-byte genlmsghdr `{ u8 cmd; u8 version;
 * u16 reserved }`, then attributes. Host byte order (see netlink-attribute.ts).
 * Pure: the socket shell (genl-socket.ts) only moves these bytes.
 */
import { NetlinkMalformedError } from '../../errors';
import { nlaAlign } from './netlink-attribute';

/** Size of struct nlmsghdr. */
export const NLMSG_HDRLEN = 16;
/** Size of struct genlmsghdr. */
export const GENL_HDRLEN = 4;

/** nlmsg_type values below 0x10 are netlink's own control messages. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;

/** Netlink protocol number of generic netlink (socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)). */
export const NETLINK_GENERIC = 16;

/**
 * One generic netlink request. `do` requests ask for an ACK so that every
 * command, even one with no reply, ends in a definite answer; `dump` requests
 * end with NLMSG_DONE (the kernel sends no ACK after a dump).
 */
export interface GenlRequest {
  /** Family id: the nlmsg_type of the request (GENL_ID_CTRL or a resolved id). */
  family: number;
  cmd: number;
  version: number;
  kind: 'do' | 'dump';
  /** Encoded attributes after the generic netlink header. */
  attrs: Buffer;
}

/** A generic netlink message the kernel sent back. */
export interface GenlMessage {
  family: number;
  flags: number;
  seq: number;
  cmd: number;
  version: number;
  attrs: Buffer;
}

/** A netlink message as framed on the wire, payload not interpreted. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** nlmsg_flags a request of this kind is sent with. */
export function requestFlags(kind: GenlRequest['kind']): number {
  return kind === 'dump' ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_REQUEST | NLM_F_ACK;
}

/**
 * The bytes of a request: nlmsghdr, genlmsghdr, attributes. `pid` may be 0:
 * the kernel answers the socket the request came from, whatever the header says.
 */
export function encodeGenlRequest(req: GenlRequest, seq: number, pid = 0): Buffer {
  const len = NLMSG_HDRLEN + GENL_HDRLEN + req.attrs.length;
  const out = Buffer.alloc(nlaAlign(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(req.family, 4);
  out.writeUInt16LE(requestFlags(req.kind), 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(pid >>> 0, 12);
  out.writeUInt8(req.cmd, 16);
  out.writeUInt8(req.version, 17);
  // genlmsghdr.reserved stays 0.
  req.attrs.copy(out, NLMSG_HDRLEN + GENL_HDRLEN);
  return out;
}

/** Frame a netlink message (any type); for fakes that play the kernel and for tests. */
export function encodeNetlinkMessage(msg: NetlinkMessage): Buffer {
  const len = NLMSG_HDRLEN + msg.payload.length;
  const out = Buffer.alloc(nlaAlign(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(msg.type, 4);
  out.writeUInt16LE(msg.flags, 6);
  out.writeUInt32LE(msg.seq >>> 0, 8);
  out.writeUInt32LE(msg.pid >>> 0, 12);
  msg.payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Frame a generic netlink message the way the kernel does in a reply; for fakes and tests. */
export function encodeGenlMessage(msg: GenlMessage, pid = 0): Buffer {
  const payload = Buffer.alloc(GENL_HDRLEN + msg.attrs.length);
  payload.writeUInt8(msg.cmd, 0);
  payload.writeUInt8(msg.version, 1);
  msg.attrs.copy(payload, GENL_HDRLEN);
  return encodeNetlinkMessage({ type: msg.family, flags: msg.flags, seq: msg.seq, pid, payload });
}

/** Split one datagram into its netlink messages (a dump packs several into one). */
export function decodeNetlinkMessages(datagram: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) {
      throw new NetlinkMalformedError(`malformed netlink message at offset ${off}: length ${len}, ${datagram.length - off} bytes left`);
    }
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      pid: datagram.readUInt32LE(off + 12),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += nlaAlign(len);
  }
  return out;
}

/** Read the generic netlink header of a data message. */
export function toGenlMessage(msg: NetlinkMessage): GenlMessage {
  if (msg.payload.length < GENL_HDRLEN) throw new NetlinkMalformedError(`generic netlink message of ${msg.payload.length} bytes has no genlmsghdr`);
  return {
    family: msg.type,
    flags: msg.flags,
    seq: msg.seq,
    cmd: msg.payload.readUInt8(0),
    version: msg.payload.readUInt8(1),
    attrs: msg.payload.subarray(GENL_HDRLEN),
  };
}

/**
 * The errno of an NLMSG_ERROR message (struct nlmsgerr: `int error` then the
 * request's header): 0 is an ACK, otherwise a positive errno.
 */
export function errorCodeOf(msg: NetlinkMessage): number {
  if (msg.payload.length < 4) throw new NetlinkMalformedError('truncated NLMSG_ERROR');
  return -msg.payload.readInt32LE(0);
}

/** The errno carried by NLMSG_DONE (an `int`, negative when the dump failed); 0 when absent. */
export function doneCodeOf(msg: NetlinkMessage): number {
  return msg.payload.length >= 4 ? -msg.payload.readInt32LE(0) : 0;
}
