import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Backend } from '../../table/table';
import type { BackendLoad } from './backend-load';
import type { FrontendMetrics } from './mesh-metrics';
import { ReplayBuffer } from './replay-buffer';
import { backendKey } from './round-robin';

/** What one client connection needs from the frontend that accepted it. */
export interface TcpSessionDeps {
  log: Logger;
  metrics: FrontendMetrics;
  /** The backend to try next, given the keys (backendKey) of those tried already; undefined when none is left. */
  nextBackend: (tried: ReadonlySet<string>) => Backend | undefined;
  /** Every socket the session opens, so the dataplane can destroy it on close. */
  track: (socket: net.Socket) => void;
  /** Open connections per backend: each attempt holds one until its backend socket closes. */
  load: BackendLoad;
  /** Monotonic milliseconds, for connect latency and idleness. */
  now: () => number;
  /** The first backend connect completed, or the session ended before one did: it no longer counts as pending. */
  settled: () => void;
}

/** Settings of one client connection. */
export interface TcpSessionOptions {
  /** How long a backend connect may take before the next backend is tried. */
  connectTimeoutMs: number;
  /** Client bytes kept for a replay while the backend has not answered; past this the connection is committed. */
  replayBufferBytes: number;
  /** PROXY protocol header written to every backend before the client's bytes (replays included). */
  proxyHeader?: Buffer;
}

/**
 * - connecting: a backend connect is under way; what the client sends is held until it is done.
 * - unanswered: connected, no byte back yet, everything the client sent is held; a failure moves on.
 * - committed: the backend answered (or the client outgrew the buffer); bytes stream, a failure is final.
 * - done: the client is gone or was turned away.
 */
type Phase = 'connecting' | 'unanswered' | 'committed' | 'done';

/** How an attempt at a backend ended before a byte came back. */
interface Failure {
  stage: 'connect' | 'reply';
  /** The backend closed with a FIN (rather than a reset, an error or a timeout). */
  graceful: boolean;
  reason: string;
}

/**
 * One client connection through a TCP frontend. It connects to a backend,
 * moving on to the next one when the connect is refused or times out, and,
 * until the backend sends its first byte, holds what the client sent: a
 * backend that closes or resets before answering (its process just died) gets
 * the same bytes replayed to the next backend, each backend tried at most
 * once. Once the backend answered, or the client sent more than the replay
 * buffer holds, the connection is committed and streams both ways, half-closes
 * passed on, a reset on one side turned into a reset on the other.
 */
export class TcpSession {
  private phase: Phase = 'connecting';
  private readonly tried = new Set<string>();
  /** Null once committed or done: nothing is held any more. */
  private buffer: ReplayBuffer | null;
  private upstream: net.Socket | undefined;
  private backend: Backend | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private pending = true;
  /** When a byte last went either way (deps.now), for the idle timeout. */
  lastActive: number;

  constructor(
    private readonly client: net.Socket,
    private readonly deps: TcpSessionDeps,
    private readonly options: TcpSessionOptions,
  ) {
    this.buffer = new ReplayBuffer(options.replayBufferBytes);
    this.lastActive = deps.now();
  }

  /** Whether the session is over (client gone or turned away). */
  get done(): boolean {
    return this.phase === 'done';
  }

  /** Close both sides now, e.g. idle too long; the client sees a FIN. */
  close(): void {
    this.abandon(false);
  }

  /**
   * Sends an empty write to each side we stopped reading because the other
   * side is full. A reset from a peer we do not read shows only on the next
   * send, and there is none while the stream is stalled: without this, a
   * client that resets while its backend stopped reading (or the reverse)
   * would hold both connections until the stalled peer moves.
   */
  probeStalled(): void {
    if (this.phase !== 'unanswered' && this.phase !== 'committed') return;
    probeIfPaused(this.client);
    if (this.upstream) probeIfPaused(this.upstream);
  }

  /** Start on `first`. */
  start(first: Backend): void {
    const { client } = this;
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => this.clientEnded());
    client.on('error', (err) => this.clientFailed(err));
    client.once('close', () => this.clientClosed());
    this.attempt(first);
    // Read while connecting: the bytes wait in the replay buffer, and a client
    // that resets or leaves is noticed now rather than when the connect ends.
    client.resume();
  }

  private attempt(backend: Backend): void {
    this.phase = 'connecting';
    this.backend = backend;
    this.tried.add(backendKey(backend));
    let upstream: net.Socket;
    try {
      upstream = net.connect({ host: backend.address, port: backend.port, allowHalfOpen: true, noDelay: true });
    } catch (err) {
      // A port out of range throws at once; it is one bad backend, not a reason to crash the daemon.
      this.upstream = undefined;
      this.moveOn({ stage: 'connect', graceful: false, reason: errorText(err) });
      return;
    }
    this.upstream = upstream;
    this.deps.track(upstream);
    const release = this.deps.load.acquire(backend);
    const closedMetric = this.deps.metrics.backendOpened(backend.id);
    const startedAt = this.deps.now();
    upstream.once('close', () => {
      release();
      closedMetric();
    });
    upstream.once('connect', () => this.deps.metrics.connectLatency((this.deps.now() - startedAt) / 1000));
    const timeoutMs = this.options.connectTimeoutMs;
    this.connectTimer = setTimeout(
      () => this.failed(upstream, { stage: 'connect', graceful: false, reason: `connect timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    upstream.once('connect', () => this.connected(upstream));
    upstream.on('data', (chunk: Buffer) => this.fromUpstream(upstream, chunk));
    upstream.on('end', () => this.upstreamEnded(upstream));
    upstream.on('error', (err) => this.upstreamFailed(upstream, err));
    upstream.once('close', () => this.upstreamClosed(upstream));
  }

  private connected(upstream: net.Socket): void {
    if (upstream !== this.upstream || this.phase !== 'connecting' || !this.buffer) return;
    clearTimeout(this.connectTimer);
    this.phase = 'unanswered';
    this.settle();
    const { chunks, ended } = this.buffer;
    const header = this.options.proxyHeader;
    if (chunks.length > 0 || header) {
      upstream.cork();
      if (header) upstream.write(header);
      for (const chunk of chunks) upstream.write(chunk);
      upstream.uncork();
    }
    if (ended) upstream.end();
    else if (upstream.writableNeedDrain) upstream.once('drain', () => this.resumeClient(upstream));
    else this.client.resume();
  }

  /** No longer pending: counted once. */
  private settle(): void {
    if (!this.pending) return;
    this.pending = false;
    this.deps.settled();
  }

  private fromClient(chunk: Buffer): void {
    if (this.phase === 'done') return;
    this.lastActive = this.deps.now();
    const upstream = this.upstream;
    if (!upstream || this.phase === 'connecting') {
      if (this.buffer?.fits(chunk.length)) {
        this.deps.metrics.bytesIn(chunk.length);
        this.buffer.add(chunk);
      } else {
        // Too much to hold before any backend is connected: stop reading and
        // let this chunk come again once connected, where it commits the connection.
        this.client.pause();
        this.client.unshift(chunk);
      }
      return;
    }
    this.deps.metrics.bytesIn(chunk.length);
    if (this.buffer && !this.buffer.add(chunk)) this.commit();
    if (!upstream.write(chunk)) {
      this.client.pause();
      upstream.once('drain', () => this.resumeClient(upstream));
    }
  }

  private clientEnded(): void {
    this.buffer?.end();
    if (this.phase !== 'unanswered' && this.phase !== 'committed') return;
    unlessReset(this.client, () => {
      if (this.phase === 'unanswered' || this.phase === 'committed') this.upstream?.end();
    });
  }

  private resumeClient(upstream: net.Socket): void {
    if (upstream !== this.upstream) return;
    if (this.phase === 'unanswered' || this.phase === 'committed') this.client.resume();
  }

  private fromUpstream(upstream: net.Socket, chunk: Buffer): void {
    if (upstream !== this.upstream) return;
    this.lastActive = this.deps.now();
    if (this.phase === 'unanswered') this.commit();
    if (this.phase !== 'committed') return;
    this.deps.metrics.bytesOut(chunk.length);
    if (!this.client.write(chunk)) {
      upstream.pause();
      this.client.once('drain', () => upstream.resume());
    }
  }

  /** No replay from here on: let go of the held bytes. */
  private commit(): void {
    this.phase = 'committed';
    this.buffer = null;
  }

  private upstreamEnded(upstream: net.Socket): void {
    if (upstream !== this.upstream) return;
    if (this.phase === 'unanswered') {
      this.failed(upstream, { stage: 'reply', graceful: true, reason: 'closed before replying' });
    } else if (this.phase === 'committed') {
      unlessReset(upstream, () => {
        if (this.phase === 'committed' && upstream === this.upstream) this.client.end();
      });
    }
  }

  private upstreamFailed(upstream: net.Socket, err: Error): void {
    if (upstream !== this.upstream) return;
    if (this.phase === 'connecting' || this.phase === 'unanswered') {
      const stage = this.phase === 'connecting' ? 'connect' : 'reply';
      this.failed(upstream, { stage, graceful: false, reason: err.message });
    } else if (this.phase === 'committed') {
      this.deps.log.debug({ backend: this.backend?.id, err }, 'backend connection failed after it answered');
      this.phase = 'done';
      // The client must see that the stream broke, not a clean end that looks like a complete reply.
      if (!this.client.destroyed) this.client.resetAndDestroy();
    }
  }

  private upstreamClosed(upstream: net.Socket): void {
    if (upstream !== this.upstream) return;
    // Without an 'error' or 'end' first: destroyed from outside (the dataplane closing).
    if (this.phase === 'connecting' || this.phase === 'unanswered') {
      const stage = this.phase === 'connecting' ? 'connect' : 'reply';
      this.failed(upstream, { stage, graceful: false, reason: 'closed' });
    }
  }

  /** The current backend failed before answering: try the next one with the held bytes, or give up. */
  private failed(upstream: net.Socket, failure: Failure): void {
    if (upstream !== this.upstream || this.phase === 'done') return;
    clearTimeout(this.connectTimer);
    this.upstream = undefined;
    upstream.destroy();
    this.moveOn(failure);
  }

  /** After a failure: the next untried live backend gets the held bytes, or the client is turned away. */
  private moveOn(failure: Failure): void {
    const { log, metrics } = this.deps;
    if (failure.stage === 'connect') {
      metrics.connectError();
      if (this.backend) metrics.backendConnectError(this.backend.id);
    }
    log.debug(
      { backend: this.backend?.id, reason: failure.reason },
      failure.stage === 'connect' ? 'backend connect failed' : 'backend closed before replying',
    );
    if (this.client.destroyed) {
      this.phase = 'done';
      this.settle();
      return;
    }
    const next = this.deps.nextBackend(this.tried);
    if (!next) {
      this.giveUp(failure);
      return;
    }
    if (failure.stage === 'connect') metrics.retry();
    else metrics.replay();
    this.attempt(next);
  }

  /** Every backend failed: close the client the way the last one closed on us. */
  private giveUp(failure: Failure): void {
    this.phase = 'done';
    this.settle();
    this.buffer = null;
    this.deps.log.debug('no backend left to try; client turned away');
    if (failure.graceful) this.client.end(() => this.client.destroy());
    else this.client.resetAndDestroy();
  }

  private clientFailed(err: Error): void {
    this.deps.log.debug({ err }, 'client connection error');
    this.abandon(true);
  }

  private clientClosed(): void {
    // A clean close of a committed connection follows both FINs: the backend side is ending by itself.
    if (this.phase !== 'committed') this.abandon(false);
  }

  /** The client is gone: drop the backend side, passing a reset on when the client reset. */
  private abandon(reset: boolean): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.settle();
    this.buffer = null;
    clearTimeout(this.connectTimer);
    const upstream = this.upstream;
    if (upstream && !upstream.destroyed) {
      if (reset && !upstream.connecting) upstream.resetAndDestroy();
      else upstream.destroy();
    }
    if (!this.client.destroyed) this.client.destroy();
  }
}

/** Nothing to send: a write the kernel still checks the connection for. */
const EMPTY = Buffer.alloc(0);

/**
 * Runs `then` once the peer that just ended `socket`'s stream is known not to
 * have reset it. Linux reports a reset that arrives while bytes wait unread
 * as a plain end of stream once they are read, and passing that on as a FIN
 * would make a cut stream look complete to the other side. A write still
 * fails after a reset, so an empty one tells the two apart; its error goes to
 * the socket's 'error' handler, which passes the reset on.
 */
function unlessReset(socket: net.Socket, then: () => void): void {
  if (socket.destroyed) return;
  // Our side already sent its FIN: nothing can be written to ask, so take the end as it came.
  if (socket.writableEnded) return then();
  socket.write(EMPTY, (err) => {
    if (!err) then();
  });
}

/** An empty write to a socket we are not reading, when its sending side is still open; a reset comes back as its 'error'. */
function probeIfPaused(socket: net.Socket): void {
  if (socket.isPaused() && !socket.destroyed && !socket.writableEnded) socket.write(EMPTY);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
