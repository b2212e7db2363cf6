import type { Frontend } from '../../table/table';
import { BackendLoad } from './backend-load';
import { balancerFor, rebalance, type Balancer } from './balancer';
import type { FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics } from './mesh-metrics';

/**
 * What a TCP or UDP listener knows of its frontend: the frontend as the
 * table last gave it, the balancer over its backends, their load (with the
 * per-backend limit) and its service's metrics. update() moves all four to
 * a new table's frontend at once, keeping what the balancer has learned.
 */
export class FrontendBalancing {
  readonly load = new BackendLoad();
  frontend: Frontend;
  balancer: Balancer;
  metrics: FrontendMetrics;

  constructor(
    frontend: Frontend,
    private readonly deps: Pick<FrontendListenerDeps, 'now' | 'metricsFor'>,
  ) {
    this.frontend = frontend;
    this.metrics = deps.metricsFor(frontend.service, frontend.protocol);
    this.balancer = balancerFor(frontend, { load: this.load, now: deps.now });
    this.load.limit = frontend.lb?.maxConnectionsPerBackend ?? 0;
  }

  update(frontend: Frontend): void {
    if (frontend.service !== this.frontend.service) this.metrics = this.deps.metricsFor(frontend.service, frontend.protocol);
    this.balancer = rebalance(this.balancer, this.frontend, frontend, { load: this.load, now: this.deps.now });
    this.frontend = frontend;
    this.load.limit = frontend.lb?.maxConnectionsPerBackend ?? 0;
  }
}
