import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Backend, Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics } from './mesh-metrics';
import { RoundRobin } from './round-robin';

/** Settings of a TCP frontend. */
export interface TcpFrontendOptions {
  /** How long a backend connect may take before the next backend is tried. */
  connectTimeoutMs: number;
  listenerId: number;
  /** Every socket the frontend opens (client and backend side), so the dataplane can destroy them all on close. */
  sockets: Set<net.Socket>;
}

/**
 * A TCP frontend: accepts clients on address:port and splices each one to a
 * backend picked round-robin, trying the other backends once each when a
 * connect is refused or times out. Closing it stops accepting; connections
 * already spliced run until either side ends them.
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
    // pauseOnConnect: hold the client's bytes in the kernel until a backend is connected.
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
    client.on('error', (err) => this.log.debug({ err }, 'client connection error'));

    const candidates = this.rr.next();
    if (candidates.length === 0) {
      this.log.debug('no backend for new connection');
      client.resetAndDestroy();
      return;
    }
    this.connect(client, candidates, 0, metrics);
  }

  private connect(client: net.Socket, candidates: Backend[], attempt: number, metrics: FrontendMetrics): void {
    const backend = candidates[attempt];
    const upstream = net.connect({ host: backend.address, port: backend.port, allowHalfOpen: true, noDelay: true });
    this.track(upstream);
    let settled = false;
    const abandon = () => upstream.destroy();
    const timer = setTimeout(() => fail(`connect timed out after ${this.options.connectTimeoutMs} ms`), this.options.connectTimeoutMs);
    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      client.off('close', abandon);
    };
    const fail = (reason: string) => {
      if (settled) return;
      cleanup();
      upstream.destroy();
      metrics.connectError();
      this.log.debug({ backend: backend.id, reason }, 'backend connect failed');
      if (client.destroyed) return;
      if (attempt + 1 < candidates.length) {
        metrics.retry();
        this.connect(client, candidates, attempt + 1, metrics);
      } else {
        client.resetAndDestroy();
      }
    };
    // The client may give up while we are still connecting.
    client.once('close', abandon);
    upstream.once('close', () => {
      if (!settled) cleanup();
    });
    upstream.once('error', (err) => fail(err.message));
    upstream.once('connect', () => {
      if (settled) return;
      cleanup();
      splice(client, upstream, metrics);
    });
  }

  private track(socket: net.Socket): void {
    this.options.sockets.add(socket);
    socket.once('close', () => this.options.sockets.delete(socket));
  }
}

/** Pipe both ways, passing half-closes on and tearing both sides down when either fails. */
function splice(client: net.Socket, upstream: net.Socket, metrics: FrontendMetrics): void {
  const destroyBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', destroyBoth);
  upstream.on('error', destroyBoth);
  // A clean close of one side comes after both FINs, so the other side is
  // closing too; only an abortive close must be forced onto the other side.
  client.once('close', (hadError) => hadError && upstream.destroy());
  upstream.once('close', (hadError) => hadError && client.destroy());
  client.on('data', (chunk: Buffer) => metrics.bytesIn(chunk.length));
  upstream.on('data', (chunk: Buffer) => metrics.bytesOut(chunk.length));
  client.pipe(upstream);
  upstream.pipe(client);
}
