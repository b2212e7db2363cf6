import type { Registry } from 'prom-client';
import { gauge } from '../metrics/registry';
import type { NativeLoadResult, NativeStatus } from './native';

/** Every value of the `status` label, so each series exists from the first scrape. */
const STATUSES: readonly NativeStatus[] = ['loaded', 'disabled', 'missing', 'failed'];

/**
 * `shoal_native_addon_status{status}`: 1 for the status of the addon load
 * (loaded, disabled by SHOAL_NATIVE=0, missing, failed), 0 for the others,
 * so an operator sees whether UDP runs batched or on the dgram fallback.
 */
export function registerNativeStatus(registry: Registry, load: NativeLoadResult): void {
  const status = gauge(registry, {
    name: 'shoal_native_addon_status',
    help: 'Whether the native addon (batched UDP I/O) is in use: 1 for the current load status',
    labelNames: ['status'],
  });
  for (const s of STATUSES) status.labels(s).set(s === load.status ? 1 : 0);
}
