import { CompactedError, ShoalError } from '../errors';
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
    if (this.closed) return Promise.reject(new ShoalError('store is closed'));
    const ok = txn.compare.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision);
    const ops = ok ? txn.success : (txn.failure ?? []);
    // Deletes of absent keys write nothing, as in etcd.
    const effective = ops.filter((op) => op.type === 'put' || this.data.has(op.key));
    if (effective.length === 0) return Promise.resolve({ succeeded: ok, revision: this.rev });
    for (const op of effective) if (op.type === 'put') JSON.stringify(op.value); // reject non-JSON before applying
    const revision = ++this.rev;
    const events = this.applyOps(revision, effective);
    return this.enqueue({ revision, ops: effective }, events).then(() => ({ succeeded: ok, revision }));
  }

  /** Apply ops at a revision to the in-memory state; used by txn and by WAL replay. */
  protected applyOps(revision: number, ops: Op[]): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (const op of ops) {
      const prev = this.data.get(op.key);
      if (op.type === 'put') {
        const kv: KeyValue = {
          key: op.key,
          value: structuredClone(op.value),
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
      await this.persist(txns);
    } catch (err) {
      for (const rej of batch.rejecters) rej(err as Error);
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
      if (mine.length > 0) this.deliver(w, mine);
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
    if (this.closed) throw new ShoalError('store is closed');
    const durableRev = this.persistedRev;
    if (fromRevision > 0 && fromRevision <= this.compactedRev) {
      throw new CompactedError(`revision ${fromRevision} is compacted (oldest kept ${this.compactedRev + 1})`);
    }
    const entry: WatchEntry = { prefix, handlers, from: fromRevision > 0 ? fromRevision : durableRev + 1 };
    if (fromRevision > 0) {
      const past = this.history.filter((e) => e.revision >= fromRevision && e.kv.key.startsWith(prefix));
      if (past.length > 0) queueMicrotask(() => this.watchers.has(entry) && this.deliver(entry, past));
    }
    // Live events start after what history covered.
    entry.from = Math.max(entry.from, durableRev + 1);
    this.watchers.add(entry);
    return { cancel: () => void this.watchers.delete(entry) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushing;
    this.closed = true;
    for (const w of this.watchers) w.handlers.onError?.(new ShoalError('store closed'));
    this.watchers.clear();
  }
}
