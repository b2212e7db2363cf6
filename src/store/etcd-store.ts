/**
 * The store contract on an etcd cluster, for managers that share their state
 * (issue 12). Revisions are etcd's; `revision()` is the newest one this client
 * has seen in a response or a watch. Every call is bounded by the request
 * timeout, so a lost quorum is a NoQuorumError, not a hang.
 */
import { CompareResult, CompareTarget, type ICompare, type IRangeResponse, type IRequestOp, type IResponseHeader, type KVClient, type Namespace } from 'etcd3';
import type { Registry } from 'prom-client';
import { NoQuorumError, StoreClosedError } from '../errors';
import { EtcdClient } from './etcd-client';
import { hostUrls, parseEtcdUrl, readCredentials, type EtcdTlsFiles } from './etcd-endpoints';
import { memberFailure, neverSent, storeError } from './etcd-errors';
import { memberBreaker, passThroughPolicy } from './etcd-fault-policy';
import { EtcdKeyspace, encodeValue } from './etcd-keyspace';
import { etcdMetrics, type EtcdMetrics } from './etcd-metrics';
import { EtcdWatch } from './etcd-watch';
import type { KeyValue, Op, Store, Txn, TxnResult, WatchHandlers, Watcher } from './store';

/** How to reach the etcd cluster and where in it this cluster's keys live. */
export interface EtcdStoreOptions {
  /** `etcd://h1:2379,h2:2379,h3:2379`. */
  url: string;
  /** Prepended to every key, ending in `/` [`/shoal/`]; clusters sharing an etcd each use their own. */
  keyPrefix?: string;
  /** TLS to the members; plain TCP without. */
  tls?: EtcdTlsFiles;
  /** Where the `shoal_store_etcd_*` metrics go; none without. */
  registry?: Registry;
  /** A call that has not succeeded by then fails with NoQuorumError [5 s]. */
  requestTimeoutMs?: number;
  /** A broken watch that no member re-creates for this long ends with onError [2 × requestTimeoutMs]. */
  watchResumeTimeoutMs?: number;
  now?: () => number;
}

const DEFAULT_KEY_PREFIX = '/shoal/';
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Keys per range request: a range of every task would otherwise be one message past gRPC's 4 MiB limit. */
const RANGE_PAGE_SIZE = 500;
/** Pause before a retry on another member; doubles per attempt. */
const RETRY_MIN_MS = 25;
const RETRY_MAX_MS = 500;
/** A member that failed this many calls in a row is skipped for MEMBER_SKIP_MS. */
const MEMBER_FAILURES_TO_SKIP = 2;
const MEMBER_SKIP_MS = 1_000;
const WATCH_BACKOFF_MIN_MS = 50;
const WATCH_BACKOFF_MAX_MS = 1_000;

type Call = 'range' | 'put' | 'delete' | 'txn';
/** gRPC call options (etcd3 re-exports no name for them). */
type CallOptions = NonNullable<Parameters<KVClient['range']>[1]>;

/** The etcd backend of the store contract. */
export class EtcdStore implements Store {
  private rev = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly watches = new Set<EtcdWatch>();
  private readonly requestTimeoutMs: number;
  private readonly watchResumeTimeoutMs: number;
  private readonly now: () => number;

  private constructor(
    private readonly client: EtcdClient,
    private readonly keyspace: EtcdKeyspace,
    private readonly metrics: EtcdMetrics | undefined,
    options: EtcdStoreOptions,
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.watchResumeTimeoutMs = options.watchResumeTimeoutMs ?? 2 * this.requestTimeoutMs;
    this.now = options.now ?? Date.now;
  }

  /** Connect and read the current revision; InvalidArgumentError for a bad address, NoQuorumError when etcd does not answer in time. */
  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    const endpoints = parseEtcdUrl(options.url);
    const keyspace = new EtcdKeyspace(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    const credentials = options.tls ? await readCredentials(options.tls) : undefined;
    const now = options.now ?? Date.now;
    const client = new EtcdClient({
      hosts: hostUrls(endpoints, credentials !== undefined),
      ...(credentials && { credentials }),
      faultHandling: {
        global: passThroughPolicy(),
        host: (host) => memberBreaker(host, { failuresToOpen: MEMBER_FAILURES_TO_SKIP, openMs: MEMBER_SKIP_MS, now }),
      },
    });
    const store = new EtcdStore(client, keyspace, options.registry && etcdMetrics(options.registry), options);
    try {
      // The revision the contract starts from; also proves a member answers.
      await store.call('range', 'range (revision)', true, (o) => client.kv.range({ ...keyspace.range(''), limit: 1, keys_only: true }, o));
    } catch (err) {
      client.close();
      // Say which etcd: the member-level reason alone does not tell an operator what was asked for.
      if (err instanceof NoQuorumError) throw new NoQuorumError(`cannot reach the etcd at ${options.url}: ${err.message}`);
      throw err;
    }
    return store;
  }

  revision(): number {
    return this.rev;
  }

  /** The etcd keys under this cluster's prefix for its own coordination (the managers' leader election), outside the store's keys. */
  coordination(): Namespace {
    return this.client.namespace(`${this.keyspace.prefix}_coordination/`);
  }

  async get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    const res = await this.call('range', `get ${key}`, true, (o) => this.client.kv.range({ key: this.keyspace.key(key) }, o));
    return res.kvs.length > 0 ? this.keyspace.decode<T>(res.kvs[0]) : undefined;
  }

  async range<T = unknown>(prefix: string): Promise<{ kvs: KeyValue<T>[]; revision: number }> {
    const { key, range_end } = this.keyspace.range(prefix);
    const kvs: KeyValue<T>[] = [];
    let revision: number | undefined;
    let from = key;
    for (;;) {
      // Later pages read at the first page's revision, so the whole range is one snapshot.
      const page: IRangeResponse = await this.call('range', `range ${prefix}`, true, (o) =>
        this.client.kv.range({ key: from, range_end, limit: RANGE_PAGE_SIZE, ...(revision !== undefined && { revision }) }, o),
      );
      revision ??= Number(page.header.revision);
      for (const kv of page.kvs) kvs.push(this.keyspace.decode<T>(kv));
      if (!page.more || page.kvs.length === 0) break;
      from = Buffer.concat([page.kvs[page.kvs.length - 1].key, Buffer.from([0])]);
    }
    return { kvs, revision };
  }

  async put(key: string, value: unknown): Promise<{ revision: number }> {
    const req = { key: this.keyspace.key(key), value: encodeValue(key, value) };
    const res = await this.call('put', `put ${key}`, false, (o) => this.client.kv.put(req, o));
    return { revision: Number(res.header.revision) };
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    const res = await this.call('delete', `delete ${key}`, false, (o) => this.client.kv.deleteRange({ key: this.keyspace.key(key) }, o));
    return { revision: Number(res.header.revision), deleted: Number(res.deleted) > 0 };
  }

  async txn(txn: Txn): Promise<TxnResult> {
    const compare: ICompare[] = txn.compare.map((c) => ({
      key: this.keyspace.key(c.key),
      target: CompareTarget.Mod,
      result: CompareResult.Equal,
      // etcd compares an absent key's mod revision as 0, as the contract does.
      mod_revision: c.modRevision,
    }));
    const req = { compare, success: this.requestOps(txn.success), failure: this.requestOps(txn.failure ?? []) };
    const res = await this.call('txn', `txn on ${describeTxn(txn)}`, false, (o) => this.client.kv.txn(req, o));
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Watcher {
    if (this.closed) throw new StoreClosedError('store is closed');
    // "Live only" starts after the newest revision this client has seen, so nothing written after the call is missed.
    const from = fromRevision > 0 ? fromRevision : this.rev + 1;
    const watch = new EtcdWatch(
      {
        openStream: () => this.client.openWatchStream(),
        keyspace: this.keyspace,
        observe: (revision) => this.observe(revision),
        restarted: () => this.metrics?.watchRestarts.inc(),
        now: this.now,
      },
      { resumeTimeoutMs: this.watchResumeTimeoutMs, minBackoffMs: WATCH_BACKOFF_MIN_MS, maxBackoffMs: WATCH_BACKOFF_MAX_MS },
      prefix,
      from,
      {
        onEvents: handlers.onEvents,
        onError: (err) => {
          this.watches.delete(watch);
          handlers.onError?.(err);
        },
      },
    );
    this.watches.add(watch);
    watch.start();
    return {
      cancel: () => {
        this.watches.delete(watch);
        watch.cancel();
      },
    };
  }

  /** Wait for calls in flight, end every watch with StoreClosedError and close the client; safe twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.inflight]);
      for (const w of [...this.watches]) w.fail(new StoreClosedError('store closed'));
      this.watches.clear();
      this.client.close();
    })();
    return this.closing;
  }

  private requestOps(ops: Op[]): IRequestOp[] {
    return ops.map((op) =>
      op.type === 'put'
        ? { request_put: { key: this.keyspace.key(op.key), value: encodeValue(op.key, op.value) } }
        : { request_delete_range: { key: this.keyspace.key(op.key) } },
    );
  }

  /**
   * One etcd call under the request timeout. A read is retried on any member
   * failure; a write only when it certainly never reached a member, because a
   * write whose answer was lost may have committed, and sending it again
   * would apply it twice.
   */
  private call<R extends { header: IResponseHeader }>(op: Call, what: string, idempotent: boolean, fn: (options: CallOptions) => Promise<R>): Promise<R> {
    if (this.closed) return Promise.reject(new StoreClosedError(`store is closed (${what})`));
    const run = (async () => {
      const deadline = this.now() + this.requestTimeoutMs;
      const stopTimer = this.metrics?.requestDuration.startTimer({ op });
      let pause = RETRY_MIN_MS;
      for (;;) {
        try {
          // gRPC deadlines are wall-clock times; `now` may be a test's clock.
          const res = await fn({ deadline: Date.now() + (deadline - this.now()) });
          this.observe(Number(res.header.revision));
          stopTimer?.({ result: 'ok' });
          return res;
        } catch (err) {
          const retry = (idempotent ? memberFailure(err) : neverSent(err)) && this.now() + pause < deadline;
          if (!retry) {
            stopTimer?.({ result: 'error' });
            throw storeError(err, what);
          }
          await new Promise((r) => setTimeout(r, pause));
          pause = Math.min(pause * 2, RETRY_MAX_MS);
        }
      }
    })();
    this.inflight.add(run);
    void run.catch(() => undefined).finally(() => this.inflight.delete(run));
    return run;
  }

  private observe(revision: number): void {
    if (revision > this.rev) this.rev = revision;
  }
}

/** The keys a transaction touches, for error messages. */
function describeTxn(txn: Txn): string {
  const keys = new Set([...txn.compare.map((c) => c.key), ...txn.success.map((o) => o.key), ...(txn.failure ?? []).map((o) => o.key)]);
  return [...keys].slice(0, 3).join(', ') + (keys.size > 3 ? ', ...' : '');
}
