/**
 * The embedded, crash-safe store: MemoryStore's state machine made durable
 * by a write-ahead log and periodic snapshots in the state directory.
 *
 *   <dir>/LOCK                       pid of the process that has the store open
 *   <dir>/wal/<firstRevision>.wal    frames, one per committed transaction
 *   <dir>/snap/snapshot-<rev>.json   the whole key space at rev
 *
 * A write is acknowledged only after its batch is written and fdatasynced.
 * Recovery loads the newest valid snapshot and replays the WAL after it; a
 * torn final batch (what a crash mid-write leaves) is cut off, any other
 * damage is a CorruptStoreError.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CorruptStoreError, InvalidArgumentError } from '../errors';
import { acquireDirLock, type DirLock } from './dir-lock';
import { syncDir, TEMP_SUFFIX, writeFileAtomic } from './durable-file';
import { MemoryStore, type CommittedTxn } from './memory-store';
import { decodeSnapshot, encodeSnapshot, listSnapshots, snapshotFileName, type Snapshot } from './snapshot';
import { encodeRecords, scanSegment, type FrameDamage, type SegmentScan } from './wal-record';
import { walMetrics, type WalMetrics } from './wal-metrics';
import { listSegments, segmentFileName, SegmentWriter } from './wal-segment';

/** Options of the embedded store. */
export interface WalStoreOptions {
  /** Write a snapshot (and start a new WAL segment) every this many revisions. */
  snapshotEvery?: number;
  /** Events kept for watches that resume from an older revision. */
  historyLimit?: number;
  /** fdatasync each batch before acknowledging it (default true; false only for tests). */
  fsync?: boolean;
}

/** Side effects the embedded store reports through. */
export interface WalStoreDeps {
  logger?: Logger;
  registry?: Registry;
}

/** A torn tail recovery cut off the last WAL segment. */
export interface TornTail {
  segment: string;
  /** Byte offset the segment was truncated to. */
  offset: number;
  reason: FrameDamage;
  droppedBytes: number;
}

/** What recovery found when the store was opened. */
export interface RecoveryInfo {
  /** Revision the store resumed at. */
  revision: number;
  /** Revision of the snapshot loaded (0: none). */
  snapshotRevision: number;
  /** Damaged snapshots skipped in favour of an older one. */
  skippedSnapshots: string[];
  /** WAL records replayed after the snapshot. */
  replayedRecords: number;
  tornTail?: TornTail;
}

/** Default revisions between snapshots. */
export const DEFAULT_SNAPSHOT_EVERY = 10_000;
const WAL_DIR = 'wal';
const SNAP_DIR = 'snap';

/** The embedded store backend: WAL plus snapshots in a state directory. */
export class WalStore extends MemoryStore {
  private writer!: SegmentWriter;
  private readonly walDir: string;
  private readonly snapDir: string;
  private readonly snapshotEvery: number;
  private readonly fsync: boolean;
  private readonly logger: Logger;
  private readonly metrics: WalMetrics | undefined;
  /** Revision of the newest durable snapshot; WAL segments before it are deleted. */
  private snapshotRev = 0;
  private nextSnapshotAt = 0;
  private closing: Promise<void> | undefined;
  private recovered!: RecoveryInfo;

  private constructor(
    /** The state directory. */
    readonly dir: string,
    options: WalStoreOptions,
    deps: WalStoreDeps,
    private readonly lock: DirLock,
  ) {
    super({ historyLimit: options.historyLimit });
    this.walDir = path.join(dir, WAL_DIR);
    this.snapDir = path.join(dir, SNAP_DIR);
    this.snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    this.fsync = options.fsync ?? true;
    this.logger = (deps.logger ?? pino({ level: 'silent' })).child({ component: 'store' });
    this.metrics = deps.registry ? walMetrics(deps.registry) : undefined;
  }

  /** What recovery found when the store was opened (torn tail, snapshot used, records replayed). */
  get recovery(): RecoveryInfo {
    return this.recovered;
  }

  /** Open (creating if needed) the store in dir: lock it, recover, and be ready for writes. */
  static async open(dir: string, options: WalStoreOptions = {}, deps: WalStoreDeps = {}): Promise<WalStore> {
    const every = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    if (!Number.isSafeInteger(every) || every < 1) {
      throw new InvalidArgumentError(`snapshotEvery must be a positive integer, got ${every}`);
    }
    const fresh = !(await fsp.stat(path.join(dir, WAL_DIR)).catch(() => undefined));
    await fsp.mkdir(path.join(dir, WAL_DIR), { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(dir, SNAP_DIR), { recursive: true, mode: 0o700 });
    if (fresh && options.fsync !== false) {
      await syncDir(dir);
      await syncDir(path.dirname(path.resolve(dir)));
    }
    const lock = await acquireDirLock(dir);
    const store = new WalStore(dir, options, deps, lock);
    try {
      await store.recover();
    } catch (err) {
      await store.writer?.close();
      await lock.release();
      throw err;
    }
    return store;
  }

  private async loadNewestSnapshot(skipped: string[]): Promise<Snapshot> {
    for (const name of await fsp.readdir(this.snapDir)) {
      if (name.endsWith(TEMP_SUFFIX)) await fsp.rm(path.join(this.snapDir, name), { force: true });
    }
    const files = await listSnapshots(this.snapDir);
    for (let i = files.length - 1; i >= 0; i--) {
      try {
        return decodeSnapshot(await fsp.readFile(path.join(this.snapDir, files[i].name)), files[i].name);
      } catch (err) {
        if (!(err instanceof CorruptStoreError)) throw err;
        // An older snapshot still works if the WAL after it was kept; the replay checks that.
        this.logger.warn({ err, snapshot: files[i].name }, 'skipping damaged snapshot');
        skipped.push(files[i].name);
      }
    }
    return { revision: 0, kvs: [] };
  }

  private async recover(): Promise<void> {
    const skippedSnapshots: string[] = [];
    const snapshot = await this.loadNewestSnapshot(skippedSnapshots);
    for (const kv of snapshot.kvs) this.data.set(kv.key, kv);
    let rev = snapshot.revision;
    let replayedRecords = 0;
    let tornTail: TornTail | undefined;

    const segments = await listSegments(this.walDir);
    let lastScan: SegmentScan | undefined;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const isLast = i === segments.length - 1;
      if (seg.firstRevision > rev + 1) {
        throw new CorruptStoreError(`${seg.name}: revisions ${rev + 1} to ${seg.firstRevision - 1} are missing`);
      }
      const buf = await fsp.readFile(path.join(this.walDir, seg.name));
      const scan = scanSegment(buf);
      const { damage } = scan;
      if (damage && (damage.kind === 'corrupt' || !isLast)) {
        const after = damage.recordsAfter > 0 ? `, followed by ${damage.recordsAfter} valid records` : '';
        throw new CorruptStoreError(`${seg.name}: ${damage.reason} at byte ${damage.offset}${after}`);
      }
      if (scan.records.length > 0 && scan.records[0].revision !== seg.firstRevision) {
        throw new CorruptStoreError(`${seg.name}: first record is revision ${scan.records[0].revision}`);
      }
      for (const record of scan.records) {
        if (record.revision <= snapshot.revision) continue;
        if (record.revision !== rev + 1) {
          throw new CorruptStoreError(`${seg.name}: revision ${record.revision} follows ${rev}`);
        }
        this.applyOps(record.revision, record.ops);
        rev = record.revision;
        replayedRecords++;
      }
      if (damage) {
        tornTail = { segment: seg.name, offset: damage.offset, reason: damage.reason, droppedBytes: buf.length - damage.offset };
      }
      lastScan = scan;
    }

    this.rev = rev;
    this.persistedRev = rev;
    // History did not survive the restart: watches from before it must relist.
    this.compactedRev = rev;
    this.snapshotRev = snapshot.revision;
    this.nextSnapshotAt = snapshot.revision + this.snapshotEvery;
    const last = segments[segments.length - 1];
    this.writer =
      last && lastScan
        ? await SegmentWriter.openAt(path.join(this.walDir, last.name), lastScan.validBytes, this.fsync)
        : await SegmentWriter.create(path.join(this.walDir, segmentFileName(rev + 1)), this.fsync);
    this.recovered = { revision: rev, snapshotRevision: snapshot.revision, skippedSnapshots, replayedRecords, tornTail };
    if (tornTail) this.logger.warn({ tornTail }, 'cut torn tail off the write-ahead log');
    this.logger.info({ revision: rev, snapshotRevision: snapshot.revision, replayedRecords }, 'store recovered');
    await this.prune();
  }

  /** Append the batch to the WAL and fdatasync; every snapshotEvery revisions also snapshot. */
  protected override async persist(txns: CommittedTxn[]): Promise<void> {
    const batchStart = txns[0].revision;
    const batchEnd = txns[txns.length - 1].revision;
    // flush() hands over the whole pending batch and calls persist in the same
    // tick, so the in-memory state is exactly at batchEnd here and nowhere later.
    const snapshot =
      batchEnd >= this.nextSnapshotAt && this.rev === batchEnd ? encodeSnapshot(batchEnd, this.data.values()) : undefined;
    const frames = encodeRecords(txns.map((t) => ({ revision: t.revision, batchStart, batchEnd, ops: t.ops })));
    const started = performance.now();
    try {
      await this.writer.append(frames);
    } catch (err) {
      this.logger.error({ err, revision: batchEnd }, 'write-ahead log append failed; store refuses further writes');
      throw err;
    }
    this.metrics?.appendDuration.observe((performance.now() - started) / 1000);
    this.metrics?.records.inc(txns.length);
    this.metrics?.bytes.inc(frames.length);
    if (snapshot) await this.snapshot(batchEnd, snapshot);
  }

  /**
   * Write the snapshot at rev, then start a new segment and drop what the
   * snapshot covers. A failure here loses nothing (the WAL has every write),
   * so it is logged and retried snapshotEvery revisions later.
   */
  private async snapshot(rev: number, bytes: Buffer): Promise<void> {
    this.nextSnapshotAt = rev + this.snapshotEvery;
    try {
      await writeFileAtomic(path.join(this.snapDir, snapshotFileName(rev)), bytes, this.fsync);
      this.snapshotRev = rev;
      const previous = this.writer;
      this.writer = await SegmentWriter.create(path.join(this.walDir, segmentFileName(rev + 1)), this.fsync);
      await previous.close();
      this.metrics?.snapshots.inc({ result: 'ok' });
      this.logger.debug({ revision: rev, bytes: bytes.length }, 'snapshot written');
    } catch (err) {
      this.metrics?.snapshots.inc({ result: 'error' });
      this.logger.error({ err, revision: rev }, 'snapshot failed; the WAL still holds every write');
      return;
    }
    await this.prune().catch((err: unknown) => this.logger.warn({ err }, 'could not delete old WAL segments'));
  }

  /** Delete segments and snapshots the newest snapshot covers, oldest first so a crash leaves a usable suffix. */
  private async prune(): Promise<void> {
    let removed = 0;
    const segments = await listSegments(this.walDir);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1].firstRevision > this.snapshotRev + 1) break;
      if (path.join(this.walDir, segments[i].name) === this.writer.file) break;
      await fsp.rm(path.join(this.walDir, segments[i].name), { force: true });
      removed++;
    }
    for (const snap of await listSnapshots(this.snapDir)) {
      if (snap.revision >= this.snapshotRev) continue;
      await fsp.rm(path.join(this.snapDir, snap.name), { force: true });
      removed++;
    }
    if (removed > 0 && this.fsync) {
      await syncDir(this.walDir);
      await syncDir(this.snapDir);
    }
  }

  /** Flush pending writes, close the WAL and release the lock; safe to call twice. */
  override close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await super.close();
      } finally {
        await this.writer.close();
        await this.lock.release();
      }
    })();
    return this.closing;
  }
}
