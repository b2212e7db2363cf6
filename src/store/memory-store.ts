import { CompactedError, InvalidArgumentError, StoreClosedError, StoreWriteFailedError } from '../errors';
import type { KeyValue, Op, Store, Txn, TxnResult, WatchEvent, WatchHandlers, Watcher } from './store';

/** Options of the in-memory store core. */
export interface MemoryStoreOptions {
  /** Events kept for watches that resume from an older revision. */
  historyLimit?: number;
}

/** A committed transaction: what the WAL writes and replays. */
export interface CommittedTxn {
  revision: number;
  ops: Op[];
}

interface PendingBatch {
  events: WatchEvent[];
  resolvers: (() => void)[];
  rejecters: ((err: Error) => void)[];
}

interface WatchEntry {
  prefix: string;
  handlers: WatchHandlers;
  /** Only events at or after this revision are delivered (history already sent). */
  from: number;
  /**
   * History not yet delivered (it goes out in a microtask); live events that
   * arrive meanwhile queue behind it so the watcher sees revision order.
   */
  backlog: WatchEvent[] | null;
}

const DEFAULT_HISTORY_LIMIT = 50_000;

/**
 * The store's state machine in memory: revisions, CAS transactions, prefix
 * watches with history. Durable backends extend it and override `persist`;
 * writes are applied in order, persisted in groups (one fsync for every write
 * queued in the same tick), and acknowledged and shown to watchers only after
 * `persist` resolves.
 */
export class MemoryStore implements Store {
  protected data = new Map<string, KeyValue>();
  protected rev = 0;
  private history: WatchEvent[] = [];
  /** Oldest revision still in history is compactedRev + 1. */
  protected compactedRev = 0;
  private readonly historyLimit: number;
  private watchers = new Set<WatchEntry>();
  private batch: PendingBatch | null = null;
  private batchTxns: CommittedTxn[] = [];
  private flushing: Promise<void> = Promise.resolve();
  protected closed = false;
  /** Revision whose events have been persisted, recorded in history and shown to watchers. */
  protected persistedRev = 0;
  /** Set when persist failed: memory is then ahead of disk, so every later write is refused. */
  protected failure: Error | null = null;

  constructor(options: MemoryStoreOptions = {}) {
    this.historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  }

  revision(): number {
    return this.rev;
  }

  async get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    const kv = this.data.get(key);
    return kv ? (structuredClone(kv) as KeyValue<T>) : undefined;
  }

  async range<T = unknown>(prefix: string): Promise<{ kvs: KeyValue<T>[]; revision: number }> {
    const kvs: KeyValue<T>[] = [];
    for (const [k, kv] of this.data) if (k.startsWith(prefix)) kvs.push(structuredClone(kv) as KeyValue<T>);
    kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { kvs, revision: this.rev };
  }

  async put(key: string, value: unknown): Promise<{ revision: number }> {
    const r = await this.txn({ compare: [], success: [{ type: 'put', key, value }] });
    return { revision: r.revision };
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    const existed = this.data.has(key);
    const r = await this.txn({ compare: [], success: [{ type: 'delete', key }] });
    return { revision: r.revision, deleted: existed };
  }

  txn(txn: Txn): Promise<TxnResult> {
    if (this.closed) return Promise.reject(new StoreClosedError('store is closed'));
    if (this.failure) return Promise.reject(this.failure);
    const ok = txn.compare.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision);
    const ops = ok ? txn.success : (txn.failure ?? []);
    // Deletes of absent keys write nothing, as in etcd.
    let effective: Op[];
    try {
      effective = ops.filter((op) => op.type === 'put' || this.data.has(op.key)).map(ownOp);
    } catch (err) {
      return Promise.reject(err);
    }
    if (effective.length === 0) return Promise.resolve({ succeeded: ok, revision: this.rev });
    const revision = ++this.rev;
    const events = this.applyOps(revision, effective);
    return this.enqueue({ revision, ops: effective }, events).then(() => ({ succeeded: ok, revision }));
  }

  /**
   * Apply ops at a revision to the in-memory state; used by txn and by WAL
   * replay. The store keeps the op values as they are, so they must be its
   * own (fresh from ownOp or JSON.parse) and never mutated afterwards.
   */
  protected applyOps(revision: number, ops: Op[]): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (const op of ops) {
      const prev = this.data.get(op.key);
      if (op.type === 'put') {
        const kv: KeyValue = {
          key: op.key,
          value: op.value,
          createRevision: prev ? prev.createRevision : revision,
          modRevision: revision,
          version: prev ? prev.version + 1 : 1,
        };
        this.data.set(op.key, kv);
        events.push({ type: 'put', kv, prevKv: prev, revision });
      } else if (prev) {
        this.data.delete(op.key);
        events.push({
          type: 'delete',
          kv: { key: op.key, value: null, createRevision: 0, modRevision: revision, version: 0 },
          prevKv: prev,
          revision,
        });
      }
    }
    return events;
  }

  private enqueue(committed: CommittedTxn, events: WatchEvent[]): Promise<void> {
    if (!this.batch) {
      this.batch = { events: [], resolvers: [], rejecters: [] };
      this.batchTxns = [];
      const batch = this.batch;
      // One flush per tick: every txn queued before it runs shares one persist (group commit).
      this.flushing = this.flushing.then(() => new Promise<void>((r) => setImmediate(r))).then(() => this.flush(batch));
    }
    this.batch.events.push(...events);
    this.batchTxns.push(committed);
    return new Promise<void>((resolve, reject) => {
      this.batch!.resolvers.push(resolve);
      this.batch!.rejecters.push(reject);
    });
  }

  private async flush(batch: PendingBatch): Promise<void> {
    const txns = this.batchTxns;
    this.batch = null;
    this.batchTxns = [];
    try {
      if (this.failure) throw this.failure;
      await this.persist(txns);
    } catch (err) {
      this.failure ??= new StoreWriteFailedError(`store write failed, restart to recover: ${(err as Error).message}`);
      for (const rej of batch.rejecters) rej(this.failure);
      return;
    }
    this.persistedRev = txns[txns.length - 1].revision;
    this.recordHistory(batch.events);
    this.notify(batch.events);
    for (const res of batch.resolvers) res();
  }

  /** Make committed transactions durable. The in-memory store keeps nothing. */
  protected async persist(_txns: CommittedTxn[]): Promise<void> {}

  private recordHistory(events: WatchEvent[]): void {
    this.history.push(...events);
    if (this.history.length > this.historyLimit) {
      const drop = this.history.length - this.historyLimit;
      this.compactedRev = this.history[drop - 1].revision;
      // Keep whole revisions: drop any remaining events of the compacted revision.
      let i = drop;
      while (i < this.history.length && this.history[i].revision <= this.compactedRev) i++;
      this.history = this.history.slice(i);
    }
  }

  private notify(events: WatchEvent[]): void {
    for (const w of this.watchers) {
      const mine = events.filter((e) => e.revision >= w.from && e.kv.key.startsWith(w.prefix));
      if (mine.length === 0) continue;
      if (w.backlog) w.backlog.push(...mine);
      else this.deliver(w, mine);
    }
  }

  private deliver(w: WatchEntry, events: WatchEvent[]): void {
    try {
      w.handlers.onEvents(structuredClone(events));
    } catch {
      // A watcher that throws is its own problem; the store keeps serving others.
    }
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Watcher {
    if (this.closed) throw new StoreClosedError('store is closed');
    const durableRev = this.persistedRev;
    if (fromRevision > 0 && fromRevision <= this.compactedRev) {
      throw new CompactedError(`revision ${fromRevision} is compacted (oldest kept ${this.compactedRev + 1})`);
    }
    const entry: WatchEntry = { prefix, handlers, from: fromRevision > 0 ? fromRevision : durableRev + 1, backlog: null };
    if (fromRevision > 0) {
      const past = this.history.filter((e) => e.revision >= fromRevision && e.kv.key.startsWith(prefix));
      if (past.length > 0) {
        entry.backlog = past;
        queueMicrotask(() => {
          const backlog = entry.backlog!;
          entry.backlog = null;
          if (this.watchers.has(entry)) this.deliver(entry, backlog);
        });
      }
    }
    // Live events start after what history covered.
    entry.from = Math.max(entry.from, durableRev + 1);
    this.watchers.add(entry);
    return { cancel: () => void this.watchers.delete(entry) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Refuse new writes first, so the flush awaited below is the last one.
    this.closed = true;
    await this.flushing;
    for (const w of this.watchers) w.handlers.onError?.(new StoreClosedError('store closed'));
    this.watchers.clear();
  }
}

/** Copy an op's value through JSON, as etcd stores bytes: the store owns it and it survives the WAL unchanged. */
function ownOp(op: Op): Op {
  if (op.type === 'delete') return { type: 'delete', key: op.key };
  let json: string | undefined;
  try {
    json = JSON.stringify(op.value);
  } catch (err) {
    throw new InvalidArgumentError(`value of ${op.key} is not JSON: ${(err as Error).message}`);
  }
  if (json === undefined) throw new InvalidArgumentError(`value of ${op.key} is not JSON`);
  return { type: 'put', key: op.key, value: JSON.parse(json) };
}
