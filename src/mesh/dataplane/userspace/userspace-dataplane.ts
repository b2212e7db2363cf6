import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApplyResult, Dataplane, Frontend, LbTable } from '../../table/table';
import { describeBindError } from './frontend-listener';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import { loadNative } from '../../../native/native';
import { frontendMetrics, meshMetrics } from './mesh-metrics';
import type { FrontendMetrics, MeshMetrics } from './mesh-metrics';
import { NativeTcpFrontend } from './native-tcp-frontend';
import { NativeTcpRelay } from './native-tcp-relay';
import { DEFAULT_RELAY_THREADS } from './relay-threads';
import { TcpFrontend } from './tcp-frontend';
import { UdpFrontend } from './udp-frontend';

/** Side effects the userspace dataplane needs. */
export interface UserspaceDataplaneDeps {
  logger: Logger;
  registry: Registry;
  /** Monotonic clock in milliseconds, for UDP flow idleness; defaults to performance.now. */
  now?: () => number;
}

/** Tuning of the userspace dataplane. */
export interface UserspaceDataplaneOptions {
  /** A UDP flow with no datagram either way for this long is forgotten. */
  udpIdleTimeoutMs?: number;
  /** How long a TCP connect to a backend may take before the next backend is tried. */
  connectTimeoutMs?: number;
  /** How often each UDP frontend looks for idle flows. */
  udpSweepIntervalMs?: number;
  /**
   * Client bytes a TCP connection holds until its backend sends the first
   * byte back, to replay them to another backend if that one dies first.
   * A client that sends more is committed to its backend.
   */
  replayBufferBytes?: number;
  /** Per TCP frontend, connections whose first backend connect is under way; more are turned away at once. */
  maxPendingConnections?: number;
  /** How often TCP connections are checked against their frontend's idle timeout (lb.idleTimeoutMs). */
  idleSweepIntervalMs?: number;
  /**
   * Threads of the native TCP relay (the addon's epoll threads; default 1).
   * Without the addon, and for UDP, the main thread carries the traffic.
   */
  threads?: number;
}

/** What one frontend is doing right now, for debugging endpoints and tests. */
export interface UserspaceFrontendStatus {
  id: string;
  /** Changes only when the frontend was bound again. */
  listenerId: number;
  backends: string[];
  /** Open TCP connections or live UDP flows. */
  active: number;
}

/** Default UDP flow idle timeout, as conntrack's unreplied/replied UDP timeouts. */
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 30_000;
/** Default TCP backend connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default period of the UDP idle-flow sweep. */
export const DEFAULT_UDP_SWEEP_INTERVAL_MS = 1_000;
/** Default replay buffer: room for a request's headers and a small body, bounded per connection. */
export const DEFAULT_REPLAY_BUFFER_BYTES = 64 * 1024;
/** Default bound on connects under way per TCP frontend: a flood of clients cannot pile up backend sockets. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 1024;
/** Default period of the TCP idle-connection sweep (only frontends with an idle timeout do anything). */
export const DEFAULT_IDLE_SWEEP_INTERVAL_MS = 1_000;

interface Entry {
  frontend: Frontend;
  listener: FrontendListener;
}

/**
 * The dataplane that always works: Node sockets on every frontend address,
 * forwarding TCP connections and UDP flows to backends round-robin. apply()
 * diffs the table against what is bound, so backend changes never re-bind a
 * frontend and never cut a connection.
 */
export class UserspaceDataplane implements Dataplane {
  readonly name = 'userspace' as const;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly metrics: MeshMetrics;
  private readonly udpIdleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly udpSweepIntervalMs: number;
  private readonly replayBufferBytes: number;
  private readonly maxPendingConnections: number;
  private readonly idleSweepIntervalMs: number;
  private readonly threads: number;
  private readonly registry: Registry;
  /** The addon's TCP relay, started with the first TCP frontend; null when the addon is not loaded (JS sessions then). */
  private relay: NativeTcpRelay | null | undefined;
  private readonly entries = new Map<string, Entry>();
  /** Every TCP socket still open, including those of frontends already removed. */
  private readonly sockets = new Set<Socket>();
  private readonly listenerDeps: FrontendListenerDeps;
  /** Metric handles per `protocol/service`. */
  private readonly metricHandles = new Map<string, FrontendMetrics>();
  private lastListenerId = 0;
  /** Tail of the apply/close chain: each call starts once the previous one settled. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(deps: UserspaceDataplaneDeps, options: UserspaceDataplaneOptions = {}) {
    // The caller names the component; this only says which dataplane it is.
    this.log = deps.logger.child({ dataplane: 'userspace' });
    this.now = deps.now ?? (() => performance.now());
    this.metrics = meshMetrics(deps.registry);
    this.udpIdleTimeoutMs = options.udpIdleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.udpSweepIntervalMs = options.udpSweepIntervalMs ?? DEFAULT_UDP_SWEEP_INTERVAL_MS;
    this.replayBufferBytes = options.replayBufferBytes ?? DEFAULT_REPLAY_BUFFER_BYTES;
    this.maxPendingConnections = options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS;
    this.idleSweepIntervalMs = options.idleSweepIntervalMs ?? DEFAULT_IDLE_SWEEP_INTERVAL_MS;
    this.threads = options.threads ?? DEFAULT_RELAY_THREADS;
    this.registry = deps.registry;
    const handles = this.metricHandles;
    this.listenerDeps = {
      logger: this.log,
      now: this.now,
      metricsFor: (service, protocol) => {
        const key = `${protocol}/${service}`;
        let m = handles.get(key);
        if (!m) handles.set(key, (m = frontendMetrics(this.metrics, service, protocol)));
        return m;
      },
    };
  }

  apply(table: LbTable): Promise<ApplyResult> {
    return this.serialize(() => this.reconcile(table));
  }

  close(): Promise<void> {
    return this.serialize(async () => this.shutdown());
  }

  /** Run the idle sweep (TCP connections, UDP flows) of every frontend now, as its timer would; for tests driving a fake clock. */
  sweepIdle(): void {
    for (const { listener } of this.entries.values()) listener.sweepIdle?.();
  }

  /** What each bound frontend is doing. */
  frontends(): UserspaceFrontendStatus[] {
    return [...this.entries.values()].map(({ frontend, listener }) => ({
      id: frontend.id,
      listenerId: listener.listenerId,
      backends: frontend.backends.map((b) => b.id),
      active: listener.activeCount,
    }));
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcile(table: LbTable): Promise<ApplyResult> {
    const failed: ApplyResult['failed'] = [];
    if (this.closed) {
      return { failed: table.frontends.map((f) => ({ frontendId: f.id, error: 'dataplane is closed' })) };
    }
    const desired = new Map<string, Frontend>();
    for (const f of table.frontends) {
      const problem = desired.has(f.id) ? 'duplicate frontend id in table' : invalidFrontend(f);
      if (problem) failed.push({ frontendId: f.id, error: problem });
      else desired.set(f.id, f);
    }

    // Close first: a frontend may be replaced by another on the same socket address.
    for (const [id, entry] of this.entries) {
      const want = desired.get(id);
      if (want && sameSocketAddress(want, entry.frontend)) continue;
      entry.listener.close();
      this.entries.delete(id);
      this.log.info({ frontend: id }, 'frontend closed');
    }

    const opening: Promise<void>[] = [];
    for (const f of desired.values()) {
      const entry = this.entries.get(f.id);
      if (entry) {
        entry.listener.update(f);
        entry.frontend = f;
      } else {
        opening.push(
          this.open(f).catch((err: unknown) => {
            const error = `cannot listen on ${f.protocol} ${f.address}:${f.port}: ${describeBindError(err)}`;
            this.log.warn({ frontend: f.id, err }, error);
            failed.push({ frontendId: f.id, error });
          }),
        );
      }
    }
    await Promise.all(opening);
    this.forgetGoneBackends(table);
    return { failed };
  }

  /** Per-backend metric series live as long as their backend is in the table (or still has traffic). */
  private forgetGoneBackends(table: LbTable): void {
    const keep = new Map<string, Set<string>>();
    for (const f of table.frontends) {
      const key = `${f.protocol}/${f.service}`;
      const ids = keep.get(key) ?? new Set<string>();
      for (const b of f.backends) ids.add(b.id);
      keep.set(key, ids);
    }
    for (const [key, handle] of this.metricHandles) handle.forgetBackendsExcept(keep.get(key) ?? new Set());
  }

  /** The native TCP relay, started on first use; null without the addon. */
  private nativeRelay(): NativeTcpRelay | null {
    if (this.relay !== undefined) return this.relay;
    const addon = loadNative();
    this.relay = addon
      ? new NativeTcpRelay(
          addon,
          this.registry,
          {
            threads: this.threads,
            connectTimeoutMs: this.connectTimeoutMs,
            replayBufferBytes: this.replayBufferBytes,
            maxPendingConnections: this.maxPendingConnections,
            idleSweepIntervalMs: this.idleSweepIntervalMs,
          },
          this.now,
        )
      : null;
    this.log.info({ tcp: this.relay ? `native relay, ${this.threads} thread(s)` : 'node sockets' }, 'tcp relay chosen');
    return this.relay;
  }

  private async open(frontend: Frontend): Promise<void> {
    const listenerId = ++this.lastListenerId;
    const relay = frontend.protocol === 'tcp' ? this.nativeRelay() : null;
    const listener = relay
      ? new NativeTcpFrontend(frontend, this.listenerDeps, relay, listenerId)
      : frontend.protocol === 'tcp'
        ? new TcpFrontend(frontend, this.listenerDeps, {
            connectTimeoutMs: this.connectTimeoutMs,
            replayBufferBytes: this.replayBufferBytes,
            maxPendingConnections: this.maxPendingConnections,
            idleSweepIntervalMs: this.idleSweepIntervalMs,
            listenerId,
            sockets: this.sockets,
          })
        : new UdpFrontend(frontend, this.listenerDeps, {
            idleTimeoutMs: this.udpIdleTimeoutMs,
            sweepIntervalMs: this.udpSweepIntervalMs,
            listenerId,
          });
    await listener.listen();
    this.entries.set(frontend.id, { frontend, listener });
    this.log.info({ frontend: frontend.id, backends: frontend.backends.length }, 'frontend listening');
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { listener } of this.entries.values()) listener.close();
    this.entries.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.relay?.close();
    this.log.info('userspace dataplane closed');
  }
}

function sameSocketAddress(a: Frontend, b: Frontend): boolean {
  return a.protocol === b.protocol && a.address === b.address && a.port === b.port;
}

function invalidFrontend(f: Frontend): string | undefined {
  if (f.protocol !== 'tcp' && f.protocol !== 'udp') return `unknown protocol ${String(f.protocol)}`;
  if (!Number.isInteger(f.port) || f.port < 1 || f.port > 65_535) return `invalid port ${f.port}`;
  if (!f.address) return 'no address';
  return undefined;
}
