import type { Registry } from 'prom-client';
import type { LbPolicy } from '../../../model/types';
import type {
  NativeAddon,
  NativeTcpBackend,
  NativeTcpRelayHandle,
  NativeTcpRelayOptions,
  NativeTcpSettings,
} from '../../../native/native';
import type { Frontend } from '../../table/table';
import { DEFAULT_AFFINITY_TIMEOUT_MS } from './balancer';
import { beforeMeshCollect } from './mesh-metrics';
import type { FrontendMetrics } from './mesh-metrics';
import { backendKey } from './round-robin';

/** Numbers per frontend row of the relay's stats (native.ts NativeTcpRelayStats). */
const FRONTEND_FIELDS = 11;
/** Numbers per backend row. */
const BACKEND_FIELDS = 5;
/** How often counters move from the relay into the metrics between scrapes, so nothing piles up. */
const DRAIN_INTERVAL_MS = 1_000;

const POLICY_NUMBER: Record<LbPolicy, number> = { 'round-robin': 0, 'least-connections': 1, 'source-hash': 2 };

/** One frontend's metric handle and the relay's counters as last seen, to add only what moved. */
interface Tracked {
  metrics: FrontendMetrics;
  /** The last frontend row (without the key). */
  last: number[];
  /** Per backend key: backend id and last active, opened, connect errors. */
  backends: Map<number, { id: string; active: number; opened: number; connectErrors: number }>;
}

/**
 * The addon's TCP relay as the userspace dataplane uses it: frontends by
 * listener id, backend keys as numbers, and the relay's counters carried into
 * the mesh metrics (on every collect, and once a second so they never pile
 * up). The connection rules are TcpSession's; the relay runs them in C++ on
 * its own threads (native/src/tcp_relay.cc).
 */
export class NativeTcpRelay {
  private readonly relay: NativeTcpRelayHandle;
  private readonly backendNumbers = new Map<string, number>();
  private lastBackendNumber = 0;
  private readonly tracked = new Map<number, Tracked>();
  private readonly drainTimer: NodeJS.Timeout;
  private readonly unhook: () => void;
  /** The dataplane's clock and the relay's when the relay started: sweepIdle maps one onto the other. */
  private readonly clockStart: { injected: number; relay: number };
  /** Frontends listening now: like listening net.Servers, they keep the process alive. */
  private readonly listening = new Set<number>();
  private closed = false;

  constructor(
    addon: NativeAddon,
    registry: Registry,
    options: NativeTcpRelayOptions,
    private readonly now: () => number,
  ) {
    this.relay = new addon.TcpRelay(options);
    this.clockStart = { injected: now(), relay: this.relay.clock() };
    this.unhook = beforeMeshCollect(registry, () => this.drain());
    this.drainTimer = setInterval(() => this.drain(), DRAIN_INTERVAL_MS);
    this.drainTimer.unref();
  }

  /** Configure and bind frontend `key`; throws the bind error (EADDRINUSE...). */
  open(key: number, frontend: Frontend, metrics: FrontendMetrics): void {
    this.configure(key, frontend, metrics);
    try {
      this.relay.listen(key, frontend.address, frontend.port);
    } catch (err) {
      this.relay.unlisten(key);
      throw err;
    }
    this.listening.add(key);
    this.drainTimer.ref();
  }

  /** New backends or settings for `key`, without re-binding. */
  configure(key: number, frontend: Frontend, metrics: FrontendMetrics): void {
    let tracked = this.tracked.get(key);
    if (tracked) tracked.metrics = metrics;
    else this.tracked.set(key, (tracked = { metrics, last: new Array<number>(FRONTEND_FIELDS - 1).fill(0), backends: new Map() }));
    const backends = frontend.backends.map((b) => this.nativeBackend(b));
    for (const b of backends) {
      // A backend the relay still counts keeps its last-seen numbers: its counters go on from there.
      if (!tracked.backends.has(b.key)) tracked.backends.set(b.key, { id: b.id, active: 0, opened: 0, connectErrors: 0 });
    }
    this.relay.configure(key, settingsOf(frontend), backends);
  }

  /** Stop accepting on `key`; its connections run on until they end. */
  unlisten(key: number): void {
    this.relay.unlisten(key);
    this.listening.delete(key);
    if (this.listening.size === 0) this.drainTimer.unref();
  }

  active(key: number): number {
    return this.relay.active(key);
  }

  /** The idle sweep now, idleness measured on the dataplane's clock from here on (tests inject one). */
  sweepIdle(): void {
    this.relay.sweepIdle(this.clockStart.relay + Math.floor(this.now() - this.clockStart.injected));
  }

  /** Close every connection and stop the threads; the last counters reach the metrics first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.drainTimer);
    this.relay.close();
    this.drain();
    this.unhook();
  }

  /** Adds what the relay counted since the last drain to the metrics. */
  drain(): void {
    const { frontends, backends, latencies } = this.relay.stats();
    const seen = new Set<number>();
    for (let i = 0; i < frontends.length; i += FRONTEND_FIELDS) {
      const key = frontends[i];
      const tracked = this.tracked.get(key);
      if (!tracked) continue;
      seen.add(key);
      const delta = (field: number): number => {
        const value = frontends[i + field];
        const moved = value - tracked.last[field - 1];
        tracked.last[field - 1] = value;
        return moved;
      };
      const active = delta(1);
      const opened = delta(2);
      const m = tracked.metrics;
      if (opened > 0) m.opened(opened);
      if (opened - active > 0) m.closed(opened - active);
      const bytesIn = delta(3);
      const bytesOut = delta(4);
      if (bytesIn > 0) m.bytesIn(bytesIn);
      if (bytesOut > 0) m.bytesOut(bytesOut);
      const counts: [number, (n: number) => void][] = [
        [delta(5), (n) => m.connectError(n)],
        [delta(6), (n) => m.retry(n)],
        [delta(7), (n) => m.replay(n)],
        [delta(8), (n) => m.limitRejected('frontend', n)],
        [delta(9), (n) => m.limitRejected('backend', n)],
        [delta(10), (n) => m.limitRejected('pending', n)],
      ];
      for (const [n, add] of counts) if (n > 0) add(n);
    }
    const backendsSeen = new Set<number>();
    for (let i = 0; i < backends.length; i += BACKEND_FIELDS) {
      const tracked = this.tracked.get(backends[i]);
      if (!tracked) continue;
      const key = backends[i + 1];
      backendsSeen.add(key);
      const entry = tracked.backends.get(key);
      if (!entry) continue;
      const [active, opened, connectErrors] = [backends[i + 2], backends[i + 3], backends[i + 4]];
      if (opened !== entry.opened || active !== entry.active) {
        tracked.metrics.backendCounted(entry.id, opened - entry.opened, active - entry.active);
      }
      if (connectErrors > entry.connectErrors) tracked.metrics.backendConnectError(entry.id, connectErrors - entry.connectErrors);
      Object.assign(entry, { active, opened, connectErrors });
    }
    for (let i = 0; i < latencies.length; i += 2) this.tracked.get(latencies[i])?.metrics.connectLatency(latencies[i + 1]);
    this.forget(seen, backendsSeen);
  }

  /** Frontends and backends the relay no longer reports are gone for good: drop their bookkeeping. */
  private forget(frontendsSeen: ReadonlySet<number>, backendsSeen: ReadonlySet<number>): void {
    for (const [key, tracked] of this.tracked) {
      if (!frontendsSeen.has(key)) this.tracked.delete(key);
      for (const backend of tracked.backends.keys()) if (!backendsSeen.has(backend)) tracked.backends.delete(backend);
    }
    if (this.backendNumbers.size > 2 * backendsSeen.size + 1024) {
      for (const [text, n] of this.backendNumbers) if (!backendsSeen.has(n)) this.backendNumbers.delete(text);
    }
  }

  private nativeBackend(b: Frontend['backends'][number]): NativeTcpBackend {
    const text = backendKey(b);
    let key = this.backendNumbers.get(text);
    if (key === undefined) this.backendNumbers.set(text, (key = ++this.lastBackendNumber));
    return { key, id: b.id, address: b.address, port: b.port, weight: b.weight };
  }
}

function settingsOf(frontend: Frontend): NativeTcpSettings {
  const lb = frontend.lb;
  return {
    policy: POLICY_NUMBER[lb?.policy ?? 'round-robin'],
    affinityTimeoutMs: lb?.affinityTimeoutMs ?? DEFAULT_AFFINITY_TIMEOUT_MS,
    maxConnections: lb?.maxConnections ?? 0,
    maxConnectionsPerBackend: lb?.maxConnectionsPerBackend ?? 0,
    idleTimeoutMs: lb?.idleTimeoutMs ?? 0,
    proxyProtocol: frontend.proxyProtocol === 'v1' ? 1 : frontend.proxyProtocol === 'v2' ? 2 : 0,
  };
}
