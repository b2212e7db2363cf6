/**
 * One store watch on etcd: a Watch stream of its own, resumed from the first
 * revision not yet delivered whenever it breaks, and ended with onError (never
 * left quiet) when etcd compacted that revision, canceled the watch, or no
 * member took it back within the resume timeout.
 */
import type { IWatchResponse } from 'etcd3';
import { CompactedError, NoQuorumError, StoreRequestFailedError } from '../errors';
import { systemTimers, type TimerHandle, type Timers } from '../model/clock';
import type { OpenedWatchStream, WatchStream } from './etcd-client';
import type { EtcdKeyspace } from './etcd-keyspace';
import type { WatchHandlers, Watcher } from './store';

/** What one watch needs from its store. */
export interface EtcdWatchDeps {
  openStream(): Promise<OpenedWatchStream>;
  keyspace: EtcdKeyspace;
  /** Called with every response header's revision (the store's revision() follows it). */
  observe(revision: number): void;
  /** Counts a reopened stream. */
  restarted(): void;
  now(): number;
  /** The reopen pauses run on these (the system's by default; a test hands in a fake clock). */
  timers?: Timers;
}

/** How a broken watch comes back. */
export interface EtcdWatchOptions {
  /** Give up (onError with NoQuorumError) when no stream was re-created for this long. */
  resumeTimeoutMs: number;
  /** First pause before reopening; doubles per failed attempt up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
}

/** A watch of the keys under `prefix` from revision `from` on, delivering to `handlers`. */
export class EtcdWatch implements Watcher {
  private current: OpenedWatchStream | undefined;
  private ended = false;
  /** When the stream broke, if it is not re-created yet. */
  private brokenSince: number | undefined;
  private backoffMs: number;
  private retryTimer: TimerHandle | undefined;

  private get timers(): Timers {
    return this.deps.timers ?? systemTimers;
  }

  /** `next` is the first revision not delivered yet; it only moves forward. */
  constructor(
    private readonly deps: EtcdWatchDeps,
    private readonly options: EtcdWatchOptions,
    private readonly prefix: string,
    private next: number,
    private readonly handlers: WatchHandlers,
  ) {
    this.backoffMs = options.minBackoffMs;
  }

  /** Open the first stream. */
  start(): void {
    void this.connect();
  }

  cancel(): void {
    this.ended = true;
    this.stop();
  }

  /** End the watch with an error for its owner, as the memory store does on close. */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    try {
      this.handlers.onError?.(err);
    } catch {
      // A watcher that throws is its own problem.
    }
  }

  private stop(): void {
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const current = this.current;
    this.current = undefined;
    current?.stream.cancel();
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    let opened: OpenedWatchStream;
    try {
      opened = await this.deps.openStream();
    } catch (err) {
      this.broken(err as Error);
      return;
    }
    if (this.ended) {
      opened.stream.cancel();
      return;
    }
    this.current = opened;
    const { stream } = opened;
    stream.on('data', (res) => this.onResponse(stream, res));
    stream.on('error', (err) => this.onStreamEnd(stream, err));
    stream.on('end', () => this.onStreamEnd(stream, undefined));
    const range = this.deps.keyspace.range(this.prefix);
    stream.write({ create_request: { ...range, start_revision: this.next, prev_kv: true, progress_notify: true } });
  }

  private onResponse(stream: WatchStream, res: IWatchResponse): void {
    if (this.ended || this.current?.stream !== stream) return;
    const headerRevision = Number(res.header.revision);
    this.deps.observe(headerRevision);
    const compactRevision = Number(res.compact_revision);
    if (compactRevision > 0) {
      this.fail(new CompactedError(`revision ${this.next} is compacted (oldest kept ${compactRevision})`));
      return;
    }
    if (res.canceled) {
      this.fail(new StoreRequestFailedError(`etcd canceled the watch of ${this.prefix}: ${res.cancel_reason || 'no reason given'}`));
      return;
    }
    if (res.created) {
      this.brokenSince = undefined;
      this.backoffMs = this.options.minBackoffMs;
      return;
    }
    if (res.events.length === 0) {
      // A progress notification: etcd sends it only to a watcher that has caught up, so nothing at or below it is pending.
      this.next = Math.max(this.next, headerRevision + 1);
      return;
    }
    const events = res.events.map((e) => this.deps.keyspace.event(e)).filter((e) => e.revision >= this.next);
    if (events.length === 0) return;
    // etcd never splits one revision's events across responses, so everything up to the last one is delivered.
    this.next = events[events.length - 1].revision + 1;
    try {
      this.handlers.onEvents(events);
    } catch {
      // A watcher that throws is its own problem; the stream keeps serving.
    }
  }

  private onStreamEnd(stream: WatchStream, err: Error | undefined): void {
    if (this.ended || this.current?.stream !== stream) return;
    const opened = this.current;
    this.current = undefined;
    stream.cancel();
    if (err) opened.memberFailed(err);
    this.broken(err);
  }

  private broken(err: Error | undefined): void {
    if (this.ended) return;
    const now = this.deps.now();
    this.brokenSince ??= now;
    const why = err?.message ?? 'the stream ended';
    if (now - this.brokenSince >= this.options.resumeTimeoutMs) {
      this.fail(new NoQuorumError(`the watch of ${this.prefix} broke and no etcd member resumed it from revision ${this.next}: ${why}`));
      return;
    }
    this.deps.restarted();
    this.retryTimer = this.timers.setTimeout(() => void this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
  }
}
