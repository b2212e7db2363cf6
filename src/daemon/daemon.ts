import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Agent } from '../agent/agent';
import { ClusterView } from '../agent/cluster-view';
import { ProcessExecutor } from '../agent/executor/process-executor';
import { PORT_READY_TIMEOUT_MS } from '../agent/executor/port-readiness';
import type { PortRange } from '../agent/executor/host-ports';
import { ApiClient, parseEndpoint } from '../api/client';
import type { Info, RegisterResponse, SwarmInitRequest, SwarmInitResponse, SwarmJoinRequest } from '../api/contract';
import { Router, sendJson } from '../api/router';
import { AlreadyInSwarmError, DaemonRunningError, InvalidArgumentError, ListenError, NotInSwarmError, NotManagerError, ShoalError, UnauthorizedError, asShoalError } from '../errors';
import { hostResources } from '../manager/dispatcher/dispatcher';
import { Manager } from '../manager/manager';
import { UserspaceDataplane } from '../mesh/dataplane/userspace/userspace-dataplane';
import { DnsServer } from '../mesh/dns/server';
import { parseUpstream } from '../mesh/dns/upstream';
import { Mesh } from '../mesh/mesh';
import { WalStore } from '../store/wal-store';
import { loadSwarmState, saveSwarmState, type SwarmState } from './swarm-state';
import { NetworkAgent } from '../agent/network/network-agent';
import type { TaskSandbox } from '../agent/executor/process-executor';
import { chooseDataplane, type DataplaneChoice, type DataplaneRequest } from '../mesh/dataplane/select';
import type { NetworkMode } from '../mesh/table/service-vip';
import type { Dataplane } from '../mesh/table/table';
import { gauge } from '../metrics/registry';
import { hasNetAdmin } from '../net/capabilities';
import { Overlay } from '../net/overlay';
import { DEFAULT_TASK_NETNS_PREFIX, DEFAULT_VXLAN_PORT } from '../net/overlay-plan';
import { kernelDataplanes } from './kernel-dataplanes';
import { serveTaskLogs } from './task-logs-endpoint';
import { nativeLoadResult } from '../native/native';
import { registerNativeStatus } from '../native/native-metrics';

/** Settings of one node daemon (`shoal daemon` flags). */
export interface DaemonOptions {
  /** Address the node's mesh, DNS, metrics and manager API listen on. */
  address: string;
  stateDir: string;
  /** Local control socket; default `<stateDir>/shoal.sock`. */
  socketPath?: string;
  hostname: string;
  labels: Record<string, string>;
  dnsPort: number;
  metricsPort: number;
  /** Manager API TCP port (managers only). */
  apiPort: number;
  heartbeatMs: number;
  /** Initialise a new swarm on first start (no-op when the state dir has one). */
  init: boolean;
  /** Join a swarm on first start. */
  join?: { addr: string; token: string };
  dnsUpstreams?: string[];
  dnsTtl?: number;
  /** Tasks on the node's loopback addresses, or in namespaces on overlays [loopback]. */
  networkMode?: NetworkMode;
  /** Which dataplane to run [auto]. */
  dataplane?: DataplaneRequest;
  /** UDP port of the VXLAN overlay [4789]. */
  vxlanPort?: number;
  /** Threads of the userspace TCP relay when the native addon is loaded [1]. */
  relayThreads?: number;
  /** Prefix of task namespace names [shoal-t-]. */
  netnsPrefix?: string;
  /** Ports tasks get in loopback mode, reserved host-wide [20000-32767]. */
  taskPortRange?: PortRange;
}

/** Dependencies of a daemon. */
export interface DaemonDeps {
  logger: Logger;
  now: () => number;
}

/** Routes worker-token holders may call; everything else needs the manager token. */
const WORKER_ROUTES = [/^\/v1\/watch$/, /^\/v1\/dispatcher\//, /^\/v1\/info$/];

/**
 * One `shoal daemon`: the local control socket, the node's HTTP endpoint
 * (/metrics, /healthz, task logs), its DNS server, agent and mesh, and on a
 * manager the store, the manager loops and the manager API on TCP.
 */
export class Daemon {
  readonly registry = new Registry();
  private readonly logger: Logger;
  private local: http.Server | null = null;
  private nodeHttp: http.Server | null = null;
  private apiServer: http.Server | null = null;
  private dns: DnsServer | null = null;
  private executor: ProcessExecutor;
  private dataplane: Dataplane;
  private dataplaneChoice: DataplaneChoice = { name: 'userspace', passedOver: [] };
  private network: NetworkAgent | null = null;
  /** DNS servers on this node's overlay addresses (netns mode), by address. */
  private overlayDns = new Map<string, DnsServer>();
  private readonly networkMode: NetworkMode;
  private store: WalStore | null = null;
  private manager: Manager | null = null;
  private managerRouter: Router | null = null;
  private client: ApiClient | null = null;
  private view: ClusterView | null = null;
  private agent: Agent | null = null;
  private mesh: Mesh | null = null;
  private swarm: SwarmState | undefined;
  /** Token nodes present to fetch task logs from this node (the cluster's worker token). */
  private logToken: string | null = null;
  private readonly socketPath: string;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly deps: DaemonDeps,
    private readonly options: DaemonOptions,
  ) {
    this.logger = deps.logger;
    this.socketPath = options.socketPath ?? path.join(options.stateDir, 'shoal.sock');
    this.networkMode = options.networkMode ?? 'loopback';
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_' });
    const native = nativeLoadResult();
    registerNativeStatus(this.registry, native);
    this.logger.info({ native: native.status, reason: native.reason }, native.addon ? 'native UDP batching loaded' : 'native addon not used: UDP goes through dgram');
    const daemon = this;
    gauge(this.registry, {
      name: 'shoal_mesh_dataplane_info',
      help: 'The dataplane this node runs (value 1), and the ones it passed over (value 0, reason label)',
      labelNames: ['dataplane', 'reason'],
      collect() {
        this.reset();
        this.set({ dataplane: daemon.dataplaneChoice.name, reason: '' }, 1);
        for (const p of daemon.dataplaneChoice.passedOver) this.set({ dataplane: p.name, reason: p.reason }, 0);
      },
    });
    this.executor = this.newExecutor();
    this.dataplane = this.newDataplane();
  }

  private newExecutor(): ProcessExecutor {
    const sandbox: TaskSandbox | undefined =
      this.networkMode === 'netns'
        ? {
            prepare: (task) => (this.network ? this.network.prepare(task) : Promise.reject(new NotInSwarmError('the node has not joined a swarm'))),
            release: async (task) => this.network?.release(task),
          }
        : undefined;
    return new ProcessExecutor(
      { logger: this.logger.child({ component: 'executor' }), now: this.deps.now, sandbox },
      { stateDir: this.options.stateDir, portReadyTimeoutMs: PORT_READY_TIMEOUT_MS, taskPortRange: this.options.taskPortRange },
    );
  }

  private newDataplane(): Dataplane {
    const userspace = new UserspaceDataplane(
      { logger: this.logger.child({ component: 'dataplane' }), registry: this.registry, now: this.deps.now },
      { threads: this.options.relayThreads },
    );
    if (this.dataplaneChoice.name === 'userspace') return userspace;
    return kernelDataplanes.create(this.dataplaneChoice.name, userspace, { logger: this.logger.child({ component: 'dataplane' }), registry: this.registry });
  }

  /** Probes the kernel dataplanes and picks one (netns mode), logging why better ones were passed over. */
  private async chooseDataplane(): Promise<void> {
    const request = this.options.dataplane ?? 'auto';
    if (this.networkMode === 'loopback') {
      if (request === 'ipvs' || request === 'nftables') throw new InvalidArgumentError(`--dataplane ${request} needs --network-mode netns`);
      this.dataplaneChoice = { name: 'userspace', passedOver: [{ name: 'ipvs', reason: 'loopback network mode' }, { name: 'nftables', reason: 'loopback network mode' }] };
      return;
    }
    const wanted = request === 'auto' ? (['ipvs', 'nftables'] as const) : request === 'userspace' ? [] : [request];
    const probes: Parameters<typeof chooseDataplane>[1] = {};
    for (const name of wanted) probes[name] = await kernelDataplanes.probe(name);
    this.dataplaneChoice = chooseDataplane(request, probes);
    for (const p of this.dataplaneChoice.passedOver) this.logger.info({ dataplane: p.name, reason: p.reason }, `dataplane ${p.name} passed over`);
    this.logger.info({ dataplane: this.dataplaneChoice.name }, 'dataplane chosen');
    await this.dataplane.close();
    this.dataplane = this.newDataplane();
  }

  /** Netns mode needs CAP_NET_ADMIN and packet forwarding between the overlay and the node. */
  private async prepareNetns(): Promise<void> {
    if (this.networkMode !== 'netns') return;
    if (!hasNetAdmin()) throw new InvalidArgumentError('--network-mode netns needs CAP_NET_ADMIN (run as root), or use --network-mode loopback');
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
    // The node forwards balanced traffic back out of the bridge it came in on;
    // ICMP redirects would teach clients to bypass it.
    for (const conf of ['all', 'default']) await writeFile(`/proc/sys/net/ipv4/conf/${conf}/send_redirects`, '0\n');
  }

  /** Keeps one DNS server on each of this node's overlay addresses, port 53 (resolv.conf has no port). */
  private async syncOverlayDns(addresses: string[]): Promise<void> {
    for (const [addr, server] of this.overlayDns) {
      if (!addresses.includes(addr)) {
        this.overlayDns.delete(addr);
        await server.close();
      }
    }
    for (const addr of addresses) {
      if (this.overlayDns.has(addr) || (addr === this.options.address && this.options.dnsPort === 53)) continue;
      const server = this.newDnsServer(addr, 53);
      this.overlayDns.set(addr, server);
      await server.listen().catch((err: Error) => {
        this.overlayDns.delete(addr);
        this.logger.error({ address: addr, err: err.message }, 'DNS cannot listen on the overlay address');
      });
    }
  }

  private newDnsServer(address: string, port: number): DnsServer {
    return new DnsServer(
      { logger: this.logger.child({ component: 'dns' }), registry: this.registry, getView: () => this.mesh?.getDnsView() ?? { services: new Map() } },
      { address, port, ttl: this.options.dnsTtl, upstreams: this.options.dnsUpstreams?.map(parseUpstream) },
    );
  }

  /** Addresses this node serves, for `GET /v1/info`. */
  info(): Info {
    return {
      nodeId: this.agent?.nodeId ?? this.swarm?.nodeId ?? null,
      swarm: this.swarm ? 'active' : 'inactive',
      role: this.swarm?.role ?? null,
      isManager: !!this.manager,
      managerAddr: this.swarm?.managerAddr ?? null,
      address: this.options.address,
      dns: `${this.options.address}:${this.options.dnsPort}`,
      networkMode: this.networkMode,
      dataplane: this.dataplaneChoice,
      metrics: `http://${this.options.address}:${this.options.metricsPort}/metrics`,
    };
  }

  /** Open every listener and resume (or start) swarm membership. */
  async start(): Promise<void> {
    await mkdir(this.options.stateDir, { recursive: true });
    await this.listenLocal();
    await this.listenNodeHttp();
    await this.prepareNetns();
    await this.chooseDataplane();
    this.dns = this.newDnsServer(this.options.address, this.options.dnsPort);
    await this.dns.listen();
    this.swarm = await loadSwarmState(this.options.stateDir);
    if (this.swarm) await this.activate(this.swarm);
    else if (this.options.init) await this.swarmInit({});
    else if (this.options.join) await this.swarmJoin({ remoteAddr: this.options.join.addr, token: this.options.join.token });
    this.logger.info(this.info(), 'daemon started');
  }

  private async listenLocal(): Promise<void> {
    // A socket file that still answers belongs to a live daemon; a dead one's is removed.
    const alive = await new Promise<boolean>((resolve) => {
      const s = net.connect(this.socketPath);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (alive) throw new DaemonRunningError(`another shoal daemon is already using ${this.socketPath}`);
    await unlink(this.socketPath).catch(() => undefined);
    const router = new Router(this.logger);
    router
      .on('GET', '/v1/info', () => this.info())
      .on('POST', '/v1/swarm/init', (c) => this.swarmInit((c.body ?? {}) as SwarmInitRequest))
      .on('POST', '/v1/swarm/join', (c) => this.swarmJoin(c.body as SwarmJoinRequest))
      .on('POST', '/v1/swarm/leave', (c) => this.swarmLeave(!!(c.body as { force?: boolean } | undefined)?.force));
    this.local = http.createServer((req, res) => {
      const p = (req.url ?? '').split('?')[0];
      if (p === '/v1/info' || p.startsWith('/v1/swarm/') && !p.startsWith('/v1/swarm/join-token')) return void router.handle(req, res, 'local');
      if (!this.managerRouter) {
        const e = new NotManagerError('this node is not a swarm manager: run the command on a manager, or `shoal swarm init` first');
        return sendJson(res, e.status, { error: { code: e.code, message: e.message } });
      }
      void this.managerRouter.handle(req, res, 'local');
    });
    await new Promise<void>((resolve, reject) => {
      this.local!.once('error', reject);
      this.local!.listen(this.socketPath, () => resolve());
    });
  }

  private async listenNodeHttp(): Promise<void> {
    this.nodeHttp = http.createServer((req, res) => void this.serveNodeHttp(req, res));
    await listen(this.nodeHttp, this.options.metricsPort, this.options.address, 'metrics');
  }

  private async serveNodeHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/metrics') {
        const body = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType });
        return void res.end(body);
      }
      if (url.pathname === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('ok\n');
      }
      const m = /^\/v1\/tasks\/([a-z0-9]+)\/logs$/.exec(url.pathname);
      if (m) {
        if (!this.logToken || req.headers.authorization !== `Bearer ${this.logToken}`) throw new UnauthorizedError('a valid token is required');
        return await serveTaskLogs(this.executor, m[1], url.searchParams, req, res);
      }
      sendJson(res, 404, { error: { code: 'SHOAL_ERR_NOT_FOUND', message: 'not found' } });
    } catch (err) {
      const e = asShoalError(err);
      if (res.headersSent) return void res.end();
      sendJson(res, e.status, { error: { code: e.code, message: e.message } });
    }
  }

  private managerAddr(advertise?: string): string {
    return `${advertise ?? this.options.address}:${this.options.apiPort}`;
  }

  /** `swarm init`: become the manager of a new swarm. */
  async swarmInit(req: SwarmInitRequest): Promise<SwarmInitResponse> {
    if (this.swarm) throw new AlreadyInSwarmError('this node is already part of a swarm; leave it first (shoal swarm leave)');
    if (req.advertiseAddr !== undefined && !/^[^:\s]+$/.test(req.advertiseAddr)) throw new InvalidArgumentError(`invalid advertise address "${req.advertiseAddr}"`);
    const cluster = await this.startManager(this.managerAddr(req.advertiseAddr));
    const state: SwarmState = { role: 'manager', managerAddr: cluster.managerAddr, token: cluster.tokens.manager };
    await saveSwarmState(this.options.stateDir, state);
    await this.activate(state);
    return {
      nodeId: this.agent?.nodeId ?? '',
      workerToken: cluster.tokens.worker,
      managerAddr: cluster.managerAddr,
      joinCommand: `shoal swarm join --token ${cluster.tokens.worker} ${cluster.managerAddr}`,
    };
  }

  /** `swarm join`: check the token with the manager, then become its node. */
  async swarmJoin(req: SwarmJoinRequest): Promise<Info> {
    if (this.swarm) throw new AlreadyInSwarmError('this node is already part of a swarm; leave it first (shoal swarm leave)');
    if (!req || typeof req.token !== 'string' || typeof req.remoteAddr !== 'string') throw new InvalidArgumentError('join needs a token and a manager address');
    const m = /^SHOAL-1-[a-z0-9]+-([wm])[a-z0-9]+$/.exec(req.token);
    if (!m) throw new InvalidArgumentError('invalid join token: it should look like SHOAL-1-...');
    if (m[1] === 'm') throw new InvalidArgumentError('joining as a manager needs a replicated store (etcd), which this version does not have; use the worker token');
    const endpoint = parseEndpoint(req.remoteAddr);
    if (endpoint.kind !== 'tcp') throw new InvalidArgumentError('the manager address must be host:port');
    const probe = new ApiClient(endpoint, { token: req.token, timeoutMs: 5_000 });
    try {
      // A heartbeat for no node: 401 for a bad token, "not found" for a good one.
      await probe.call('POST', '/v1/dispatcher/heartbeat', { nodeId: 'probe' });
    } catch (err) {
      if (err instanceof UnauthorizedError || !(err instanceof ShoalError) || err.code !== 'SHOAL_ERR_NOT_FOUND') throw err;
    } finally {
      await probe.close();
    }
    const state: SwarmState = { role: 'worker', managerAddr: `${endpoint.host}:${endpoint.port}`, token: req.token };
    await saveSwarmState(this.options.stateDir, state);
    await this.activate(state);
    return this.info();
  }

  /** `swarm leave`: stop every task and forget the swarm. A manager needs force. */
  async swarmLeave(force: boolean): Promise<Record<string, never>> {
    if (!this.swarm) throw new InvalidArgumentError('this node is not part of a swarm');
    if (this.manager && !force) {
      throw new InvalidArgumentError('this node is the manager; leaving removes the swarm and its state: use --force');
    }
    const wasManager = !!this.manager;
    await this.deactivate();
    await rm(path.join(this.options.stateDir, 'swarm.json'), { force: true });
    if (wasManager) await rm(path.join(this.options.stateDir, 'store'), { recursive: true, force: true });
    this.swarm = undefined;
    return {};
  }

  private async startManager(managerAddr: string) {
    this.store = await WalStore.open(path.join(this.options.stateDir, 'store'), {}, { logger: this.logger.child({ component: 'store' }), registry: this.registry });
    this.manager = new Manager(
      { store: this.store, logger: this.logger, registry: this.registry, now: this.deps.now },
      { heartbeatPeriodMs: this.options.heartbeatMs, probePorts: this.networkMode === 'loopback', networkMode: this.networkMode },
    );
    const cluster = await this.manager.init(managerAddr);
    const router = new Router(this.logger);
    router.on('GET', '/v1/info', () => this.info());
    this.manager.routes(router);
    this.managerRouter = router;
    this.apiServer = http.createServer((req, res) => {
      try {
        const role = this.manager!.roleForToken(req.headers.authorization);
        const p = (req.url ?? '').split('?')[0];
        if (role === 'worker' && !WORKER_ROUTES.some((re) => re.test(p))) throw new UnauthorizedError('the worker token only allows node operations');
      } catch (err) {
        const e = err as ShoalError;
        return sendJson(res, e.status ?? 401, { error: { code: e.code, message: e.message } });
      }
      void router.handle(req, res, 'node');
    });
    const [host, port] = [this.options.address, this.options.apiPort];
    await listen(this.apiServer, port, host, 'manager API');
    this.manager.run();
    return cluster;
  }

  private async activate(state: SwarmState): Promise<void> {
    this.swarm = state;
    if (state.role === 'manager' && !this.manager) await this.startManager(state.managerAddr);
    this.logToken = this.manager ? this.manager.clusterInfo().tokens.worker : null;
    this.client = new ApiClient(parseEndpoint(state.managerAddr), { token: state.token, timeoutMs: 10_000 });
    this.view = new ClusterView({ client: this.client, logger: this.logger.child({ component: 'view' }), networkMode: this.networkMode });
    this.agent = new Agent(
      {
        client: this.client,
        view: this.view,
        executor: this.executor,
        logger: this.logger,
        now: this.deps.now,
        registry: this.registry,
        onRegistered: (res: RegisterResponse) => {
          if (res.logToken) this.logToken = res.logToken;
          if (this.swarm && this.swarm.nodeId !== res.nodeId) {
            this.swarm = { ...this.swarm, nodeId: res.nodeId };
            void saveSwarmState(this.options.stateDir, this.swarm);
          }
        },
      },
      {
        registration: {
          nodeId: state.nodeId,
          hostname: this.options.hostname,
          address: this.options.address,
          role: state.role,
          labels: this.options.labels,
          platform: { os: os.platform(), arch: os.arch() },
          resources: hostResources(),
          ports: { dns: this.options.dnsPort, metrics: this.options.metricsPort },
          networking: { mode: this.networkMode, dataplane: this.dataplaneChoice.name, passedOver: this.dataplaneChoice.passedOver },
        },
        dnsAddress: `${this.options.address}:${this.options.dnsPort}`,
      },
    );
    if (this.networkMode === 'netns') {
      const overlay = new Overlay(
        { logger: this.logger.child({ component: 'overlay' }) },
        { underlayAddress: this.options.address, vxlanPort: this.options.vxlanPort ?? DEFAULT_VXLAN_PORT },
      );
      this.network = new NetworkAgent(
        {
          view: this.view,
          overlay,
          logger: this.logger,
          nodeId: () => this.agent?.nodeId,
          onNodeAddresses: (addresses) => void this.syncOverlayDns(addresses),
        },
        { netnsPrefix: this.options.netnsPrefix ?? DEFAULT_TASK_NETNS_PREFIX },
      );
      await this.network.start();
    }
    this.mesh = new Mesh({
      view: this.view,
      dataplane: this.dataplane,
      logger: this.logger,
      registry: this.registry,
      nodeId: () => this.agent?.nodeId,
      networkMode: this.networkMode,
    });
    this.view.run();
    await this.agent.run();
  }

  private async deactivate(): Promise<void> {
    if (this.agent) await this.agent.shutdownTasks();
    else await this.executor.close();
    await this.agent?.stop();
    await this.view?.stop();
    await this.mesh?.stop();
    await this.network?.stop();
    for (const server of this.overlayDns.values()) await server.close();
    this.overlayDns.clear();
    this.network = null;
    await this.manager?.stop();
    await closeServer(this.apiServer);
    await this.store?.close();
    await this.client?.close();
    this.agent = this.view = this.mesh = this.manager = this.managerRouter = this.store = this.client = null;
    this.apiServer = null;
    // A later init/join needs a fresh executor and dataplane: the old ones are closed.
    this.executor = this.newExecutor();
    this.dataplane = this.newDataplane();
  }

  /** Stop every task, loop and listener; safe twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.deactivate();
      await this.dns?.close();
      await closeServer(this.nodeHttp);
      await closeServer(this.local);
      await unlink(this.socketPath).catch(() => undefined);
      this.logger.info('daemon stopped');
    })();
    return this.stopping;
  }
}

function listen(server: http.Server, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(`cannot listen for ${what} on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
}

function closeServer(server: http.Server | null): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
