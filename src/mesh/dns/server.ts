import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidArgumentError } from '../../errors';
import { createBatchUdpSocket, type BatchUdpSocket, type DatagramBatch } from '../../native/batch-udp-socket';
import { loadNative, type NativeAddon } from '../../native/native';
import type { UdpAddress } from '../../native/udp-address';
import { DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL, MAX_DNS_TTL } from './answer';
import { DnsQueryHandler } from './query-handler';
import { dnsQueryMetrics, type AnsweredBy, type DnsQueryMetrics } from './query-metrics';
import { bindShared } from './shared-port';
import { serveTcpClient } from './tcp-client';
import { DEFAULT_RESOLV_CONF_PATH, DEFAULT_UPSTREAM_TIMEOUT_MS, loadResolvConf, UpstreamForwarder, type Upstream } from './upstream';
import type { DnsView } from './view';

/** Side effects the DNS server needs. */
export interface DnsServerDeps {
  logger: Logger;
  registry: Registry;
  /** Called once per query, so a new view is used from the next query on. */
  getView(): DnsView;
  /** Monotonic milliseconds, for the duration histogram. */
  now?: () => number;
}

/** Configuration of a node's DNS server. */
export interface DnsServerOptions {
  /** The node's address; UDP and TCP listen there. */
  address: string;
  /** 0 picks a port free for both UDP and TCP. */
  port: number;
  /** Cluster domain, default `shoal`. */
  domain?: string;
  /** TTL of cluster answers in seconds, 0..600, default 0. */
  ttl?: number;
  /** Resolvers for other names; default: the nameservers of `resolvConfPath`. */
  upstreams?: Upstream[];
  resolvConfPath?: string;
  /** Time each upstream gets before the next is tried; SERVFAIL after the last. */
  upstreamTimeoutMs?: number;
  /** A TCP connection with no query for this long is closed (RFC 7766 §6.2.3). */
  tcpIdleTimeoutMs?: number;
  maxTcpConnections?: number;
  /** Queries waiting on an upstream at once; more get SERVFAIL straight away. */
  maxPendingForwards?: number;
  /**
   * The addon for batched UDP I/O (recvmmsg/sendmmsg); null forces Node's
   * dgram. Default: loadNative(). An IPv6 address always uses dgram.
   */
  native?: NativeAddon | null;
}

/** Default idle time of a client's TCP connection. */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
/** Default bound on concurrent TCP clients. */
export const DEFAULT_MAX_TCP_CONNECTIONS = 256;
/** Default bound on forwarded queries in flight, which each hold a socket. */
export const DEFAULT_MAX_PENDING_FORWARDS = 1024;

/**
 * A node's embedded DNS server: answers cluster names from the view,
 * forwards the rest upstream, on UDP and TCP on one port. This file is the
 * transport; query-handler.ts turns each message into its response.
 */
export class DnsServer {
  private readonly logger: Logger;
  private readonly domain: string;
  private readonly duration: DnsQueryMetrics['duration'];
  private readonly now: () => number;
  private readonly queries: DnsQueryHandler;
  private udp: BatchUdpSocket | null = null;
  private tcp: net.Server | null = null;
  private readonly tcpSockets = new Set<net.Socket>();
  private closing: Promise<void> | null = null;

  constructor(
    deps: DnsServerDeps,
    private readonly options: DnsServerOptions,
  ) {
    validateOptions(options);
    this.logger = deps.logger.child({ component: 'dns' });
    this.now = deps.now ?? (() => performance.now());
    this.domain = (options.domain ?? DEFAULT_DNS_DOMAIN).toLowerCase().replace(/^\.|\.$/g, '');
    const metrics = dnsQueryMetrics(deps.registry);
    this.duration = metrics.duration;
    this.queries = new DnsQueryHandler(
      { logger: this.logger, getView: () => deps.getView(), queries: metrics.queries },
      {
        answer: { domain: this.domain, ttl: options.ttl ?? DEFAULT_DNS_TTL },
        maxPendingForwards: options.maxPendingForwards ?? DEFAULT_MAX_PENDING_FORWARDS,
      },
    );
  }

  /** Binds UDP and TCP on the same port and starts serving. */
  async listen(): Promise<{ port: number }> {
    if (this.udp || this.closing) throw new InvalidArgumentError('DNS server is already listening or closed');
    const configured = this.options.upstreams ?? (await loadResolvConf(this.options.resolvConfPath ?? DEFAULT_RESOLV_CONF_PATH));
    const native = this.options.native === undefined ? loadNative() : this.options.native;
    const handlers = {
      onBatch: (batch: DatagramBatch) => this.onUdpBatch(batch),
      // A failed reply is that client's loss; anything else concerns the server.
      onError: (err: NodeJS.ErrnoException) => {
        if (err.syscall === 'send') this.logger.debug({ err }, 'dns udp send failed');
        else this.logger.warn({ err }, 'dns udp socket error');
      },
    };
    const { udp, tcp, port } = await bindShared(this.options.address, this.options.port, () =>
      createBatchUdpSocket(net.isIPv6(this.options.address) ? 'udp6' : 'udp4', handlers, native),
    );
    this.udp = udp;
    this.tcp = tcp;
    // A resolv.conf naming this very server would make every unknown name loop.
    const upstreams = configured.filter((u) => !(u.host === this.options.address && u.port === port));
    this.queries.forwardTo(
      new UpstreamForwarder({
        upstreams,
        timeoutMs: this.options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      }),
    );

    tcp.maxConnections = this.options.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS;
    tcp.on('connection', (socket) => this.onTcpConnection(socket));
    tcp.on('error', (err) => this.logger.warn({ err }, 'dns tcp server error'));
    this.logger.info(
      { address: this.options.address, port, upstreams, domain: this.domain, udpSocket: udp.kind },
      'dns listening',
    );
    return { port };
  }

  /** Which socket carries UDP queries: `native` (batched), `dgram`, or null before listen(). */
  get udpSocketKind(): BatchUdpSocket['kind'] | null {
    return this.udp?.kind ?? null;
  }

  /** Stops serving and abandons forwards in flight. Safe twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.queries.close();
    const udp = this.udp;
    const tcp = this.tcp;
    for (const socket of this.tcpSockets) socket.destroy();
    udp?.close();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  /**
   * One batch of UDP queries. The clock is read once per batch; answers are
   * queued and leave together when the batch returns (one sendmmsg with the
   * addon). The batch's bytes are reused afterwards, so forward() copies.
   */
  private onUdpBatch(batch: DatagramBatch): void {
    const started = this.now();
    const data = batch.data;
    for (let i = 0; i < batch.count; i++) {
      const offset = batch.offset(i);
      const length = batch.length(i);
      const raw = offset === 0 && length === data.length ? data : data.subarray(offset, offset + length);
      const out = this.queries.handle(raw, 'udp');
      if (out instanceof Promise) {
        const address = batch.address(i);
        const port = batch.port(i);
        void out.then((r) => this.sendUdp(r, port, address, started, 'upstream'));
      } else {
        this.sendUdp(out, batch.port(i), batch.address(i), started, 'local');
      }
    }
  }

  private sendUdp(response: Buffer | null, port: number, address: UdpAddress, started: number, answeredBy: AnsweredBy): void {
    if (!response || this.closing) return;
    this.udp?.send(response, 0, response.length, port, address);
    this.observe(answeredBy, started);
  }

  private onTcpConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.tcpSockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', (err) => this.logger.debug({ err }, 'dns tcp client error'));
    socket.on('close', () => this.tcpSockets.delete(socket));
    serveTcpClient(socket, {
      handle: (msg) => this.queries.handle(msg, 'tcp'),
      dropped: () => this.queries.count('dropped'),
      now: this.now,
      answered: (answeredBy, started) => this.observe(answeredBy, started),
    });
  }

  /** A response to a query received at `started` went out. */
  private observe(answeredBy: AnsweredBy, started: number): void {
    this.duration[answeredBy].observe((this.now() - started) / 1000);
  }
}

function validateOptions(options: DnsServerOptions): void {
  if (net.isIP(options.address) === 0) throw new InvalidArgumentError(`DNS address "${options.address}" is not an IP address`);
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new InvalidArgumentError(`DNS port ${options.port} must be 0-65535`);
  }
  const ttl = options.ttl ?? DEFAULT_DNS_TTL;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_DNS_TTL) {
    throw new InvalidArgumentError(`DNS TTL ${ttl} must be an integer from 0 to ${MAX_DNS_TTL}`);
  }
  const domain = (options.domain ?? DEFAULT_DNS_DOMAIN).replace(/^\.|\.$/g, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(domain)) {
    throw new InvalidArgumentError(`DNS domain "${options.domain}" is not a domain name`);
  }
  const timeout = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  if (!(timeout > 0)) throw new InvalidArgumentError(`DNS upstream timeout ${timeout} must be positive`);
}
