/**
 * The visualizer's live picture on a manager: it lists nodes, services and
 * tasks from the store, follows their watch, and after a burst of changes
 * (debounced) hands every subscribed page a fresh snapshot, serialised once.
 * It watches only while some page is open.
 */
import type { Logger } from 'pino';
import { KEYS, type Node, type Service, type Task } from '../model/types';
import type { Store, WatchEvent, Watcher } from '../store/store';
import { buildSnapshot } from './view-model';

/** Changes closer together than this make one snapshot. */
export const SNAPSHOT_DEBOUNCE_MS = 100;
/** Wait before listing again after the watch ended (compaction, lost quorum). */
export const RELIST_DELAY_MS = 1_000;

/** What the feed reads. */
export interface VisualizerFeedDeps {
  store: Store;
  logger: Logger;
}

/** Timings of the feed. */
export interface VisualizerFeedOptions {
  debounceMs?: number;
  relistDelayMs?: number;
}

/** A page following the feed. */
export interface FeedSubscriber {
  /** A snapshot as JSON, the first one as soon as the feed has listed, then one per change. */
  snapshot(json: string): void;
  /** The feed stopped (the node stopped being a manager): the page should look again later. */
  end(): void;
}

const PREFIXES = [KEYS.nodes, KEYS.services, KEYS.tasks] as const;
type Prefix = (typeof PREFIXES)[number];

/** The store's nodes, services and tasks as seen by one feed, with live updates for its subscribers. */
export class VisualizerFeed {
  private readonly subscribers = new Set<FeedSubscriber>();
  private readonly objects = new Map<Prefix, Map<string, unknown>>(PREFIXES.map((p) => [p, new Map()]));
  private watchers: Watcher[] = [];
  /** Bumped on every (re)start and stop, so a list that finishes late is ignored. */
  private generation = 0;
  private listed = false;
  private last: string | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly debounceMs: number;
  private readonly relistDelayMs: number;

  constructor(
    private readonly deps: VisualizerFeedDeps,
    options: VisualizerFeedOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? SNAPSHOT_DEBOUNCE_MS;
    this.relistDelayMs = options.relistDelayMs ?? RELIST_DELAY_MS;
  }

  /** Follow the feed; returns the unsubscribe function. A stopped feed ends the subscriber at once. */
  subscribe(subscriber: FeedSubscriber): () => void {
    if (this.stopped) {
      subscriber.end();
      return () => undefined;
    }
    this.subscribers.add(subscriber);
    if (this.subscribers.size === 1) this.start();
    else if (this.last !== undefined) subscriber.snapshot(this.last);
    return () => {
      if (!this.subscribers.delete(subscriber)) return;
      if (this.subscribers.size === 0) this.halt();
    };
  }

  /** Pages following now. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** End every subscriber and stop watching; safe twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.halt();
    const ending = [...this.subscribers];
    this.subscribers.clear();
    for (const s of ending) s.end();
  }

  private start(): void {
    const generation = ++this.generation;
    void this.list(generation).catch((err: unknown) => this.watchEnded(generation, err as Error));
  }

  /** List the three prefixes, then watch each from the revision its list was read at. */
  private async list(generation: number): Promise<void> {
    const { store } = this.deps;
    const lists = await Promise.all(PREFIXES.map((p) => store.range(p)));
    if (generation !== this.generation) return;
    PREFIXES.forEach((p, i) => {
      const map = this.objects.get(p)!;
      map.clear();
      for (const kv of lists[i].kvs) map.set(kv.key, kv.value);
    });
    this.listed = true;
    const onError = (err: Error) => this.watchEnded(generation, err);
    PREFIXES.forEach((p, i) => {
      const onEvents = (events: WatchEvent[]) => this.apply(generation, p, events);
      this.watchers.push(store.watch(p, lists[i].revision + 1, { onEvents, onError }));
    });
    this.flush();
  }

  private apply(generation: number, prefix: Prefix, events: WatchEvent[]): void {
    if (generation !== this.generation) return;
    const map = this.objects.get(prefix)!;
    for (const e of events) {
      if (e.type === 'delete') map.delete(e.kv.key);
      else map.set(e.kv.key, e.kv.value);
    }
    this.flushTimer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  /** Send the picture as it is now, unless it is the one the pages already have. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.listed) return;
    const json = JSON.stringify(
      buildSnapshot(
        this.objects.get(KEYS.nodes)!.values() as Iterable<Node>,
        this.objects.get(KEYS.services)!.values() as Iterable<Service>,
        this.objects.get(KEYS.tasks)!.values() as Iterable<Task>,
      ),
    );
    if (json === this.last) return;
    this.last = json;
    for (const s of this.subscribers) s.snapshot(json);
  }

  /** The list failed or a watch ended: drop the watch and list again shortly, if pages still follow. */
  private watchEnded(generation: number, err: Error): void {
    if (generation !== this.generation || this.stopped) return;
    this.deps.logger.warn({ err }, 'visualizer watch ended; listing again');
    this.halt();
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      if (this.subscribers.size > 0 && !this.stopped) this.start();
    }, this.relistDelayMs);
  }

  /** Stop watching and forget what was seen (the next page lists again). */
  private halt(): void {
    this.generation++;
    for (const w of this.watchers) w.cancel();
    this.watchers = [];
    clearTimeout(this.flushTimer);
    clearTimeout(this.relistTimer);
    this.flushTimer = this.relistTimer = undefined;
    this.listed = false;
    this.last = undefined;
    for (const m of this.objects.values()) m.clear();
  }
}
