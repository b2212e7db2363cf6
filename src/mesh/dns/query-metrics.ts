import type { Registry } from 'prom-client';
import { counter, histogram } from '../../metrics/registry';

/** Values of the `result` label of `shoal_dns_queries_total`. */
export const QUERY_RESULTS = [
  'ok',
  'nxdomain',
  'nodata',
  'formerr',
  'notimp',
  'forwarded',
  'servfail',
  'dropped',
] as const;
/** Outcome of one incoming packet, for metrics. */
export type QueryResult = (typeof QUERY_RESULTS)[number];

/** Who produced a response: the view (local) or an upstream resolver. */
export type AnsweredBy = 'local' | 'upstream';

/** The DNS server's metrics, with label children resolved once: the hot path should not hash label sets per query. */
export interface DnsQueryMetrics {
  queries: Record<QueryResult, { inc(value?: number): void }>;
  duration: Record<AnsweredBy, { observe(seconds: number): void }>;
}

/** Registers (or reuses) `shoal_dns_queries_total` and `shoal_dns_query_duration_seconds` on `registry`. */
export function dnsQueryMetrics(registry: Registry): DnsQueryMetrics {
  const queries = counter(registry, {
    name: 'shoal_dns_queries_total',
    help: 'DNS packets received, by outcome',
    labelNames: ['result'],
  });
  const byResult = Object.fromEntries(QUERY_RESULTS.map((r) => [r, queries.labels(r)])) as DnsQueryMetrics['queries'];
  // Zero every series up front so dashboards see all outcomes from the first scrape.
  for (const r of QUERY_RESULTS) byResult[r].inc(0);
  const duration = histogram(registry, {
    name: 'shoal_dns_query_duration_seconds',
    help: 'Time from receiving a DNS query to sending its response',
    labelNames: ['answered_by'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5],
  });
  return { queries: byResult, duration: { local: duration.labels('local'), upstream: duration.labels('upstream') } };
}
