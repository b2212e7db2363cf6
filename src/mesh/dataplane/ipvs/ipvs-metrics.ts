import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../../metrics/registry';
import type { IpvsOp } from './ipvs-plan';

/** Metrics of the IPVS dataplane. */
export interface IpvsMetrics {
  /** Kernel operations by kind (new_service ... del_dest) and result (ok, error). */
  operations: Counter<'op' | 'result'>;
  /** Reconciliations (dump, plan, apply) by result (ok, error). */
  syncs: Counter<'result'>;
  /** Virtual services shoal owns in the kernel. */
  services: Gauge;
}

/** Register (or find) the IPVS dataplane's metrics on `registry`. */
export function ipvsMetrics(registry: Registry): IpvsMetrics {
  return {
    operations: counter(registry, {
      name: 'shoal_ipvs_operations_total',
      help: 'IPVS generic netlink operations sent, by kind and result',
      labelNames: ['op', 'result'] as const,
    }),
    syncs: counter(registry, {
      name: 'shoal_ipvs_syncs_total',
      help: 'IPVS reconciliations (dump, plan, apply); error when the dump failed or an operation failed',
      labelNames: ['result'] as const,
    }),
    services: gauge(registry, { name: 'shoal_ipvs_services', help: 'IPVS virtual services shoal owns' }),
  };
}

/** Metric label of an operation: `new_service`, `del_dest`, ... (six values). */
export function opLabel(op: IpvsOp['op']): string {
  return op.replace('-', '_');
}
