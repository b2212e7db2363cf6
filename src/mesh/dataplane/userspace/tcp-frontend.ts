import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics } from './mesh-metrics';
import { RoundRobin } from './round-robin';
import { TcpSession } from './tcp-session';

/** Settings of a TCP frontend. */
export interface TcpFrontendOptions {
  /** How long a backend connect may take before the next backend is tried. */
  connectTimeoutMs: number;
  /** Client bytes held per connection for a replay to another backend, until the backend answers. */
  replayBufferBytes: number;
  listenerId: number;
  /** Every socket the frontend opens (client and backend side), so the dataplane can destroy them all on close. */
  sockets: Set<net.Socket>;
}

/**
 * A TCP frontend: accepts clients on address:port and hands each one to a
 * TcpSession starting at the backend picked round-robin; the session tries the
 * other live backends once each when a connect is refused or times out, or
 * when a backend dies before answering. Closing it stops accepting;
 * connections already open run until either side ends them.
 */
export class TcpFrontend implements FrontendListener {
  readonly listenerId: number;
  private readonly server: net.Server;
  private readonly rr = new RoundRobin();
  private readonly log: Logger;
  private metrics: FrontendMetrics;
  private frontend: Frontend;
  private active = 0;

  constructor(
    frontend: Frontend,
    private readonly deps: FrontendListenerDeps,
    private readonly options: TcpFrontendOptions,
  ) {
    this.frontend = frontend;
    this.listenerId = options.listenerId;
    this.log = deps.logger.child({ frontend: frontend.id });
    this.metrics = deps.metricsFor(frontend.service, 'tcp');
    this.rr.setBackends(frontend.backends);
    // allowHalfOpen: a client's FIN is passed on to the backend instead of
    // closing our side, so request/response-then-close protocols work.
    // pauseOnConnect: read nothing from a client that has no backend; the session starts reading.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) =>
      this.accept(client),
    );
  }

  get activeCount(): number {
    return this.active;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.frontend.address, port: this.frontend.port, exclusive: true }, () => {
        this.server.off('error', onError);
        // Accept errors (EMFILE...) after the bind must not crash the daemon.
        this.server.on('error', (err) => this.log.warn({ err }, 'tcp frontend error'));
        resolve();
      });
    });
  }

  update(frontend: Frontend): void {
    if (frontend.service !== this.frontend.service) this.metrics = this.deps.metricsFor(frontend.service, 'tcp');
    this.frontend = frontend;
    this.rr.setBackends(frontend.backends);
  }

  close(): void {
    // Stops accepting at once; the callback would only fire after the last connection ends.
    if (this.server.listening) this.server.close();
  }

  private accept(client: net.Socket): void {
    const metrics = this.metrics;
    metrics.opened();
    this.active++;
    this.track(client);
    client.once('close', () => {
      this.active--;
      metrics.closed();
    });

    const order = this.rr.next();
    if (order.length === 0) {
      this.log.debug('no backend for new connection');
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const session = new TcpSession(
      client,
      {
        log: this.log,
        metrics,
        // Read the list as it is at each retry: a backend drained or removed since the accept gets nothing.
        nextBackend: (tried) => this.rr.nextUntried(order, tried),
        track: (socket) => this.track(socket),
      },
      { connectTimeoutMs: this.options.connectTimeoutMs, replayBufferBytes: this.options.replayBufferBytes },
    );
    session.start(order[0]);
  }

  private track(socket: net.Socket): void {
    this.options.sockets.add(socket);
    socket.once('close', () => this.options.sockets.delete(socket));
  }
}
