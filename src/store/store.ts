/**
 * The etcd-shaped store every manager part writes through: a single revision
 * counter, get/range/put/delete, compare-and-swap transactions and prefix
 * watches from a revision. Values are JSON-serialisable objects.
 */

/** One key with its value and etcd-style revisions. */
export interface KeyValue<T = unknown> {
  key: string;
  value: T;
  /** Revision of the transaction that created the key. */
  createRevision: number;
  /** Revision of the last transaction that changed the key. */
  modRevision: number;
  /** Number of changes since creation, 1 on create. */
  version: number;
}

/** A change seen by a watcher. */
export interface WatchEvent<T = unknown> {
  type: 'put' | 'delete';
  kv: KeyValue<T>;
  /** The key before this change, when it existed. */
  prevKv?: KeyValue<T>;
  /** Revision of the transaction; several events can share one. */
  revision: number;
}

/** A write inside a transaction. */
export type Op = { type: 'put'; key: string; value: unknown } | { type: 'delete'; key: string };

/**
 * A guard of a transaction. `modRevision: 0` means "the key must not exist",
 * as etcd's `mod_revision = 0` compare does.
 */
export interface Compare {
  key: string;
  modRevision: number;
}

/** A compare-and-swap transaction: all compares hold, then all of success apply atomically. */
export interface Txn {
  compare: Compare[];
  success: Op[];
  failure?: Op[];
}

/** Result of a transaction. */
export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (unchanged if nothing was written). */
  revision: number;
}

/** Handle on an open watch. */
export interface Watcher {
  cancel(): void;
}

/** Receives watch events in revision order, then maybe an error (compaction, close). */
export interface WatchHandlers {
  onEvents(events: WatchEvent[]): void;
  onError?(err: Error): void;
}

/** The store contract; the embedded WAL backend and the etcd backend both implement it. */
export interface Store {
  /** Current revision (0 for an empty store). */
  revision(): number;
  get<T = unknown>(key: string): Promise<KeyValue<T> | undefined>;
  /** All keys starting with prefix, in key order, and the revision they were read at. */
  range<T = unknown>(prefix: string): Promise<{ kvs: KeyValue<T>[]; revision: number }>;
  put(key: string, value: unknown): Promise<{ revision: number }>;
  delete(key: string): Promise<{ revision: number; deleted: boolean }>;
  txn(txn: Txn): Promise<TxnResult>;
  /**
   * Events for keys under prefix with revision >= fromRevision (history first,
   * then live); fromRevision 0 means changes committed after the call only.
   * When fromRevision is older than the history kept, the watch throws
   * CompactedError, or (a remote backend, which learns it from its server)
   * ends with onError(CompactedError) before any event; the caller then
   * ranges again. A watch that cannot go on without missing events (the
   * store closed, etcd lost) also ends with onError, never silently.
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Watcher;
  close(): Promise<void>;
}
