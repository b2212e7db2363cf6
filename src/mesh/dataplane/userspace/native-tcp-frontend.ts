import type { Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { NativeTcpRelay } from './native-tcp-relay';

/**
 * A TCP frontend served by the addon's relay threads (NativeTcpRelay): the
 * same contract as TcpFrontend, with no JS per connection. Closing it stops
 * accepting; connections already open run until either side ends them.
 */
export class NativeTcpFrontend implements FrontendListener {
  constructor(
    private frontend: Frontend,
    private readonly deps: FrontendListenerDeps,
    private readonly relay: NativeTcpRelay,
    readonly listenerId: number,
  ) {}

  get activeCount(): number {
    return this.relay.active(this.listenerId);
  }

  listen(): Promise<void> {
    try {
      this.relay.open(this.listenerId, this.frontend, this.deps.metricsFor(this.frontend.service, 'tcp'));
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  update(frontend: Frontend): void {
    this.frontend = frontend;
    this.relay.configure(this.listenerId, frontend, this.deps.metricsFor(frontend.service, 'tcp'));
  }

  close(): void {
    this.relay.unlisten(this.listenerId);
  }

  sweepIdle(): void {
    this.relay.sweepIdle();
  }
}
