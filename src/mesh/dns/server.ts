import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';
import type { Logger } from 'pino';
import type { Counter, Histogram, Registry } from 'prom-client';
import { counter, histogram } from '../../metrics/registry';
import { InvalidArgumentError, PortInUseError } from '../../errors';
import {
  answerQuery,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_DNS_TTL,
  errorResponse,
  MAX_DNS_TTL,
  RCODE,
  type AnswerOptions,
  type AnswerResult,
} from './answer';
import {
  DEFAULT_RESOLV_CONF_PATH,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  loadResolvConf,
  UpstreamForwarder,
  type DnsTransport,
  type Upstream,
} from './upstream';
import type { DnsView } from './view';
import { AnswerCache, answerCacheKey } from './answer-cache';
import { decodeMessage, encodeForUdp, isResponsePacket, MAX_TCP_QUERY_BYTES, rawErrorResponse, udpResponseLimit } from './wire';
import { createBatchUdpSocket, type BatchUdpSocket, type DatagramBatch } from '../../native/batch-udp-socket';
import { loadNative, type NativeAddon } from '../../native/native';
import type { UdpAddress } from '../../native/udp-address';

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
/** How often port 0 is retried when the port the kernel gave UDP is taken for TCP. */
const SHARED_PORT_ATTEMPTS = 20;
/** Largest DNS message over TCP: the 2-byte length prefix (RFC 1035 §4.2.2). */
const TCP_MESSAGE_LIMIT = 0xffff;

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

/** What handling one packet gives: bytes to send back now, later, or nothing. */
type Handled = Buffer | null | Promise<Buffer | null>;

/**
 * A node's embedded DNS server: answers cluster names from the view,
 * forwards the rest upstream, on UDP and TCP on one port.
 */
export class DnsServer {
  private readonly logger: Logger;
  private readonly answerOptions: AnswerOptions;
  /** Label children resolved once: the hot path should not hash label sets per query. */
  private readonly queries: Record<QueryResult, { inc(value?: number): void }>;
  private readonly duration: Record<'local' | 'upstream', { observe(seconds: number): void }>;
  private readonly now: () => number;
  private forwarder: UpstreamForwarder | null = null;
  private udp: BatchUdpSocket | null = null;
  private tcp: net.Server | null = null;
  private readonly tcpSockets = new Set<net.Socket>();
  private pendingForwards = 0;
  private rotation = 0;
  private readonly answerCache = new AnswerCache();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly deps: DnsServerDeps,
    private readonly options: DnsServerOptions,
  ) {
    validateOptions(options);
    this.logger = deps.logger.child({ component: 'dns' });
    this.now = deps.now ?? (() => performance.now());
    this.answerOptions = {
      domain: (options.domain ?? DEFAULT_DNS_DOMAIN).toLowerCase().replace(/^\.|\.$/g, ''),
      ttl: options.ttl ?? DEFAULT_DNS_TTL,
    };
    const queries = counter(deps.registry, {
      name: 'shoal_dns_queries_total',
      help: 'DNS packets received, by outcome',
      labelNames: ['result'],
    });
    this.queries = Object.fromEntries(QUERY_RESULTS.map((r) => [r, queries.labels(r)])) as DnsServer['queries'];
    // Zero every series up front so dashboards see all outcomes from the first scrape.
    for (const r of QUERY_RESULTS) this.queries[r].inc(0);
    const duration = histogram(deps.registry, {
      name: 'shoal_dns_query_duration_seconds',
      help: 'Time from receiving a DNS query to sending its response',
      labelNames: ['answered_by'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5],
    });
    this.duration = { local: duration.labels('local'), upstream: duration.labels('upstream') };
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
    this.forwarder = new UpstreamForwarder({
      upstreams,
      timeoutMs: this.options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    });

    tcp.maxConnections = this.options.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS;
    tcp.on('connection', (socket) => this.onTcpConnection(socket));
    tcp.on('error', (err) => this.logger.warn({ err }, 'dns tcp server error'));
    this.logger.info(
      { address: this.options.address, port, upstreams, domain: this.answerOptions.domain, udpSocket: udp.kind },
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
    this.forwarder?.close();
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
      const out = this.handle(raw, 'udp');
      if (out instanceof Promise) {
        const address = batch.address(i);
        const port = batch.port(i);
        void out.then((r) => this.sendUdp(r, port, address, started, 'upstream'));
      } else {
        this.sendUdp(out, batch.port(i), batch.address(i), started, 'local');
      }
    }
  }

  private sendUdp(response: Buffer | null, port: number, address: UdpAddress, started: number, answeredBy: 'local' | 'upstream'): void {
    if (!response || this.closing) return;
    this.udp?.send(response, 0, response.length, port, address);
    this.duration[answeredBy].observe((this.now() - started) / 1000);
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

    let buffered = Buffer.alloc(0);
    /** Queries read whose answer is not written yet (forwards in flight). */
    let unanswered = 0;
    let clientEnded = false;
    const hasFrame = (): boolean => buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0);
    // The client half-closed: answer what it sent, then close our side.
    const endIfDone = (): void => {
      if (clientEnded && unanswered === 0 && !hasFrame() && !socket.destroyed) socket.end();
    };
    const answered = (): void => {
      unanswered--;
      endIfDone();
    };
    // Clients may pipeline several queries; responses go out as they are ready (RFC 7766 §6.2.1.1).
    // A client that does not read its answers is not read either: they wait in its socket, not in our heap.
    const pump = (): void => {
      while (buffered.length >= 2 && !socket.writableNeedDrain) {
        const length = buffered.readUInt16BE(0);
        if (length > MAX_TCP_QUERY_BYTES) {
          this.count('dropped');
          socket.destroy();
          return;
        }
        if (buffered.length < 2 + length) break;
        const msg = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        unanswered++;
        this.onTcpMessage(socket, msg, answered);
      }
      if (socket.writableNeedDrain) socket.pause();
      else socket.resume();
      endIfDone();
    };
    socket.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      pump();
    });
    socket.on('drain', pump);
    socket.on('end', () => {
      clientEnded = true;
      endIfDone();
    });
  }

  private onTcpMessage(socket: net.Socket, msg: Buffer, answered: () => void): void {
    const started = this.now();
    const out = this.handle(msg, 'tcp');
    const send = (response: Buffer | null, answeredBy: 'local' | 'upstream'): void => {
      if (response && !socket.destroyed && !socket.writableEnded) {
        const frame = Buffer.allocUnsafe(2 + response.length);
        frame.writeUInt16BE(response.length, 0);
        response.copy(frame, 2);
        socket.write(frame);
        this.duration[answeredBy].observe((this.now() - started) / 1000);
      }
      answered();
    };
    if (out instanceof Promise) void out.then((r) => send(r, 'upstream'));
    else send(out, 'local');
  }

  /**
   * Answers from the cache when the same question was answered from the same
   * view before; else decodes once, answers or forwards, encodes once. Never
   * throws: a bad packet must not stop the server.
   */
  private handle(raw: Buffer, transport: DnsTransport): Handled {
    if (raw.length < 4 || isResponsePacket(raw)) {
      // Too short to tell a query from a response, or a response: answering
      // either could start a packet loop between two servers.
      this.count('dropped');
      return null;
    }
    const key = answerCacheKey(raw, transport === 'tcp');
    const hit = key === null ? null : this.cachedAnswer(key, raw);
    if (hit) {
      this.nextRotation();
      this.count(hit.result);
      return hit.response;
    }
    const query = decodeMessage(raw);
    if (!query) {
      this.count('formerr');
      return rawErrorResponse(raw, RCODE.FORMERR);
    }
    try {
      const rotation = this.nextRotation();
      this.answerOptions.rotate = rotation;
      const view = this.deps.getView();
      const decision = answerQuery(query, view, this.answerOptions);
      if (decision.kind === 'answer') {
        this.count(decision.result);
        const encoded = this.encodeOrNull(decision.response, query, transport);
        if (encoded && key !== null) {
          this.answerCache.useView(view);
          this.answerCache.set(key, rotation, decision.response.answers?.length ?? 0, encoded, decision.result);
        }
        return encoded ?? rawErrorResponse(raw, RCODE.SERVFAIL);
      }
    } catch (err) {
      this.logger.error({ err }, 'dns answer failed');
      this.count('servfail');
      return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
    }
    return this.forward(query, raw, transport);
  }

  /** The cached response to the query `raw` with cache key `key`, for the current view; null on a miss. */
  private cachedAnswer(key: string, raw: Buffer): ReturnType<AnswerCache['get']> {
    try {
      this.answerCache.useView(this.deps.getView());
    } catch {
      // The full path calls getView again and turns its failure into SERVFAIL.
      return null;
    }
    return this.answerCache.get(key, this.peekRotation(), raw);
  }

  private async forward(query: DecodedPacket, received: Buffer, transport: DnsTransport): Promise<Buffer | null> {
    // The UDP batch's bytes are reused once the batch returns; the forward outlives it.
    const raw = Buffer.from(received);
    const forwarder = this.forwarder;
    if (!forwarder || this.pendingForwards >= (this.options.maxPendingForwards ?? DEFAULT_MAX_PENDING_FORWARDS)) {
      this.count('servfail');
      return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
    }
    this.pendingForwards++;
    try {
      const response = await forwarder.forward(raw, transport);
      if (response) {
        this.count('forwarded');
        return response;
      }
    } catch (err) {
      this.logger.warn({ err }, 'dns forward failed');
    } finally {
      this.pendingForwards--;
    }
    this.count('servfail');
    return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
  }

  private encode(response: Packet, query: Packet, raw: Buffer, transport: DnsTransport): Buffer | null {
    return this.encodeOrNull(response, query, transport) ?? rawErrorResponse(raw, RCODE.SERVFAIL);
  }

  /** The encoded response, or null when dns-packet cannot encode it. */
  private encodeOrNull(response: Packet, query: Packet, transport: DnsTransport): Buffer | null {
    try {
      return encodeForUdp(response, transport === 'udp' ? udpResponseLimit(query) : TCP_MESSAGE_LIMIT);
    } catch (err) {
      // dns-packet decodes some names it cannot encode again (a label holding a dot).
      this.logger.debug({ err }, 'dns response could not be encoded');
      return null;
    }
  }

  private nextRotation(): number {
    this.rotation = this.peekRotation();
    return this.rotation;
  }

  /** The rotation the next decoded query gets, without taking it. */
  private peekRotation(): number {
    return (this.rotation + 1) & 0x3fffffff;
  }

  private count(result: QueryResult | AnswerResult): void {
    this.queries[result].inc();
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

/**
 * Binds UDP then TCP on the same port; with port 0, retries until the
 * kernel's UDP pick is free for TCP too. `makeUdp` gives a fresh socket per attempt.
 */
async function bindShared(
  address: string,
  port: number,
  makeUdp: () => BatchUdpSocket,
): Promise<{ udp: BatchUdpSocket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = makeUdp();
    let bound: number;
    try {
      bound = await udp.bind(address, port);
    } catch (err) {
      udp.close();
      throw translateBindError(err, address, port, 'udp');
    }
    try {
      const tcp = await listenTcp(address, bound);
      return { udp, tcp, port: bound };
    } catch (err) {
      udp.close();
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= SHARED_PORT_ATTEMPTS) throw translateBindError(err, address, bound, 'tcp');
    }
  }
}

function listenTcp(address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client's FIN ends its queries, not our answers to them.
    const server = net.createServer({ allowHalfOpen: true });
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

function translateBindError(err: unknown, address: string, port: number, proto: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new PortInUseError(`DNS port ${address}:${port}/${proto} is already in use`);
  }
  return err;
}
