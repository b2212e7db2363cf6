import * as dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';

/** Size of the fixed DNS header (RFC 1035 §4.1.1). */
export const HEADER_BYTES = 12;
/** Largest UDP response to a client that did not use EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
/**
 * Ceiling on the UDP response size whatever the client advertises: larger
 * answers fragment, and clients retry over TCP after a truncated one anyway.
 */
export const MAX_UDP_RESPONSE = 4096;
/**
 * Largest query accepted over TCP. The length prefix allows 65535 bytes, but
 * a query is one question plus at most an OPT or TSIG record, a few hundred
 * bytes even padded (RFC 8467); a client announcing more is not speaking DNS,
 * and its connection is closed rather than buffered for.
 */
export const MAX_TCP_QUERY_BYTES = 4096;

/** Smallest question on the wire: the root name (one byte), QTYPE and QCLASS. */
const MIN_QUESTION_BYTES = 5;
/** Smallest resource record on the wire: the root name, TYPE, CLASS, TTL and RDLENGTH. */
const MIN_RECORD_BYTES = 11;

const QR_BIT = 0x8000;
const OPCODE_MASK = 0x7800;

/** Whether the raw packet has the QR bit set: it is a response, which a server must never answer. */
export function isResponsePacket(raw: Buffer): boolean {
  return raw.length >= 4 && (raw.readUInt16BE(2) & QR_BIT) !== 0;
}

/**
 * An error response built from the raw header alone, for packets that could
 * not be decoded. Null when too little of the header is there to answer
 * safely (no flags to tell a query from a response).
 */
export function rawErrorResponse(raw: Buffer, rcode: number): Buffer | null {
  if (raw.length < 4 || isResponsePacket(raw)) return null;
  const queryFlags = raw.readUInt16BE(2);
  const out = Buffer.alloc(HEADER_BYTES);
  raw.copy(out, 0, 0, 2);
  const flags =
    QR_BIT |
    (queryFlags & OPCODE_MASK) |
    (queryFlags & dnsPacket.RECURSION_DESIRED) |
    dnsPacket.RECURSION_AVAILABLE |
    (rcode & 0xf);
  out.writeUInt16BE(flags, 2);
  return out;
}

/**
 * Decodes a DNS message, or null when it is malformed. The section counts are
 * checked against the length first: dns-packet allocates an array per count
 * before reading a record, so a bare header claiming 65535 records of each
 * kind would cost 2 MB of garbage, about a millisecond, per packet.
 */
export function decodeMessage(raw: Buffer): DecodedPacket | null {
  if (raw.length < HEADER_BYTES) return null;
  const records = raw.readUInt16BE(6) + raw.readUInt16BE(8) + raw.readUInt16BE(10);
  if (HEADER_BYTES + MIN_QUESTION_BYTES * raw.readUInt16BE(4) + MIN_RECORD_BYTES * records > raw.length) return null;
  try {
    return dnsPacket.decode(raw);
  } catch {
    return null;
  }
}

/** Largest UDP response the client accepts: its EDNS payload size, else 512 (RFC 6891 §6.2.5). */
export function udpResponseLimit(query: Packet): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const advertised = opt && opt.type === 'OPT' ? opt.udpPayloadSize : CLASSIC_UDP_LIMIT;
  return Math.min(MAX_UDP_RESPONSE, Math.max(CLASSIC_UDP_LIMIT, advertised));
}

/**
 * Encodes a response for UDP: when it does not fit in `limit` bytes, keeps
 * as many answers as fit and sets TC so the client retries over TCP
 * (RFC 2181 §9).
 */
export function encodeForUdp(response: Packet, limit: number): Buffer {
  const full = dnsPacket.encode(response);
  if (full.length <= limit) return full;
  const answers = response.answers ?? [];
  const base: Packet = { ...response, answers: [] };
  let size = dnsPacket.encodingLength(base);
  let keep = 0;
  for (const a of answers) {
    const next = size + dnsPacket.encodingLength({ answers: [a] }) - HEADER_BYTES;
    if (next > limit) break;
    size = next;
    keep++;
  }
  const truncated: Packet = {
    ...response,
    flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: answers.slice(0, keep),
  };
  if (dnsPacket.encodingLength(truncated) > limit) truncated.additionals = [];
  return dnsPacket.encode(truncated);
}

/** Copies `raw` with its ID replaced. */
export function withId(raw: Buffer, id: number): Buffer {
  const out = Buffer.from(raw);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}
