import { mkdir, rm, unlink } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ApiClient, parseEndpoint } from '../api/client';
import type { Info, IssueCertificateResponse, SwarmInitRequest, SwarmInitResponse, SwarmJoinRequest } from '../api/contract';
import { AlreadyInSwarmError, CertificateInvalidError, InvalidArgumentError } from '../errors';
import { joinDispatcher, MIN_CERT_EXPIRY_MS, parseToken } from '../pki';
import { newCsr, NodeTls } from './node-tls';
import type { DataplaneChoice } from '../mesh/dataplane/select';
import { DnsServer } from '../mesh/dns/server';
import { parseUpstream } from '../mesh/dns/upstream';
import type { DnsView } from '../mesh/dns/view';
import type { NetworkMode } from '../mesh/table/service-vip';
import { gauge } from '../metrics/registry';
import { nativeLoadResult } from '../native/native';
import { registerNativeStatus } from '../native/native-metrics';
import type { DaemonDeps, DaemonOptions } from './daemon-options';
import { closeHttp, listenHttp } from './http-listener';
import { createLocalSocketServer, listenLocalSocket } from './local-socket';
import { ManagerRole, type ManagerRoleDeps, type ManagerRoleOptions } from './manager-role';
import type { SharedKey } from '../manager/secrets/keyring';
import { Membership } from './membership';
import { prepareNetnsHost } from './netns-networking';
import { chooseNodeDataplane, USERSPACE_CHOICE } from './node-dataplane';
import { NodeHttp } from './node-http';
import { loadSwarmState, saveSwarmState, type SwarmState } from './swarm-state';

/** How long `swarm join` waits for the manager to judge the token. */
const JOIN_PROBE_TIMEOUT_MS = 5_000;

/**
 * One `shoal daemon`: what every node has from start to stop (the local
 * control socket, the node's HTTP endpoint with /metrics, /healthz and task
 * logs, its DNS server, the dataplane choice), and while it is in a swarm
 * its Membership (agent, mesh, executor, and on a manager the manager part).
 */
export class Daemon {
  readonly registry = new Registry();
  private readonly logger: Logger;
  private readonly networkMode: NetworkMode;
  private readonly socketPath: string;
  /** Set once this daemon listens on the control socket, so stop() removes only its own. */
  private ownsSocket = false;
  private readonly local: http.Server;
  private readonly nodeHttp: NodeHttp;
  /** The DNS server on the node's address; it answers from the membership's mesh, or from an empty view. */
  private readonly dns: DnsServer;
  private dataplaneChoice: DataplaneChoice = USERSPACE_CHOICE;
  /** This node in its swarm; undefined while it is in none. */
  private membership: Membership | undefined;
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
    this.local = createLocalSocketServer(this.logger, {
      info: () => this.info(),
      swarmInit: (req) => this.swarmInit(req),
      swarmJoin: (req) => this.swarmJoin(req),
      swarmLeave: (force) => this.swarmLeave(force),
      managerRouter: () => this.membership?.manager?.router,
    });
    this.nodeHttp = new NodeHttp({ registry: this.registry, taskLogs: () => this.membership?.taskLogs(), visualizer: () => this.membership?.manager?.visualizer });
    this.dns = this.newDnsServer(options.address, options.dnsPort, () => this.membership?.dnsView() ?? { services: new Map() });
  }

  private newDnsServer(address: string, port: number, getView: () => DnsView): DnsServer {
    return new DnsServer(
      { logger: this.logger.child({ component: 'dns' }), registry: this.registry, getView },
      { address, port, ttl: this.options.dnsTtl, upstreams: this.options.dnsUpstreams?.map(parseUpstream) },
    );
  }

  /** Addresses this node serves, for `GET /v1/info`. */
  info(): Info {
    const m = this.membership;
    return {
      nodeId: m?.nodeId ?? null,
      swarm: m ? 'active' : 'inactive',
      role: m?.swarm.role ?? null,
      isManager: !!m?.manager,
      managerAddr: m?.swarm.managerAddr ?? null,
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
    await listenLocalSocket(this.local, this.socketPath);
    this.ownsSocket = true;
    await this.nodeHttp.listen(this.options.metricsPort, this.options.address);
    if (this.networkMode === 'netns') await prepareNetnsHost();
    this.dataplaneChoice = await chooseNodeDataplane(this.options.dataplane ?? 'auto', this.networkMode, this.logger);
    await this.dns.listen();
    const swarm = await loadSwarmState(this.options.stateDir);
    if (swarm) await this.activate(swarm);
    else if (this.options.init) await this.swarmInit({ autolock: this.options.autolock });
    else if (this.options.join) await this.swarmJoin({ remoteAddr: this.options.join.addr, token: this.options.join.token });
    this.logger.info(this.info(), 'daemon started');
  }

  /** `swarm init`: become the manager of a new swarm, with a new cluster CA. */
  async swarmInit(req: SwarmInitRequest): Promise<SwarmInitResponse> {
    if (this.membership) throw new AlreadyInSwarmError('this node is already part of a swarm; leave it first (shoal swarm leave)');
    if (req.advertiseAddr !== undefined && !/^[^:\s]+$/.test(req.advertiseAddr)) throw new InvalidArgumentError(`invalid advertise address "${req.advertiseAddr}"`);
    const certExpiryMs = req.certExpiryMs;
    if (certExpiryMs !== undefined && (!Number.isInteger(certExpiryMs) || certExpiryMs < MIN_CERT_EXPIRY_MS)) throw new InvalidArgumentError('invalid --cert-expiry: at least 1h');
    const manager = await this.startManager(`${req.advertiseAddr ?? this.options.address}:${this.options.apiPort}`, this.options.store, false, { autolock: !!req.autolock, certExpiryMs });
    const cluster = manager.cluster();
    const state: SwarmState = { role: 'manager', managerAddr: cluster.managerAddr, ...(this.options.store && { store: this.options.store }) };
    const membership = await this.activateManager(state, manager);
    return {
      nodeId: membership.nodeId ?? '',
      workerToken: cluster.tokens.worker,
      managerAddr: cluster.managerAddr,
      joinCommand: `shoal swarm join --token ${cluster.tokens.worker} ${cluster.managerAddr}`,
      ...(manager.keyring.autolock && { unlockKey: manager.keyring.unlockKey() }),
    };
  }

  /**
   * `swarm join`: prove the token to the manager once (over TLS, checking
   * that the manager's CA is the one the token names) and get this node's
   * certificate; every later call presents it.
   */
  async swarmJoin(req: SwarmJoinRequest): Promise<Info> {
    if (!req || typeof req.token !== 'string' || typeof req.remoteAddr !== 'string') throw new InvalidArgumentError('join needs a token and a manager address');
    parseToken(req.token);
    if (this.membership) throw new AlreadyInSwarmError('this node is already part of a swarm; leave it first (shoal swarm leave)');
    const endpoint = parseEndpoint(req.remoteAddr);
    if (endpoint.kind !== 'tcp') throw new InvalidArgumentError('the manager address must be host:port');
    const { keyPem, csrPem } = await newCsr();
    const joiner = new ApiClient(endpoint, { dispatcher: joinDispatcher(req.token, { connectTimeoutMs: JOIN_PROBE_TIMEOUT_MS }), timeoutMs: JOIN_PROBE_TIMEOUT_MS });
    let issued: IssueCertificateResponse;
    try {
      issued = await joiner.call<IssueCertificateResponse>('POST', '/v1/ca/issue', { csrPem, token: req.token, ipAddresses: [this.options.address] });
    } finally {
      await joiner.close();
    }
    const asManager = issued.role === 'manager';
    if (asManager && !this.options.store) {
      throw new InvalidArgumentError("joining as a manager needs the managers' etcd: start the daemon with --store etcd://h1:2379,h2:2379,h3:2379 (or use the worker token)");
    }
    const tls = await NodeTls.save(this.options.stateDir, keyPem, issued);
    try {
      if (asManager) {
        // A manager seals and opens secrets with the key the others use.
        const client = new ApiClient(endpoint, { tls: tls.credentials, timeoutMs: JOIN_PROBE_TIMEOUT_MS });
        const sharedKey = await client.call<SharedKey>('GET', '/v1/swarm/secrets-key').finally(() => client.close());
        // A manager on the shared store: its own API is its manager address, the cluster is the one in etcd.
        const own = `${this.options.address}:${this.options.apiPort}`;
        const manager = await this.startManager(own, this.options.store, true, { sharedKey, tls });
        await this.activateManager({ role: 'manager', managerAddr: own, nodeId: issued.nodeId, store: this.options.store }, manager);
        return this.info();
      }
      const state: SwarmState = { role: 'worker', managerAddr: `${endpoint.host}:${endpoint.port}`, nodeId: issued.nodeId };
      await saveSwarmState(this.options.stateDir, state);
      await this.activate(state, undefined, tls);
      return this.info();
    } catch (err) {
      if (!this.membership) await NodeTls.remove(this.options.stateDir);
      throw err;
    }
  }

  /** `swarm leave`: stop every task and forget the swarm. A manager needs force. */
  async swarmLeave(force: boolean): Promise<Record<string, never>> {
    const membership = this.membership;
    if (!membership) throw new InvalidArgumentError('this node is not part of a swarm');
    if (membership.manager && !force) {
      throw new InvalidArgumentError('this node is the manager; leaving removes the swarm and its state: use --force');
    }
    await membership.stop();
    await rm(path.join(this.options.stateDir, 'swarm.json'), { force: true });
    await NodeTls.remove(this.options.stateDir);
    if (membership.manager) await rm(path.join(this.options.stateDir, 'store'), { recursive: true, force: true });
    if (membership.manager) await rm(path.join(this.options.stateDir, 'manager'), { recursive: true, force: true });
    this.membership = undefined;
    return {};
  }

  private startManager(managerAddr: string, store = this.options.store, joining = false, key: Pick<ManagerRoleOptions, 'autolock' | 'sharedKey' | 'tls' | 'certExpiryMs'> = {}): Promise<ManagerRole> {
    const deps: ManagerRoleDeps = { logger: this.logger, registry: this.registry, now: this.deps.now, info: () => this.info() };
    const options: ManagerRoleOptions = {
      stateDir: this.options.stateDir,
      address: this.options.address,
      apiPort: this.options.apiPort,
      heartbeatMs: this.options.heartbeatMs,
      networkMode: this.networkMode,
      store,
      joining,
      ...key,
    };
    return ManagerRole.start(deps, options, managerAddr);
  }

  /** Save the state of a node whose manager part just started, then become a member; a failed save stops the manager. */
  private async activateManager(state: SwarmState, manager: ManagerRole): Promise<Membership> {
    try {
      await saveSwarmState(this.options.stateDir, state);
    } catch (err) {
      await manager.stop();
      throw err;
    }
    return this.activate(state, manager, manager.tls);
  }

  /** Becomes a member of the swarm `state` names; `manager` when init already started the manager part. */
  private async activate(state: SwarmState, manager?: ManagerRole, known?: NodeTls): Promise<Membership> {
    const tls = known ?? (await NodeTls.load(this.options.stateDir));
    if (!tls) throw new CertificateInvalidError(`this node has no certificate in ${this.options.stateDir}: it joined before shoal had a cluster CA; leave (swarm leave --force) and join again`);
    const role = manager ?? (state.role === 'manager' ? await this.startManager(state.managerAddr, state.store ?? this.options.store, false, { tls }) : undefined);
    const membership = new Membership(
      {
        logger: this.logger,
        registry: this.registry,
        now: this.deps.now,
        dnsServer: (address, port, getView) => this.newDnsServer(address, port, getView),
        startManager: (managerAddr, store, sharedKey, nodeTls) => this.startManager(managerAddr, store, true, { sharedKey, tls: nodeTls }),
      },
      { daemon: this.options, networkMode: this.networkMode, dataplane: this.dataplaneChoice },
      state,
      role,
      tls,
    );
    // Before start(): a leave must reach a member still registering with an unreachable manager.
    this.membership = membership;
    await membership.start();
    return membership;
  }

  /** Stop every task, loop and listener; safe twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.membership?.stop();
      await this.dns.close();
      await this.nodeHttp.close();
      await closeHttp(this.local);
      // A daemon that found another one on the socket leaves it to that one.
      if (this.ownsSocket) await unlink(this.socketPath).catch(() => undefined);
      this.logger.info('daemon stopped');
    })();
    return this.stopping;
  }
}
