import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Backend, Frontend } from '../../table/table';
import type { FrontendListener, FrontendListenerDeps } from './frontend-listener';
import type { FrontendMetrics } from './mesh-metrics';
import { BackendLoad } from './backend-load';
import { balancerFor, rebalance } from './balancer';
import type { Balancer } from './balancer';

/** Settings of a UDP frontend. */
export interface UdpFrontendOptions {
  /** A flow with no datagram either way for this long is forgotten and its socket closed. */
  idleTimeoutMs: number;
  /** How often idle flows are looked for. */
  sweepIntervalMs: number;
  listenerId: number;
}

/** Datagrams a flow holds while its backend socket is still connecting; more are dropped, as a full queue would. */
const MAX_PENDING_DATAGRAMS = 64;

/** One client (addr:port) talking to one backend through its own connected socket. */
interface Flow {
  client: { address: string; port: number };
  backend: Backend;
  socket: dgram.Socket;
  /** Datagrams waiting for the connect; null once connected. */
  pending: Buffer[] | null;
  lastSeen: number;
  metrics: FrontendMetrics;
  closed: boolean;
  /** Gives back the flow's place in the backend's load and active-flow gauge. */
  release: () => void;
  /** Send callbacks made once per flow, so a datagram allocates no closure. */
  onSentToBackend: (err: Error | null) => void;
  onSentToClient: (err: Error | null) => void;
}

/**
 * A UDP frontend: one socket bound to address:port, and per client a flow with
 * a connected socket towards a backend picked round-robin. Replies go back out
 * of the frontend socket, so the client sees them come from the address it
 * sent to. Flows expire when idle and move to a live backend when theirs
 * leaves the table or drains.
 */
export class UdpFrontend implements FrontendListener {
  readonly listenerId: number;
  private readonly socket: dgram.Socket;
  private readonly flows = new Map<string, Flow>();
  private balancer: Balancer;
  private readonly load = new BackendLoad();
  private readonly log: Logger;
  private readonly family: 'udp4' | 'udp6';
  private metrics: FrontendMetrics;
  private frontend: Frontend;
  private sweepTimer: NodeJS.Timeout | undefined;
  private bound = false;
  private closed = false;

  constructor(
    frontend: Frontend,
    private readonly deps: FrontendListenerDeps,
    private readonly options: UdpFrontendOptions,
  ) {
    this.frontend = frontend;
    this.listenerId = options.listenerId;
    this.log = deps.logger.child({ frontend: frontend.id });
    this.metrics = deps.metricsFor(frontend.service, 'udp');
    this.balancer = balancerFor(frontend, { load: this.load, now: this.deps.now });
    this.load.limit = frontend.lb?.maxConnectionsPerBackend ?? 0;
    this.family = isIPv6(frontend.address) ? 'udp6' : 'udp4';
    this.socket = dgram.createSocket({ type: this.family, lookup: literalLookup });
    this.socket.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
  }

  get activeCount(): number {
    return this.flows.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.close();
        reject(err);
      };
      this.socket.once('error', onError);
      this.socket.bind({ address: this.frontend.address, port: this.frontend.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.bound = true;
        this.socket.on('error', (err) => this.log.warn({ err }, 'udp frontend error'));
        this.sweepTimer = setInterval(() => this.sweep(), this.options.sweepIntervalMs);
        // The bound socket keeps the process alive; the sweeper alone must not.
        this.sweepTimer.unref();
        resolve();
      });
    });
  }

  update(frontend: Frontend): void {
    if (frontend.service !== this.frontend.service) this.metrics = this.deps.metricsFor(frontend.service, 'udp');
    this.balancer = rebalance(this.balancer, this.frontend, frontend, { load: this.load, now: this.deps.now });
    this.frontend = frontend;
    this.load.limit = frontend.lb?.maxConnectionsPerBackend ?? 0;
  }


  /** Unbind and drop every flow: without the frontend socket no reply could reach its client anyway. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const flow of this.flows.values()) this.endFlow(flow);
    try {
      this.socket.close();
    } catch {
      // Never bound (the bind failed before the socket started): nothing to release.
    }
    this.bound = false;
  }

  /** Forget flows idle for at least the idle timeout. */
  private sweep(): void {
    const now = this.deps.now();
    for (const flow of this.flows.values()) {
      if (now - flow.lastSeen >= this.options.idleTimeoutMs) {
        this.log.debug({ client: flow.client, backend: flow.backend.id }, 'udp flow expired');
        this.endFlow(flow);
      }
    }
  }

  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.flows.get(key);
    if (flow && !this.balancer.isLive(flow.backend)) {
      // Its backend left or drains: the client keeps talking to the service, on another task.
      flow.release();
      const moved = this.balancer.pick(rinfo.address, new Set());
      this.log.debug({ client: key, from: flow.backend.id, to: moved?.id }, 'udp flow moves');
      const { metrics } = flow;
      this.endFlow(flow, !!moved);
      flow = moved ? this.openFlow(key, rinfo, moved, metrics) : undefined;
      if (!flow) return;
    }
    if (!flow) {
      const backend = this.balancer.pick(rinfo.address, new Set());
      if (!backend) {
        if (this.balancer.fullOnly(new Set())) this.metrics.limitRejected('backend');
        this.log.debug({ client: key }, 'no backend for new udp flow; datagram dropped');
        return;
      }
      const metrics = this.metrics;
      metrics.opened();
      flow = this.openFlow(key, rinfo, backend, metrics);
    }
    flow.lastSeen = this.deps.now();
    flow.metrics.bytesIn(msg.length);
    if (flow.pending) {
      if (flow.pending.length < MAX_PENDING_DATAGRAMS) flow.pending.push(msg);
      return;
    }
    this.toBackend(flow, msg);
  }

  private openFlow(key: string, rinfo: dgram.RemoteInfo, backend: Backend, metrics: FrontendMetrics): Flow {
    const socket = dgram.createSocket({ type: this.family });
    const flow: Flow = {
      client: { address: rinfo.address, port: rinfo.port },
      backend,
      socket,
      pending: [],
      lastSeen: this.deps.now(),
      metrics,
      closed: false,
      release: () => undefined,
      onSentToBackend: (err) => {
        if (err) this.flowFailed(flow, err);
      },
      onSentToClient: (err) => {
        if (err) this.log.debug({ err, client: key }, 'udp send to client failed');
      },
    };
    const releaseLoad = this.load.acquire(backend);
    const releaseMetric = metrics.backendOpened(backend.id);
    flow.release = () => {
      releaseLoad();
      releaseMetric();
    };
    this.flows.set(key, flow);
    socket.on('message', (reply) => {
      if (flow.closed || !this.bound) return;
      flow.lastSeen = this.deps.now();
      flow.metrics.bytesOut(reply.length);
      this.socket.send(reply, flow.client.port, flow.client.address, flow.onSentToClient);
    });
    // On a connected socket the kernel reports the backend's ICMP port
    // unreachable as ECONNREFUSED: drop the flow so the client's next
    // datagram starts a new one on the next backend.
    socket.on('error', (err) => this.flowFailed(flow, err));
    // @types/node omits it, but dgram hands a failed connect to this callback.
    socket.connect(backend.port, backend.address, (err?: Error) => {
      if (flow.closed) return;
      if (err) return this.flowFailed(flow, err);
      const queued = flow.pending ?? [];
      flow.pending = null;
      for (const msg of queued) this.toBackend(flow, msg);
    });
    return flow;
  }

  private toBackend(flow: Flow, msg: Buffer): void {
    flow.socket.send(msg, flow.onSentToBackend);
  }

  private flowFailed(flow: Flow, err: Error): void {
    if (flow.closed) return;
    flow.metrics.connectError();
    flow.metrics.backendConnectError(flow.backend.id);
    this.log.debug({ err, client: flow.client, backend: flow.backend.id }, 'udp flow to backend failed');
    this.endFlow(flow);
  }

  /** Close a flow's socket; `replaced` keeps it counted as active because the client's flow lives on elsewhere. */
  private endFlow(flow: Flow, replaced = false): void {
    if (flow.closed) return;
    flow.closed = true;
    const key = `${flow.client.address}:${flow.client.port}`;
    if (this.flows.get(key) === flow) this.flows.delete(key);
    flow.release();
    if (!replaced) flow.metrics.closed();
    try {
      flow.socket.close();
    } catch {
      // Already closed by an error.
    }
  }
}

/**
 * dgram resolves the destination of every `send`, and Node's lookup answers
 * even an IP literal on the next tick; replies go to the client's IP literal,
 * so answer those at once.
 */
function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dns.lookup(hostname, options, callback);
}
