import { Counter, Histogram, type Registry } from 'prom-client';

/** The embedded store's metrics; one set per registry, shared by stores registered with it. */
export interface WalMetrics {
  appendDuration: Histogram;
  records: Counter;
  bytes: Counter;
  snapshots: Counter<'result'>;
}

/** fdatasync takes from tens of microseconds (cache) to tens of milliseconds (disk). */
const APPEND_BUCKETS_SECONDS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

function once<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/** Register (or find, when another store already did) the WAL metrics in a registry. */
export function walMetrics(registry: Registry): WalMetrics {
  const registers = [registry];
  return {
    appendDuration: once(registry, 'shoal_store_wal_append_duration_seconds', () =>
      new Histogram({
        name: 'shoal_store_wal_append_duration_seconds',
        help: 'Time to write and fdatasync one group-commit batch to the WAL',
        buckets: APPEND_BUCKETS_SECONDS,
        registers,
      }),
    ),
    records: once(registry, 'shoal_store_wal_records_total', () =>
      new Counter({ name: 'shoal_store_wal_records_total', help: 'Transactions written to the WAL', registers }),
    ),
    bytes: once(registry, 'shoal_store_wal_bytes_total', () =>
      new Counter({ name: 'shoal_store_wal_bytes_total', help: 'Bytes written to the WAL', registers }),
    ),
    snapshots: once(registry, 'shoal_store_snapshots_total', () =>
      new Counter({
        name: 'shoal_store_snapshots_total',
        help: 'Snapshots written, by result (ok, error)',
        labelNames: ['result'] as const,
        registers,
      }),
    ),
  };
}
