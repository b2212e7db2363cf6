/**
 * WAL segment files: `<firstRevision>.wal`, each holding frames for
 * revisions from firstRevision on. A new segment starts after every snapshot
 * so older segments can be deleted whole.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { WalSegmentClosedError } from '../errors';
import { syncDir } from './durable-file';

/** A segment file found on disk. */
export interface SegmentFile {
  /** First revision the segment may hold (its records start there unless it is empty). */
  firstRevision: number;
  name: string;
}

const SEGMENT_NAME = /^(\d+)\.wal$/;

/** File name of the segment whose first record is at firstRevision. */
export function segmentFileName(firstRevision: number): string {
  return `${String(firstRevision).padStart(16, '0')}.wal`;
}

/** Segment files in a directory, oldest first. */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const files: SegmentFile[] = [];
  for (const name of await fsp.readdir(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m) files.push({ firstRevision: Number(m[1]), name });
  }
  return files.sort((a, b) => a.firstRevision - b.firstRevision);
}

/** Appends frames to the open (last) segment; each append is durable when it resolves. */
export class SegmentWriter {
  private constructor(
    readonly file: string,
    private handle: FileHandle | null,
    private position: number,
    private readonly fsync: boolean,
  ) {}

  /** Create a new, empty segment and make its directory entry durable. */
  static async create(file: string, fsync: boolean): Promise<SegmentWriter> {
    const handle = await fsp.open(file, 'wx', 0o600);
    try {
      if (fsync) await syncDir(path.dirname(file));
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new SegmentWriter(file, handle, 0, fsync);
  }

  /** Open an existing segment for appending at validBytes, cutting off any torn tail beyond it. */
  static async openAt(file: string, validBytes: number, fsync: boolean): Promise<SegmentWriter> {
    const handle = await fsp.open(file, 'r+');
    try {
      const { size } = await handle.stat();
      if (size !== validBytes) {
        await handle.truncate(validBytes);
        await handle.sync();
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new SegmentWriter(file, handle, validBytes, fsync);
  }

  /** Bytes in the segment. */
  get size(): number {
    return this.position;
  }

  /** Write frames at the end and fdatasync; on failure cut the partial write so later appends stay readable. */
  async append(data: Buffer): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new WalSegmentClosedError('WAL segment is closed');
    const start = this.position;
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, start + done);
        done += bytesWritten;
      }
      if (this.fsync) await handle.datasync();
    } catch (err) {
      await handle.truncate(start).catch(() => undefined);
      throw err;
    }
    this.position = start + data.length;
  }

  /** Close the file; safe to call twice. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}
