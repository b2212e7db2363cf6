import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Backend, Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics } from './mesh-metrics';
import { FrontendBalancing } from './frontend-balancing';
import { createBatchUdpSocket, type BatchUdpSocket, type DatagramBatch, type UdpFamily } from '../../../native/batch-udp-socket';
import { loadNative, type NativeAddon } from '../../../native/native';
import { udpAddressText, udpPeerKey, type UdpAddress, type UdpPeerKey } from '../../../native/udp-address';

/** Settings of a UDP frontend. */
export interface UdpFrontendOptions {
  /** A flow with no datagram either way for this long is forgotten and its socket closed. */
  idleTimeoutMs: number;
  /** How often idle flows are looked for. */
  sweepIntervalMs: number;
  listenerId: number;
  /**
   * The addon for batched UDP I/O (recvmmsg/sendmmsg); null forces Node's
   * dgram. Default: loadNative(). IPv6 frontends always use dgram.
   */
  native?: NativeAddon | null;
}

/** One client (addr:port) talking to one backend through its own connected socket. */
interface Flow {
  key: UdpPeerKey;
  /** The client's address as its socket reports it, to send replies to without converting it. */
  clientAddress: UdpAddress;
  clientPort: number;
  backend: Backend;
  socket: BatchUdpSocket;
  lastSeen: number;
  metrics: FrontendMetrics;
  closed: boolean;
  /** Gives back the flow's place in the backend's load and active-flow gauge. */
  release: () => void;
}

/**
 * A UDP frontend: one socket bound to address:port, and per client a flow with
 * a connected socket towards a backend picked round-robin. Replies go back out
 * of the frontend socket, so the client sees them come from the address it
 * sent to. Flows expire when idle and move to a live backend when theirs
 * leaves the table or drains. Datagrams arrive and leave in batches when the
 * native addon is there (one recvmmsg/sendmmsg per batch instead of a syscall
 * per datagram).
 */
export class UdpFrontend implements FrontendListener {
  readonly listenerId: number;
  private readonly lb: FrontendBalancing;
  private readonly socket: BatchUdpSocket;
  private readonly flows = new Map<UdpPeerKey, Flow>();
  private readonly log: Logger;
  private readonly family: UdpFamily;
  private readonly native: NativeAddon | null;
  private sweepTimer: NodeJS.Timeout | undefined;
  private bound = false;
  private closed = false;

  constructor(
    frontend: Frontend,
    private readonly deps: FrontendListenerDeps,
    private readonly options: UdpFrontendOptions,
  ) {
    this.lb = new FrontendBalancing(frontend, deps);
    this.listenerId = options.listenerId;
    this.log = deps.logger.child({ frontend: frontend.id });
    this.family = isIPv6(frontend.address) ? 'udp6' : 'udp4';
    this.native = options.native === undefined ? loadNative() : options.native;
    this.socket = createBatchUdpSocket(
      this.family,
      {
        onBatch: (batch) => this.fromClients(batch),
        onError: (err) => {
          // A failed reply to one client is that client's loss; anything else concerns the frontend.
          if (err.syscall === 'send') this.log.debug({ err }, 'udp send to client failed');
          else this.log.warn({ err }, 'udp frontend error');
        },
      },
      this.native,
    );
  }

  get activeCount(): number {
    return this.flows.size;
  }

  /** Which socket implementation carries the datagrams: `native` (batched) or `dgram`. */
  get socketKind(): BatchUdpSocket['kind'] {
    return this.socket.kind;
  }

  async listen(): Promise<void> {
    try {
      await this.socket.bind(this.lb.frontend.address, this.lb.frontend.port);
    } catch (err) {
      this.close();
      throw err;
    }
    this.bound = true;
    this.log.debug({ socket: this.socket.kind }, 'udp frontend bound');
    this.sweepTimer = setInterval(() => this.sweepIdle(), this.options.sweepIntervalMs);
    // The bound socket keeps the process alive; the sweeper alone must not.
    this.sweepTimer.unref();
  }

  update(frontend: Frontend): void {
    this.lb.update(frontend);
  }

  /** Unbind and drop every flow: without the frontend socket no reply could reach its client anyway. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const flow of this.flows.values()) this.endFlow(flow);
    this.socket.close();
    this.bound = false;
  }

  /** Forget flows idle for at least the idle timeout: what the sweep timer runs, public for tests driving a fake clock. */
  sweepIdle(): void {
    const now = this.deps.now();
    for (const flow of this.flows.values()) {
      if (now - flow.lastSeen >= this.options.idleTimeoutMs) {
        this.log.debug({ client: udpAddressText(flow.clientAddress), port: flow.clientPort, backend: flow.backend.id }, 'udp flow expired');
        this.endFlow(flow);
      }
    }
  }

  /** One batch from clients: the clock is read once, each datagram goes to its flow's backend socket. */
  private fromClients(batch: DatagramBatch): void {
    if (this.closed) return;
    const now = this.deps.now();
    for (let i = 0; i < batch.count; i++) {
      const address = batch.address(i);
      const port = batch.port(i);
      const flow = this.flowFor(udpPeerKey(address, port), address, port, now);
      if (!flow) continue;
      const length = batch.length(i);
      flow.lastSeen = now;
      flow.metrics.bytesIn(length);
      flow.socket.send(batch.data, batch.offset(i), length);
    }
  }

  /** The client's live flow, a new one, or undefined when no backend takes it (the datagram is dropped). */
  private flowFor(key: UdpPeerKey, address: UdpAddress, port: number, now: number): Flow | undefined {
    const flow = this.flows.get(key);
    if (flow && this.lb.balancer.isLive(flow.backend)) return flow;
    const client = udpAddressText(address);
    if (flow) {
      // Its backend left or drains: the client keeps talking to the service, on another task.
      flow.release();
      const moved = this.lb.balancer.pick(client, new Set());
      this.log.debug({ client, port, from: flow.backend.id, to: moved?.id }, 'udp flow moves');
      const { metrics } = flow;
      this.endFlow(flow, !!moved);
      return moved ? this.openFlow(key, address, port, moved, metrics, now) : undefined;
    }
    const backend = this.lb.balancer.pick(client, new Set());
    if (!backend) {
      if (this.lb.balancer.fullOnly(new Set())) this.lb.metrics.limitRejected('backend');
      this.log.debug({ client, port }, 'no backend for new udp flow; datagram dropped');
      return undefined;
    }
    const metrics = this.lb.metrics;
    metrics.opened();
    return this.openFlow(key, address, port, backend, metrics, now);
  }

  private openFlow(
    key: UdpPeerKey,
    address: UdpAddress,
    port: number,
    backend: Backend,
    metrics: FrontendMetrics,
    now: number,
  ): Flow {
    const flow: Flow = {
      key,
      clientAddress: address,
      clientPort: port,
      backend,
      socket: undefined as unknown as BatchUdpSocket,
      lastSeen: now,
      metrics,
      closed: false,
      release: () => undefined,
    };
    flow.socket = createBatchUdpSocket(
      this.family,
      {
        onBatch: (batch) => this.fromBackend(flow, batch),
        // On a connected socket the kernel reports the backend's ICMP port
        // unreachable as ECONNREFUSED: drop the flow so the client's next
        // datagram starts a new one on the next backend.
        onError: (err) => this.flowFailed(flow, err),
      },
      this.native,
    );
    const releaseLoad = this.lb.load.acquire(backend);
    const releaseMetric = metrics.backendOpened(backend.id);
    flow.release = () => {
      releaseLoad();
      releaseMetric();
    };
    this.flows.set(key, flow);
    flow.socket.connect(backend.address, backend.port);
    return flow;
  }

  /** Replies from a flow's backend, out of the frontend socket to the flow's client. */
  private fromBackend(flow: Flow, batch: DatagramBatch): void {
    if (flow.closed || !this.bound) return;
    flow.lastSeen = this.deps.now();
    let bytes = 0;
    for (let i = 0; i < batch.count; i++) {
      const length = batch.length(i);
      bytes += length;
      this.socket.send(batch.data, batch.offset(i), length, flow.clientPort, flow.clientAddress);
    }
    flow.metrics.bytesOut(bytes);
  }

  private flowFailed(flow: Flow, err: Error): void {
    if (flow.closed) return;
    flow.metrics.connectError();
    flow.metrics.backendConnectError(flow.backend.id);
    this.log.debug({ err, client: udpAddressText(flow.clientAddress), port: flow.clientPort, backend: flow.backend.id }, 'udp flow to backend failed');
    this.endFlow(flow);
  }

  /** Close a flow's socket; `replaced` keeps it counted as active because the client's flow lives on elsewhere. */
  private endFlow(flow: Flow, replaced = false): void {
    if (flow.closed) return;
    flow.closed = true;
    if (this.flows.get(flow.key) === flow) this.flows.delete(flow.key);
    flow.release();
    if (!replaced) flow.metrics.closed();
    flow.socket.close();
  }
}
