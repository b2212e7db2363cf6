import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics, LimitKind } from './mesh-metrics';
import { FrontendBalancing } from './frontend-balancing';
import { proxyHeader } from './proxy-protocol';
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
  /** Connections accepted whose first backend connect is still under way; more are turned away (slowloris guard). */
  maxPendingConnections: number;
  /** How often connections are checked against the frontend's idle timeout (when it has one) and stalled ones probed. */
  idleSweepIntervalMs: number;
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
  private readonly lb: FrontendBalancing;
  private readonly server: net.Server;
  private readonly sessions = new Set<TcpSession>();
  private readonly log: Logger;
  private idleTimer: NodeJS.Timeout | undefined;
  private pending = 0;
  private active = 0;

  constructor(
    frontend: Frontend,
    private readonly deps: FrontendListenerDeps,
    private readonly options: TcpFrontendOptions,
  ) {
    this.lb = new FrontendBalancing(frontend, deps);
    this.listenerId = options.listenerId;
    this.log = deps.logger.child({ frontend: frontend.id });
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
      this.server.listen({ host: this.lb.frontend.address, port: this.lb.frontend.port, exclusive: true }, () => {
        this.server.off('error', onError);
        // Accept errors (EMFILE...) after the bind must not crash the daemon.
        this.server.on('error', (err) => this.log.warn({ err }, 'tcp frontend error'));
        this.idleTimer = setInterval(() => this.sweep(), this.options.idleSweepIntervalMs);
        // Open connections keep the process alive by themselves; the sweeper must not.
        this.idleTimer.unref();
        resolve();
      });
    });
  }

  update(frontend: Frontend): void {
    this.lb.update(frontend);
  }

  /** The periodic sweep: idle connections closed, stalled ones probed for a reset (TcpSession.probeStalled). */
  private sweep(): void {
    this.sweepIdle();
    for (const session of this.sessions) session.probeStalled();
  }

  /** Close connections idle (no byte either way) for the frontend's idle timeout; none when it has none. */
  sweepIdle(): void {
    const idleTimeoutMs = this.lb.frontend.lb?.idleTimeoutMs ?? 0;
    if (idleTimeoutMs <= 0) return;
    const now = this.deps.now();
    for (const session of this.sessions) {
      if (now - session.lastActive >= idleTimeoutMs) {
        this.log.debug({ idleMs: now - session.lastActive }, 'idle connection closed');
        session.close();
      }
    }
  }

  close(): void {
    clearInterval(this.idleTimer);
    // Stops accepting at once; the callback would only fire after the last connection ends.
    if (this.server.listening) this.server.close();
  }

  private accept(client: net.Socket): void {
    const metrics = this.lb.metrics;
    const maxConnections = this.lb.frontend.lb?.maxConnections ?? 0;
    if (maxConnections > 0 && this.active >= maxConnections) return this.refuse(client, 'frontend');
    if (this.pending >= this.options.maxPendingConnections) return this.refuse(client, 'pending');
    const clientAddress = client.remoteAddress ?? '';
    const balancer = this.lb.balancer;
    const first = balancer.pick(clientAddress, new Set());
    if (!first && balancer.fullOnly(new Set())) return this.refuse(client, 'backend');
    metrics.opened();
    this.active++;
    this.track(client);
    client.once('close', () => {
      this.active--;
      metrics.closed();
    });

    if (!first) {
      this.log.debug('no backend for new connection');
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const version = this.lb.frontend.proxyProtocol;
    const header = version
      ? proxyHeader(
          version,
          { address: clientAddress, port: client.remotePort ?? 0 },
          { address: client.localAddress ?? this.lb.frontend.address, port: client.localPort ?? this.lb.frontend.port },
        )
      : undefined;
    this.pending++;
    const session = new TcpSession(
      client,
      {
        log: this.log,
        metrics,
        // Ask the balancer as it is at each retry: a backend drained or removed since the accept gets nothing.
        nextBackend: (tried) => {
          const next = this.lb.balancer.pick(clientAddress, tried);
          if (!next && this.lb.balancer.fullOnly(tried)) metrics.limitRejected('backend');
          return next;
        },
        track: (socket) => this.track(socket),
        load: this.lb.load,
        now: this.deps.now,
        settled: () => this.pending--,
      },
      {
        connectTimeoutMs: this.options.connectTimeoutMs,
        replayBufferBytes: this.options.replayBufferBytes,
        proxyHeader: header,
      },
    );
    this.sessions.add(session);
    client.once('close', () => this.sessions.delete(session));
    session.start(first);
  }

  /** Turn a client away at once because of `limit`: accepted (the kernel already did), then closed. */
  private refuse(client: net.Socket, limit: LimitKind): void {
    this.lb.metrics.limitRejected(limit);
    this.log.debug({ limit }, 'connection limit reached; client turned away');
    client.on('error', () => undefined);
    client.destroy();
  }

  private track(socket: net.Socket): void {
    this.options.sockets.add(socket);
    socket.once('close', () => this.options.sockets.delete(socket));
  }
}
