import type { Counter, Histogram, Registry } from 'prom-client';
import { counter, histogram } from '../metrics/registry';

/** The etcd store's metrics; one set per registry, shared by stores registered with it. */
export interface EtcdMetrics {
  /** One etcd call as the store makes it (retries on other members included), by op and result. */
  requestDuration: Histogram<'op' | 'result'>;
  /** Watch streams that broke and were opened again from their last revision. */
  watchRestarts: Counter;
}

/** A commit on a healthy local cluster takes a few milliseconds; a lost quorum runs to the request timeout. */
const REQUEST_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5];

/** Register (or find, when another store already did) the etcd store metrics in a registry. */
export function etcdMetrics(registry: Registry): EtcdMetrics {
  return {
    requestDuration: histogram(registry, {
      name: 'shoal_store_etcd_request_duration_seconds',
      help: 'Time of one store call to etcd, by op (range, put, delete, txn) and result (ok, error)',
      labelNames: ['op', 'result'] as const,
      buckets: REQUEST_BUCKETS_SECONDS,
    }),
    watchRestarts: counter(registry, {
      name: 'shoal_store_etcd_watch_restarts_total',
      help: 'etcd watch streams that broke and were reopened from their last revision',
    }),
  };
}
