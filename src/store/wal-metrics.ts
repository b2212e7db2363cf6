import type { Counter, Histogram, Registry } from 'prom-client';
import { counter, histogram } from '../metrics/registry';

/** The embedded store's metrics; one set per registry, shared by stores registered with it. */
export interface WalMetrics {
  appendDuration: Histogram;
  records: Counter;
  bytes: Counter;
  snapshots: Counter<'result'>;
}

/** fdatasync takes from tens of microseconds (cache) to tens of milliseconds (disk). */
const APPEND_BUCKETS_SECONDS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Register (or find, when another store already did) the WAL metrics in a registry. */
export function walMetrics(registry: Registry): WalMetrics {
  return {
    appendDuration: histogram(registry, {
      name: 'shoal_store_wal_append_duration_seconds',
      help: 'Time to write and fdatasync one group-commit batch to the WAL',
      buckets: APPEND_BUCKETS_SECONDS,
    }),
    records: counter(registry, { name: 'shoal_store_wal_records_total', help: 'Transactions written to the WAL' }),
    bytes: counter(registry, { name: 'shoal_store_wal_bytes_total', help: 'Bytes written to the WAL' }),
    snapshots: counter(registry, { name: 'shoal_store_snapshots_total', help: 'Snapshots written, by result (ok, error)', labelNames: ['result'] as const }),
  };
}
