import { Gauge } from 'prom-client';
import type { Counter, Histogram } from 'prom-client';
import { counter as sharedCounter, histogram as sharedHistogram } from '../../../metrics/registry';
import type { Registry } from 'prom-client';
import type { Protocol } from '../../../model/types';

type Labels = 'service' | 'protocol';

/** The routing mesh's traffic metrics, labelled by service and protocol. */
export interface MeshMetrics {
  connections: Counter<Labels>;
  active: Gauge<Labels>;
  bytes: Counter<Labels | 'direction'>;
  connectErrors: Counter<Labels>;
  retries: Counter<Labels>;
  replays: Counter<Labels>;
  limitRejections: Counter<Labels | 'limit'>;
  backendConnections: Counter<'service' | 'backend'>;
  backendActive: Gauge<'service' | 'backend'>;
  backendConnectErrors: Counter<'service' | 'backend'>;
  connectSeconds: Histogram<'service'>;
}

/** Which limit turned a client away: connections per frontend, per backend, or connects pending. */
export type LimitKind = 'frontend' | 'backend' | 'pending';

/** Metric handles bound to one frontend's labels; captured per connection so inc and dec always match. */
export interface FrontendMetrics {
  /** A TCP connection was accepted or a UDP flow started (`n` of them, counted elsewhere). */
  opened(n?: number): void;
  /** That connection or flow is gone (`n` of them). */
  closed(n?: number): void;
  /** Bytes from the client towards the backend. */
  bytesIn(n: number): void;
  /** Bytes from the backend back to the client. */
  bytesOut(n: number): void;
  connectError(n?: number): void;
  retry(n?: number): void;
  /** A backend failed after the connect but before its first byte back; the client's bytes go to another. */
  replay(n?: number): void;
  /** A client was turned away by a limit. */
  limitRejected(limit: LimitKind, n?: number): void;
  /** A connection or flow to backend (task id) `backend` started; call the returned function when it ends. */
  backendOpened(backend: string): () => void;
  /** `opened` connections to `backend` started and its open count moved by `activeDelta`, as counted by the native relay. */
  backendCounted(backend: string, opened: number, activeDelta: number): void;
  backendConnectError(backend: string, n?: number): void;
  /** A backend connect completed after `seconds`. */
  connectLatency(seconds: number): void;
  /** Drop the per-backend series of backends not in `keep` and with nothing open, so labels stay bounded by the table. */
  forgetBackendsExcept(keep: ReadonlySet<string>): void;
}

/**
 * Register (or find, when another dataplane on the same registry already did)
 * the mesh metrics on `registry`.
 */
export function meshMetrics(registry: Registry): MeshMetrics {
  const labelNames = ['service', 'protocol'] as const;
  const counter = <L extends string>(name: string, help: string, labels: readonly L[]): Counter<L> =>
    sharedCounter(registry, { name, help, labelNames: labels, collect: () => runCollectHooks(registry) });
  const gauge = <L extends string>(name: string, help: string, labels: readonly L[]): Gauge<L> =>
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge({ name, help, labelNames: labels, registers: [registry], collect: () => runCollectHooks(registry) });
  const histogram = <L extends string>(name: string, help: string, labels: readonly L[]): Histogram<L> =>
    sharedHistogram(registry, {
      name,
      help,
      labelNames: labels,
      buckets: CONNECT_SECONDS_BUCKETS,
      collect: () => runCollectHooks(registry),
    });
  return {
    connections: counter('shoal_mesh_connections_total', 'TCP connections accepted and UDP flows started', labelNames),
    active: gauge('shoal_mesh_active_connections', 'Open TCP connections and live UDP flows', labelNames),
    bytes: sharedCounter(registry, {
      name: 'shoal_mesh_bytes_total',
      help: 'Bytes forwarded; direction "in" is client to backend, "out" backend to client',
      labelNames: [...labelNames, 'direction'] as const,
      collect() {
        runCollectHooks(registry);
        flushPending(this);
      },
    }),
    connectErrors: counter(
      'shoal_mesh_connect_errors_total',
      'Backend connects that were refused, timed out or failed, and UDP flows a backend rejected',
      labelNames,
    ),
    retries: counter('shoal_mesh_retries_total', 'Connects retried on another backend after a failure', labelNames),
    replays: counter(
      'shoal_mesh_replays_total',
      'TCP connections whose backend closed or failed before replying, and whose client bytes were sent again to another backend',
      labelNames,
    ),
    limitRejections: counter(
      'shoal_mesh_limit_rejections_total',
      'Clients turned away by a connection limit: limit is "frontend" (per published port), "backend" (every backend full) or "pending" (too many connects under way)',
      [...labelNames, 'limit'] as const,
    ),
    backendConnections: counter(
      'shoal_mesh_backend_connections_total',
      'Connections and UDP flows opened to each backend (task id)',
      ['service', 'backend'] as const,
    ),
    backendActive: gauge(
      'shoal_mesh_backend_active_connections',
      'Connections and UDP flows open to each backend (task id)',
      ['service', 'backend'] as const,
    ),
    backendConnectErrors: counter(
      'shoal_mesh_backend_connect_errors_total',
      'Failed connects and UDP flows per backend (task id)',
      ['service', 'backend'] as const,
    ),
    connectSeconds: histogram(
      'shoal_mesh_backend_connect_seconds',
      'Time for a TCP connect to a backend to complete',
      ['service'] as const,
    ),
  };
}

/** Handles for one frontend's `service` and `protocol` labels. */
export function frontendMetrics(metrics: MeshMetrics, service: string, protocol: Protocol): FrontendMetrics {
  const labels = { service, protocol };
  const connections = metrics.connections.labels(labels);
  const active = metrics.active.labels(labels);
  const bytesIn = pendingCounter(metrics.bytes, { ...labels, direction: 'in' });
  const bytesOut = pendingCounter(metrics.bytes, { ...labels, direction: 'out' });
  const connectErrors = metrics.connectErrors.labels(labels);
  const retries = metrics.retries.labels(labels);
  const replays = metrics.replays.labels(labels);
  const connectSeconds = metrics.connectSeconds.labels({ service });
  /** Backends this handle has series for, with their open count. */
  const openPerBackend = new Map<string, number>();
  return {
    opened: (n = 1) => {
      connections.inc(n);
      active.inc(n);
    },
    closed: (n = 1) => active.dec(n),
    bytesIn: (n) => {
      bytesIn.value += n;
    },
    bytesOut: (n) => {
      bytesOut.value += n;
    },
    connectError: (n = 1) => connectErrors.inc(n),
    retry: (n = 1) => retries.inc(n),
    replay: (n = 1) => replays.inc(n),
    limitRejected: (limit, n = 1) => metrics.limitRejections.inc({ ...labels, limit }, n),
    backendOpened: (backend) => {
      const backendLabels = { service, backend };
      metrics.backendConnections.inc(backendLabels);
      metrics.backendActive.inc(backendLabels);
      openPerBackend.set(backend, (openPerBackend.get(backend) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        metrics.backendActive.dec(backendLabels);
        openPerBackend.set(backend, (openPerBackend.get(backend) ?? 1) - 1);
      };
    },
    backendCounted: (backend, opened, activeDelta) => {
      const backendLabels = { service, backend };
      if (opened > 0) metrics.backendConnections.inc(backendLabels, opened);
      if (activeDelta !== 0 || opened > 0) metrics.backendActive.inc(backendLabels, activeDelta);
      openPerBackend.set(backend, (openPerBackend.get(backend) ?? 0) + activeDelta);
    },
    forgetBackendsExcept: (keep) => {
      for (const [backend, open] of openPerBackend) {
        if (keep.has(backend) || open > 0) continue;
        openPerBackend.delete(backend);
        forgetBackend(metrics, service, backend);
      }
    },
    backendConnectError: (backend, n = 1) => {
      if (!openPerBackend.has(backend)) openPerBackend.set(backend, 0);
      metrics.backendConnectErrors.inc({ service, backend }, n);
    },
    connectLatency: (seconds) => connectSeconds.observe(seconds),
  };
}

/** Increments of one series not yet added to its counter. */
interface PendingSeries {
  value: number;
  readonly flush: () => void;
}

/**
 * Per counter, its series' pending increments by label key. prom-client hashes
 * the label set on every `inc`, even through a `labels()` child; the byte
 * counters move per chunk and per datagram, so they add to a plain number and
 * the counter catches up when the registry collects.
 */
const pendingByCounter = new WeakMap<object, Map<string, PendingSeries>>();

/** The pending series of `metric` for `labels`, shared by every handle with the same labels. */
function pendingCounter<L extends string>(metric: Counter<L>, labels: Record<L, string>): PendingSeries {
  let series = pendingByCounter.get(metric);
  if (!series) pendingByCounter.set(metric, (series = new Map()));
  const key = JSON.stringify(labels);
  let pending = series.get(key);
  if (!pending) {
    const child = metric.labels(labels);
    const created: PendingSeries = {
      value: 0,
      flush: () => {
        if (created.value === 0) return;
        child.inc(created.value);
        created.value = 0;
      },
    };
    series.set(key, (pending = created));
  }
  return pending;
}

/** Adds the pending increments of `metric`'s series to it; its `collect` callback. */
function flushPending(metric: object): void {
  const series = pendingByCounter.get(metric);
  if (series) for (const pending of series.values()) pending.flush();
}

/** Connect latency buckets, from loopback (sub-millisecond) to the connect timeout. */
const CONNECT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Forget the per-backend series of backends no longer in any table, keeping label cardinality bounded by the table. */
export function forgetBackend(metrics: MeshMetrics, service: string, backend: string): void {
  const labels = { service, backend };
  metrics.backendConnections.remove(labels);
  metrics.backendActive.remove(labels);
  metrics.backendConnectErrors.remove(labels);
}

/** Per registry, what must run before any mesh metric is read. */
const collectHooks = new WeakMap<Registry, Set<() => void>>();

/**
 * Runs `hook` whenever a mesh metric of `registry` is collected (a scrape, or
 * one metric's get), before its values are read: the native relay counts in
 * its own memory and adds to the metrics here. Returns the unregister call.
 */
export function beforeMeshCollect(registry: Registry, hook: () => void): () => void {
  let hooks = collectHooks.get(registry);
  if (!hooks) collectHooks.set(registry, (hooks = new Set()));
  hooks.add(hook);
  return () => hooks.delete(hook);
}

function runCollectHooks(registry: Registry): void {
  const hooks = collectHooks.get(registry);
  if (hooks) for (const hook of hooks) hook();
}
