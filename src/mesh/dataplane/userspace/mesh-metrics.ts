import { Counter, Gauge } from 'prom-client';
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
}

/** Metric handles bound to one frontend's labels; captured per connection so inc and dec always match. */
export interface FrontendMetrics {
  /** A TCP connection was accepted or a UDP flow started. */
  opened(): void;
  /** That connection or flow is gone. */
  closed(): void;
  /** Bytes from the client towards the backend. */
  bytesIn(n: number): void;
  /** Bytes from the backend back to the client. */
  bytesOut(n: number): void;
  connectError(): void;
  retry(): void;
  /** A backend failed after the connect but before its first byte back; the client's bytes go to another. */
  replay(): void;
}

/**
 * Register (or find, when another dataplane on the same registry already did)
 * the mesh metrics on `registry`.
 */
export function meshMetrics(registry: Registry): MeshMetrics {
  const labelNames = ['service', 'protocol'] as const;
  return {
    connections: counter(registry, 'shoal_mesh_connections_total', 'TCP connections accepted and UDP flows started', labelNames),
    active: gauge(registry, 'shoal_mesh_active_connections', 'Open TCP connections and live UDP flows', labelNames),
    bytes: counter(
      registry,
      'shoal_mesh_bytes_total',
      'Bytes forwarded; direction "in" is client to backend, "out" backend to client',
      [...labelNames, 'direction'] as const,
    ),
    connectErrors: counter(
      registry,
      'shoal_mesh_connect_errors_total',
      'Backend connects that were refused, timed out or failed, and UDP flows a backend rejected',
      labelNames,
    ),
    retries: counter(registry, 'shoal_mesh_retries_total', 'Connects retried on another backend after a failure', labelNames),
    replays: counter(
      registry,
      'shoal_mesh_replays_total',
      'TCP connections whose backend closed or failed before replying, and whose client bytes were sent again to another backend',
      labelNames,
    ),
  };
}

/** Handles for one frontend's `service` and `protocol` labels. */
export function frontendMetrics(metrics: MeshMetrics, service: string, protocol: Protocol): FrontendMetrics {
  const labels = { service, protocol };
  const connections = metrics.connections.labels(labels);
  const active = metrics.active.labels(labels);
  const bytesIn = metrics.bytes.labels({ ...labels, direction: 'in' });
  const bytesOut = metrics.bytes.labels({ ...labels, direction: 'out' });
  const connectErrors = metrics.connectErrors.labels(labels);
  const retries = metrics.retries.labels(labels);
  const replays = metrics.replays.labels(labels);
  return {
    opened: () => {
      connections.inc();
      active.inc();
    },
    closed: () => active.dec(),
    bytesIn: (n) => bytesIn.inc(n),
    bytesOut: (n) => bytesOut.inc(n),
    connectError: () => connectErrors.inc(),
    retry: () => retries.inc(),
    replay: () => replays.inc(),
  };
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}
