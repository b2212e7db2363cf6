import type { AnswerResult } from './answer';
import { CLASSIC_UDP_LIMIT, HEADER_BYTES, MAX_UDP_RESPONSE } from './wire';

/**
 * Entries kept before the cache starts over. Bounds memory when clients ask
 * for many distinct (or case-randomised, "0x20") names.
 */
export const ANSWER_CACHE_MAX_ENTRIES = 10_000;

/** Longest name on the wire (RFC 1035 §2.3.4). */
const MAX_NAME_BYTES = 255;
/** Longest label (RFC 1035 §2.3.4); larger length bytes are pointers or reserved. */
const MAX_LABEL_BYTES = 63;
/** RR type of the EDNS OPT pseudo-record (RFC 6891). */
const OPT_TYPE = 41;
/** Bits of the header's third byte: QR and OPCODE must be zero for a cacheable query. */
const QR_OPCODE_MASK = 0xf8;
/** The RD bit in the header's third byte, echoed from the query. */
const RD_BIT = 0x01;

/** One cached answer: the result label and the encoded response per rotation offset, ID and RD zeroed. */
interface CacheEntry {
  result: AnswerResult;
  /** Responses indexed by rotation offset (`rotate % n`); one slot when there is nothing to rotate. */
  variants: (Buffer | undefined)[];
}

/**
 * The cache key of a plain query, read from the raw bytes without dns-packet:
 * one question, no answers or authorities, at most a bare OPT record, and a
 * name of plain ASCII labels without compression. Null for anything else, which
 * then takes the full decode path. The key holds the question bytes as sent
 * (case included, since the response echoes them) and the response size limit.
 */
export function answerCacheKey(raw: Buffer, tcp: boolean): string | null {
  const length = raw.length;
  if (length < HEADER_BYTES + 5) return null;
  if ((raw[2] & QR_OPCODE_MASK) !== 0) return null;
  // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
  if (raw[4] !== 0 || raw[5] !== 1 || raw[6] !== 0 || raw[7] !== 0 || raw[8] !== 0 || raw[9] !== 0 || raw[10] !== 0) return null;
  const additionals = raw[11];
  if (additionals > 1) return null;
  let at = HEADER_BYTES;
  for (;;) {
    if (at >= length) return null;
    const label = raw[at];
    if (label === 0) break;
    if (label > MAX_LABEL_BYTES || at + 1 + label > length) return null;
    for (let i = at + 1; i <= at + label; i++) {
      if (!isPlainLabelByte(raw[i])) return null;
    }
    at += 1 + label;
    if (at - HEADER_BYTES >= MAX_NAME_BYTES) return null;
  }
  const questionEnd = at + 5;
  if (questionEnd > length) return null;
  let limit: number;
  let edns: 0 | 1 = 0;
  if (additionals === 0) {
    if (questionEnd !== length) return null;
    limit = CLASSIC_UDP_LIMIT;
  } else {
    // Root name, type OPT, class = payload size, TTL (4), RDLENGTH 0: exactly 11 bytes to the end.
    if (length !== questionEnd + 11) return null;
    if (raw[questionEnd] !== 0 || raw.readUInt16BE(questionEnd + 1) !== OPT_TYPE) return null;
    if (raw[questionEnd + 9] !== 0 || raw[questionEnd + 10] !== 0) return null;
    edns = 1;
    limit = Math.min(MAX_UDP_RESPONSE, Math.max(CLASSIC_UDP_LIMIT, raw.readUInt16BE(questionEnd + 3)));
  }
  return raw.toString('latin1', HEADER_BYTES, questionEnd) + (tcp ? 't' : limit) + edns;
}

/** Letters, digits, `-` and `_`: bytes that dns-packet decodes and encodes back unchanged. */
function isPlainLabelByte(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f
  );
}

/**
 * Encoded answers to cluster names, valid for one DNS view object: a hit
 * copies the bytes and patches the query's ID and RD bit, so it never decodes
 * or encodes. Multi-address answers are kept per rotation offset so dnsrr and
 * `tasks.` answers still rotate.
 */
export class AnswerCache {
  private entries = new Map<string, CacheEntry>();
  private view: object | null = null;

  /** Drops every entry when `view` is not the object the entries were built from. */
  useView(view: object): void {
    if (view === this.view) return;
    this.view = view;
    this.entries.clear();
  }

  /**
   * The response for `key` at rotation counter `rotate`, ready to send to the
   * query `raw`, and its result label; null on a miss.
   */
  get(key: string, rotate: number, raw: Buffer): { response: Buffer; result: AnswerResult } | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    const cached = entry.variants[rotate % entry.variants.length];
    if (!cached) return null;
    const response = Buffer.allocUnsafe(cached.length);
    cached.copy(response);
    response[0] = raw[0];
    response[1] = raw[1];
    response[2] |= raw[2] & RD_BIT;
    return { response, result: entry.result };
  }

  /**
   * Keeps `response` (the answer to a query with key `key`, built at rotation
   * counter `rotate` over `rotations` addresses) for later queries.
   */
  set(key: string, rotate: number, rotations: number, response: Buffer, result: AnswerResult): void {
    let entry = this.entries.get(key);
    const slots = Math.max(1, rotations);
    if (!entry || entry.variants.length !== slots) {
      if (this.entries.size >= ANSWER_CACHE_MAX_ENTRIES) this.entries.clear();
      entry = { result, variants: new Array<Buffer | undefined>(slots) };
      this.entries.set(key, entry);
    }
    const stored = Buffer.from(response);
    stored[0] = 0;
    stored[1] = 0;
    stored[2] &= ~RD_BIT;
    entry.variants[rotate % slots] = stored;
  }
}
