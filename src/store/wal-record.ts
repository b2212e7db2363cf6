/**
 * The write-ahead log's on-disk framing and the pure reading of a segment.
 * A frame is [u32 LE payload length][u32 LE crc32 of payload][payload], the
 * payload one committed transaction as JSON. Each record also names the
 * first and last revision of the group-commit batch it was written with:
 * only the final batch of the log can have been cut by a crash (every earlier
 * batch was fsynced before the next was written, and a torn write may leave
 * any of its sectors unwritten), so damage followed only by records of that
 * same batch is a torn tail, while damage followed by any other record is
 * corruption of acknowledged data.
 */
import type { Op } from './store';
import { crc32 } from './crc32';

/** One committed transaction as the WAL stores it. */
export interface WalRecord {
  /** Revision of the transaction. */
  revision: number;
  /** First revision of the batch this record was written (and fsynced) with. */
  batchStart: number;
  /** Last revision of that batch. */
  batchEnd: number;
  ops: Op[];
}

/** Bytes of a frame header: payload length and checksum. */
export const FRAME_HEADER_BYTES = 8;

/** Why a frame could not be read. */
export type FrameDamage = 'short-header' | 'bad-length' | 'short-payload' | 'bad-checksum' | 'bad-payload';

/** A damaged frame in a segment and what lies beyond it. */
export interface SegmentDamage {
  /** Byte offset of the first damaged frame; everything before it is valid. */
  offset: number;
  reason: FrameDamage;
  /** Valid frames found beyond the damage (found by scanning byte by byte). */
  recordsAfter: number;
  /**
   * `torn`: only the final, never-acknowledged batch is damaged, as a crash
   * mid-write leaves it; `corrupt`: a batch that was acknowledged is damaged.
   */
  kind: 'torn' | 'corrupt';
}

/** What a segment holds: its valid prefix and, if any, the damage ending it. */
export interface SegmentScan {
  records: WalRecord[];
  /** Length of the valid prefix in bytes; a torn segment is truncated to it. */
  validBytes: number;
  damage?: SegmentDamage;
}

/** Frame records for one append; the caller writes the buffer with a single write. */
export function encodeRecords(records: readonly WalRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const payload = Buffer.from(JSON.stringify({ rev: r.revision, first: r.batchStart, end: r.batchEnd, ops: r.ops }), 'utf8');
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    parts.push(header, payload);
  }
  return Buffer.concat(parts);
}

/** Parse a payload whose checksum matched; undefined when it is not a record. */
function decodePayload(payload: Buffer): WalRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { rev, first, end, ops } = raw as { rev?: unknown; first?: unknown; end?: unknown; ops?: unknown };
  if (!Number.isSafeInteger(rev) || !Number.isSafeInteger(first) || !Number.isSafeInteger(end)) return undefined;
  if ((first as number) < 1 || (first as number) > (rev as number) || (rev as number) > (end as number)) return undefined;
  if (!Array.isArray(ops)) return undefined;
  for (const op of ops as unknown[]) {
    if (typeof op !== 'object' || op === null) return undefined;
    const o = op as { type?: unknown; key?: unknown; value?: unknown };
    if (typeof o.key !== 'string') return undefined;
    if (o.type === 'put' ? !('value' in o) : o.type !== 'delete') return undefined;
  }
  return { revision: rev as number, batchStart: first as number, batchEnd: end as number, ops: ops as Op[] };
}

type FrameRead = { record: WalRecord; next: number } | { damage: FrameDamage };

function readFrame(buf: Buffer, offset: number): FrameRead {
  if (buf.length - offset < FRAME_HEADER_BYTES) return { damage: 'short-header' };
  const length = buf.readUInt32LE(offset);
  if (length === 0) return { damage: 'bad-length' };
  const start = offset + FRAME_HEADER_BYTES;
  if (length > buf.length - start) return { damage: 'short-payload' };
  const payload = buf.subarray(start, start + length);
  if (crc32(payload) !== buf.readUInt32LE(offset + 4)) return { damage: 'bad-checksum' };
  const record = decodePayload(payload);
  return record ? { record, next: start + length } : { damage: 'bad-payload' };
}

/** Every valid frame at or after offset, trying each byte position, as resynchronisation does. */
function framesAfter(buf: Buffer, offset: number): WalRecord[] {
  const found: WalRecord[] = [];
  let o = offset;
  while (o + FRAME_HEADER_BYTES <= buf.length) {
    const r = readFrame(buf, o);
    if ('record' in r) {
      found.push(r.record);
      o = r.next;
    } else {
      o++;
    }
  }
  return found;
}

/**
 * Whether damage after `last`, followed by the valid records `after`, can be
 * a crash cutting the final batch: the records after the damage all belong
 * to one batch, and the damaged frames were that same batch's.
 */
function isTornFinalBatch(last: WalRecord | undefined, after: WalRecord[]): boolean {
  if (after.length === 0) return true;
  const { batchStart: start, batchEnd: end } = after[0];
  let prev = last?.revision ?? 0;
  for (const r of after) {
    if (r.batchStart !== start || r.batchEnd !== end || r.revision <= prev) return false;
    prev = r.revision;
  }
  // Some revision of the final batch before the first record found must be the damaged one.
  if (after[0].revision === start) return false;
  if (!last) return true;
  const sameBatch = last.batchStart === start && last.batchEnd === end;
  const batchRightBefore = last.revision === start - 1 && last.batchEnd === last.revision;
  return (sameBatch || batchRightBefore) && after[0].revision > last.revision + 1;
}

/** Read a segment: its valid records, and whether what ends it is a torn tail or corruption. */
export function scanSegment(buf: Buffer): SegmentScan {
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const r = readFrame(buf, offset);
    if ('damage' in r) {
      const after = framesAfter(buf, offset + 1);
      // A frame whose checksum holds but whose payload is no record was never torn: it was written so.
      const torn = r.damage !== 'bad-payload' && isTornFinalBatch(records[records.length - 1], after);
      return {
        records,
        validBytes: offset,
        damage: { offset, reason: r.damage, recordsAfter: after.length, kind: torn ? 'torn' : 'corrupt' },
      };
    }
    records.push(r.record);
    offset = r.next;
  }
  return { records, validBytes: offset };
}
