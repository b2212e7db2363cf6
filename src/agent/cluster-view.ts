import type { Logger } from 'pino';
import type { ManagerClient } from '../api/manager-client';
import type { ClusterObjects, WatchLine } from '../api/contract';
import { KEYS, type Network, type Node, type Service, type Task } from '../model/types';
import { errorFromCode } from '../errors';

/** Dependencies of a cluster view. */
export interface ClusterViewDeps {
  client: Pick<ManagerClient, 'watch'>;
  logger: Logger;
  /** netns: a task's address is its address on its first overlay network, for every reader (agent, mesh, DNS). */
  networkMode?: 'loopback' | 'netns';
}

/** Wait before re-opening a broken watch, doubling up to the max. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

/**
 * A node's copy of nodes, services and tasks, kept by one list+watch stream
 * from the manager (as kube-proxy watches EndpointSlices). The agent and the
 * mesh both read it; listeners run after every batch of changes.
 */
export class ClusterView implements ClusterObjects {
  nodes = new Map<string, Node>();
  services = new Map<string, Service>();
  tasks = new Map<string, Task>();
  /** Overlay networks (netns mode). */
  networks = new Map<string, Network>();
  /** Whether the first list arrived. */
  synced = false;
  private listeners: (() => void)[] = [];
  private abort: AbortController | null = null;
  private stopped = true;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ClusterViewDeps) {}

  /** Call fn after every change (and after each relist). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Start streaming; reconnects and relists until stopped. */
  run(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loopDone = this.loop();
  }

  /** Stop streaming; safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        await this.deps.client.watch([KEYS.nodes, KEYS.services, KEYS.tasks, KEYS.networks], (line) => {
          this.onLine(line);
          delay = RETRY_MIN_MS;
        }, this.abort.signal);
        if (!this.stopped) this.deps.logger.warn('watch stream ended; reconnecting');
      } catch (err) {
        if (!this.stopped) this.deps.logger.warn({ err: (err as Error).message }, 'watch failed; retrying');
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  private onLine(line: WatchLine): void {
    if (line.type === 'error') throw errorFromCode(line.code, `${line.code}: ${line.message}`);
    if (line.type === 'list') {
      this.nodes.clear();
      this.services.clear();
      this.tasks.clear();
      this.networks.clear();
      for (const kv of line.kvs) this.set(kv.key, kv.value);
      this.synced = true;
    } else {
      for (const e of line.events) {
        if (e.type === 'put') this.set(e.key, e.value);
        else this.remove(e.key);
      }
    }
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (err) {
        this.deps.logger.error({ err }, 'cluster view listener failed');
      }
    }
  }

  private mapFor(key: string): [Map<string, unknown>, string] | undefined {
    if (key.startsWith(KEYS.tasks)) return [this.tasks, key.slice(KEYS.tasks.length)];
    if (key.startsWith(KEYS.services)) return [this.services, key.slice(KEYS.services.length)];
    if (key.startsWith(KEYS.nodes)) return [this.nodes, key.slice(KEYS.nodes.length)];
    if (key.startsWith(KEYS.networks)) return [this.networks, key.slice(KEYS.networks.length)];
    return undefined;
  }

  private set(key: string, value: unknown): void {
    const m = this.mapFor(key);
    if (!m) return;
    if (m[0] === this.tasks && this.deps.networkMode === 'netns') {
      const task = value as Task;
      const overlay = task.networks?.[0]?.address;
      // Without an overlay address yet, the task is not startable nor routable: no address at all.
      value = { ...task, address: overlay ?? '' };
    }
    m[0].set(m[1], value);
  }

  private remove(key: string): void {
    const m = this.mapFor(key);
    if (m) m[0].delete(m[1]);
  }
}
