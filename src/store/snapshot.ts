/**
 * Snapshot files: the whole key space at one revision, so recovery replays
 * only the WAL written after it. The file is one JSON object,
 * `{"format":1,"revision":R,"crc32":C,"kvs":[...]}`, whose checksum covers
 * the exact bytes of the `kvs` array; it is written atomically
 * (see durable-file.ts), so a complete file with a wrong checksum is damage,
 * not a crash.
 */
import { promises as fsp } from 'node:fs';
import { CorruptStoreError } from '../errors';
import { crc32 } from './crc32';
import type { KeyValue } from './store';

/** The key space at one revision. */
export interface Snapshot {
  revision: number;
  kvs: KeyValue[];
}

/** A snapshot file found on disk. */
export interface SnapshotFile {
  revision: number;
  name: string;
}

const SNAPSHOT_FORMAT = 1;
const SNAPSHOT_NAME = /^snapshot-(\d+)\.json$/;
const BODY_MARK = Buffer.from('"kvs":');
const TRAILER = Buffer.from('}\n');
/** The header fits well within this many bytes, so the body mark is searched there only. */
const HEADER_MAX_BYTES = 128;

/** File name of the snapshot at a revision (zero-padded so `ls` sorts by revision). */
export function snapshotFileName(revision: number): string {
  return `snapshot-${String(revision).padStart(16, '0')}.json`;
}

/** Serialise the key space at a revision; synchronous so it captures exactly that state. */
export function encodeSnapshot(revision: number, kvs: Iterable<KeyValue>): Buffer {
  const body = Buffer.from(JSON.stringify(Array.from(kvs)), 'utf8');
  const head = Buffer.from(`{"format":${SNAPSHOT_FORMAT},"revision":${revision},"crc32":${crc32(body)},`, 'utf8');
  return Buffer.concat([head, BODY_MARK, body, TRAILER]);
}

function isKeyValue(x: unknown, revision: number): boolean {
  if (typeof x !== 'object' || x === null) return false;
  const kv = x as Partial<KeyValue>;
  return (
    typeof kv.key === 'string' &&
    'value' in kv &&
    Number.isSafeInteger(kv.createRevision) &&
    Number.isSafeInteger(kv.modRevision) &&
    Number.isSafeInteger(kv.version) &&
    kv.createRevision! >= 1 &&
    kv.createRevision! <= kv.modRevision! &&
    kv.modRevision! <= revision &&
    kv.version! >= 1
  );
}

/** Read a snapshot file's bytes; throws CorruptStoreError when they are not one. */
export function decodeSnapshot(buf: Buffer, name = 'snapshot'): Snapshot {
  const mark = buf.subarray(0, HEADER_MAX_BYTES).indexOf(BODY_MARK);
  if (mark < 0 || buf.length < mark + BODY_MARK.length + TRAILER.length || !buf.subarray(buf.length - TRAILER.length).equals(TRAILER)) {
    throw new CorruptStoreError(`${name}: not a snapshot file`);
  }
  let header: { format?: unknown; revision?: unknown; crc32?: unknown };
  try {
    header = JSON.parse(buf.subarray(0, mark - 1).toString('utf8') + '}');
  } catch {
    throw new CorruptStoreError(`${name}: damaged header`);
  }
  const { format, revision, crc32: sum } = header;
  if (format !== SNAPSHOT_FORMAT || !Number.isSafeInteger(revision) || (revision as number) < 0) {
    throw new CorruptStoreError(`${name}: unknown format or revision`);
  }
  const body = buf.subarray(mark + BODY_MARK.length, buf.length - TRAILER.length);
  if (crc32(body) !== sum) throw new CorruptStoreError(`${name}: checksum mismatch`);
  let kvs: unknown;
  try {
    kvs = JSON.parse(body.toString('utf8'));
  } catch {
    throw new CorruptStoreError(`${name}: damaged body`);
  }
  if (!Array.isArray(kvs) || !kvs.every((kv) => isKeyValue(kv, revision as number))) {
    throw new CorruptStoreError(`${name}: malformed key space`);
  }
  return { revision: revision as number, kvs: kvs as KeyValue[] };
}

/** Snapshot files in a directory, oldest first. */
export async function listSnapshots(dir: string): Promise<SnapshotFile[]> {
  const files: SnapshotFile[] = [];
  for (const name of await fsp.readdir(dir)) {
    const m = SNAPSHOT_NAME.exec(name);
    if (m) files.push({ revision: Number(m[1]), name });
  }
  return files.sort((a, b) => a.revision - b.revision);
}
