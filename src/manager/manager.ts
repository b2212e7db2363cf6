import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { gauge } from '../metrics/registry';
import type {
  JoinTokenResponse,
  RegisterRequest,
  ServiceUpdateRequest,
  StatusRequest,
  WatchLine,
} from '../api/contract';
import { Router, STREAMING, type RequestContext } from '../api/router';
import {
  ClusterMissingError,
  CompactedError,
  ConflictError,
  InvalidArgumentError,
  NameConflictError,
  NotFoundError,
  PortInUseError,
  UnauthorizedError,
} from '../errors';
import { newId } from '../model/ids';
import { KEYS, type Cluster, type NetworkAddress, type Node, type NodeRole, type Service, type ServiceSpec, type Task, type UpdateConfig } from '../model/types';
import type { Op, Store, WatchEvent, Watcher } from '../store/store';
import { bindProbes, probeBindable, publishedPortConflicts } from './allocator/ports';
import { assignVips, checkTaskCapacity, mayNeedMoreAddresses, resolveServiceNetworks } from './allocator/service-networks';
import { serviceNetworkIds } from './allocator/task-networks';
import { ControlLoop } from './control-loop';
import { DEFAULT_MISSED_HEARTBEATS, Dispatcher } from './dispatcher/dispatcher';
import { isRunnable } from './orchestrator/task-lifecycle';
import { isDirty } from './orchestrator/update/dirty';
import { MANUAL_ROLLBACK_MESSAGE, rollbackBlocker, rolledBack, updatingStatus } from './orchestrator/update/update-status';
import { Networks } from './networks';
import { applyNodeUpdate, validateNodeUpdate } from './node-update';
import { validateServiceSpec } from './service-spec';
import { LogsApi } from './controlapi/logs';
import { httpNodeLogReader, type NodeLogReader } from './controlapi/node-log';
import { findTask } from './controlapi/task-lookup';

/** Dependencies of the manager. */
export interface ManagerDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
  now: () => number;
  /** Reads a task's log from its node; default: HTTP to the node (controlapi/node-log.ts). */
  readNodeLog?: NodeLogReader;
}

/** Manager settings. */
export interface ManagerOptions {
  heartbeatPeriodMs: number;
  /** Whether published ports can be probed with a bind on this host (true in loopback mode). */
  probePorts: boolean;
  /**
   * How tasks are addressed [loopback]. Only netns mode gives tasks overlay
   * addresses; loopback tasks have their own 127.100/14 pool, so the overlay
   * networks' size does not cap a loopback service.
   */
  networkMode?: 'loopback' | 'netns';
}

/** Key that reserves a service name, so create is atomic with the uniqueness check. */
const nameKey = (name: string) => `/names/services/${name.toLowerCase()}`;
/** Attempts at removing a node while its networks change under it. */
const NODE_REMOVE_RETRIES = 8;
/** Prefixes a watch may ask for. */
const WATCHABLE = [KEYS.nodes, KEYS.services, KEYS.tasks, KEYS.networks];

/** A service's networks and VIPs as they will be written. */
interface NetworkDecision {
  spec: ServiceSpec;
  virtualIPs: NetworkAddress[];
  /** The service's networks (ids, in order) differ from its current ones. */
  networksChanged: boolean;
  /** The write hands out or gives back VIPs or changes networks, so it bumps the IPAM generation. */
  allocates: boolean;
}

/**
 * The manager: the API over the store, plus the loops that only the leader
 * runs (dispatcher, orchestrators and scheduler in the control loop).
 */
export class Manager {
  readonly dispatcher: Dispatcher;
  /** Overlay networks: `/v1/networks`, the default network, node addresses. */
  readonly networks: Networks;
  private readonly loop: ControlLoop;
  private readonly logs: LogsApi;
  private readonly logger: Logger;
  private cluster!: Cluster;

  constructor(
    private readonly deps: ManagerDeps,
    private readonly options: ManagerOptions,
  ) {
    this.logger = deps.logger.child({ component: 'manager' });
    this.networks = new Networks({ store: deps.store, logger: deps.logger.child({ component: 'networks' }), now: deps.now, newId });
    this.dispatcher = new Dispatcher(
      {
        store: deps.store,
        logger: deps.logger.child({ component: 'dispatcher' }),
        now: deps.now,
        onNodeRegistered: () => this.networks.assignNodeAddresses(),
      },
      { heartbeatPeriodMs: options.heartbeatPeriodMs, missedHeartbeats: DEFAULT_MISSED_HEARTBEATS },
    );
    this.loop = new ControlLoop(
      { store: deps.store, logger: deps.logger.child({ component: 'orchestrator' }), registry: deps.registry, now: deps.now, newId },
      { historyLimit: 5, overlayAddresses: options.networkMode === 'netns' },
    );
    this.logs = new LogsApi({
      store: deps.store,
      logger: this.logger,
      findService: (idOrName) => this.findService(idOrName).then((kv) => kv.value),
      readNodeLog: deps.readNodeLog ?? httpNodeLogReader(() => this.cluster.tokens.worker),
    });
    gauge(deps.registry, {
      name: 'shoal_store_revision',
      help: 'Current revision of the cluster store',
      collect() {
        this.set(deps.store.revision());
      },
    });
  }

  /**
   * Create the cluster object and the default network on first start (swarm
   * init), or load them; a cluster from before networks gets its default
   * network, and its services their networks and VIPs, here.
   */
  async init(managerAddr: string): Promise<Cluster> {
    const kv = await this.deps.store.get<Cluster>(KEYS.cluster);
    if (kv) {
      this.cluster = kv.value;
      if (this.cluster.managerAddr !== managerAddr) {
        this.cluster = { ...this.cluster, managerAddr };
        await this.deps.store.put(KEYS.cluster, this.cluster);
      }
      await this.networks.ensureDefault();
      await this.backfillServiceNetworks();
      return this.cluster;
    }
    const id = newId();
    this.cluster = {
      id,
      createdAt: new Date(this.deps.now()).toISOString(),
      tokens: { worker: makeToken(id, 'worker'), manager: makeToken(id, 'manager') },
      managerAddr,
      nextVipIndex: 1,
      taskHistoryLimit: 5,
    };
    await this.deps.store.put(KEYS.cluster, this.cluster);
    await this.networks.ensureDefault();
    return this.cluster;
  }

  /** Services stored before networks existed: the default network and a VIP on it. */
  private async backfillServiceNetworks(): Promise<void> {
    const { kvs } = await this.deps.store.range<Service>(KEYS.services);
    for (const kv of kvs) {
      const s = kv.value;
      if (s.spec.networks?.length && (s.spec.endpoint.mode !== 'vip' || s.endpoint.virtualIPs)) continue;
      try {
        const guard = await this.networks.ipamGuard();
        const d = await this.decideNetworks(s.spec, s);
        const service: Service = { ...s, spec: d.spec, endpoint: { ...s.endpoint, virtualIPs: d.virtualIPs } };
        await this.deps.store.txn({
          compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare],
          success: [{ type: 'put', key: kv.key, value: service }, guard.bump],
        });
      } catch (err) {
        this.logger.warn({ err, service: s.spec.name }, 'could not give the service its networks');
      }
    }
  }

  /** Start the loops. */
  run(): void {
    this.dispatcher.run();
    this.loop.run();
  }

  /** Stop the loops; safe twice. */
  async stop(): Promise<void> {
    this.dispatcher.stop();
    await this.loop.stop();
  }

  /** The cluster's tokens and manager address. */
  clusterInfo(): Cluster {
    return this.cluster;
  }

  /** Which role a bearer token grants, or throws 401. */
  roleForToken(header: string | undefined): NodeRole {
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    if (!token) throw new UnauthorizedError('a join token is required');
    if (token === this.cluster.tokens.manager) return 'manager';
    if (token === this.cluster.tokens.worker) return 'worker';
    throw new UnauthorizedError('invalid join token');
  }

  /** Register every manager endpoint on a router. */
  routes(router: Router): void {
    router
      .on('GET', '/v1/swarm/join-token/:role', (c) => this.joinToken(c.params.role))
      .on('GET', '/v1/nodes', () => this.listNodes())
      .on('GET', '/v1/nodes/:id', (c) => this.findNode(c.params.id).then((kv) => kv.value))
      .on('POST', '/v1/nodes/:id/update', (c) => this.updateNode(c.params.id, c.body))
      .on('DELETE', '/v1/nodes/:id', (c) => this.removeNode(c.params.id, c.query.get('force') === '1'))
      .on('GET', '/v1/services', () => this.listServices())
      .on('POST', '/v1/services', (c) => this.createService((c.body as { spec?: unknown })?.spec))
      .on('GET', '/v1/services/:id', (c) => this.findService(c.params.id).then((kv) => kv.value))
      .on('POST', '/v1/services/:id/update', (c) => this.updateService(c.params.id, c.body as ServiceUpdateRequest))
      .on('POST', '/v1/services/:id/rollback', (c) => this.rollbackService(c.params.id, c.body))
      .on('DELETE', '/v1/services/:id', (c) => this.removeService(c.params.id))
      .on('GET', '/v1/tasks', (c) => this.listTasks(c.query.get('service') ?? undefined))
      .on('GET', '/v1/tasks/:id', (c) => findTask(this.deps.store, c.params.id))
      .on('GET', '/v1/networks', () => this.networks.list())
      .on('POST', '/v1/networks', (c) => this.networks.create(c.body))
      .on('GET', '/v1/networks/:id', (c) => this.networks.find(c.params.id).then((kv) => kv.value))
      .on('DELETE', '/v1/networks/:id', (c) => this.networks.remove(c.params.id))
      .on('GET', '/v1/watch', (c) => this.watch(c))
      .on('POST', '/v1/dispatcher/register', async (c) => ({
        ...(await this.dispatcher.register(c.body as RegisterRequest, this.callerRole(c))),
        logToken: this.cluster.tokens.worker,
      }))
      .on('POST', '/v1/dispatcher/heartbeat', (c) => this.dispatcher.heartbeat(String((c.body as { nodeId?: string })?.nodeId)))
      .on('POST', '/v1/dispatcher/status', (c) => this.dispatcher.updateStatus(c.body as StatusRequest));
    this.logs.routes(router);
  }

  private callerRole(c: RequestContext): NodeRole {
    if (c.caller === 'local') return 'manager';
    return this.roleForToken(c.req.headers.authorization);
  }

  private joinToken(role: string): JoinTokenResponse {
    if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`invalid role "${role}": use worker or manager`);
    const token = this.cluster.tokens[role];
    return { role, token, command: `shoal swarm join --token ${token} ${this.cluster.managerAddr}` };
  }

  private async listNodes(): Promise<Node[]> {
    return (await this.deps.store.range<Node>(KEYS.nodes)).kvs.map((kv) => kv.value);
  }

  private async findNode(idOrName: string) {
    const { kvs } = await this.deps.store.range<Node>(KEYS.nodes);
    const kv =
      kvs.find((k) => k.value.id === idOrName) ??
      kvs.find((k) => k.value.hostname === idOrName) ??
      uniquePrefix(kvs, (k) => k.value.id, idOrName, 'node');
    if (!kv) throw new NotFoundError(`node ${idOrName} not found`);
    return kv;
  }

  /** `node update`, `node promote`, `node demote`: the rules are in node-update.ts and node-role.ts. */
  private async updateNode(idOrName: string, body: unknown): Promise<Node> {
    const req = validateNodeUpdate(body);
    const kv = await this.findNode(idOrName);
    const node = applyNodeUpdate(kv.value, await this.listNodes(), req, new Date(this.deps.now()).toISOString());
    const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }], success: [{ type: 'put', key: kv.key, value: node }] });
    if (!r.succeeded) throw new ConflictError(`node ${node.hostname} changed meanwhile; try again`);
    return node;
  }

  /** Remove a node and, in the same transaction, give back its network addresses. */
  private async removeNode(idOrName: string, force: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.findNode(idOrName);
      if (kv.value.status.state !== 'down' && !force) {
        throw new InvalidArgumentError(`node ${kv.value.hostname} is not down and can't be removed (use --force)`);
      }
      const release = await this.networks.nodeRemoval(kv.value.id);
      const r = await this.deps.store.txn({
        compare: [{ key: kv.key, modRevision: kv.modRevision }, ...release.compare],
        success: [{ type: 'delete', key: kv.key }, ...release.success],
      });
      if (r.succeeded) return;
      if (attempt >= NODE_REMOVE_RETRIES) throw new ConflictError(`node ${kv.value.hostname} changed meanwhile; try again`);
    }
  }

  private async listServices(): Promise<Service[]> {
    return (await this.deps.store.range<Service>(KEYS.services)).kvs.map((kv) => kv.value);
  }

  private async findService(idOrName: string) {
    const { kvs } = await this.deps.store.range<Service>(KEYS.services);
    const kv =
      kvs.find((k) => k.value.id === idOrName) ??
      kvs.find((k) => k.value.spec.name === idOrName) ??
      uniquePrefix(kvs, (k) => k.value.id, idOrName, 'service');
    if (!kv) throw new NotFoundError(`service ${idOrName} not found`);
    return kv;
  }

  /** Published ports must be free of other services, and of other processes on the nodes that would serve them. */
  private async checkPorts(spec: ServiceSpec, previous?: Service): Promise<void> {
    const services = await this.listServices();
    const clash = publishedPortConflicts(spec, services, previous?.id);
    if (clash.length > 0) {
      const c = clash[0];
      throw new PortInUseError(`port ${c.port}/${c.protocol} is already published by service ${c.service}`);
    }
    if (!this.options.probePorts) return;
    const [nodes, tasks] = await Promise.all([this.listNodes(), this.deps.store.range<Task>(KEYS.tasks).then((r) => r.kvs.map((kv) => kv.value))]);
    for (const { node: n, port, protocol } of bindProbes({ spec, previous, nodes, services, tasks })) {
      if (!(await probeBindable(n.address, port, protocol))) {
        throw new PortInUseError(`port ${port}/${protocol} is already in use on node ${n.hostname} (${n.address})`);
      }
    }
  }

  private async createService(rawSpec: unknown): Promise<Service> {
    const validated = validateServiceSpec(rawSpec);
    const existing = await this.deps.store.get(nameKey(validated.name));
    if (existing) throw new NameConflictError(`service ${validated.name} already exists`);
    await this.checkPorts(validated);
    const guard = await this.networks.ipamGuard();
    const { spec, virtualIPs } = await this.decideNetworks(validated);
    await this.checkCapacity({ spec }, false);
    const clusterKv = await this.deps.store.get<Cluster>(KEYS.cluster);
    if (!clusterKv) throw new ClusterMissingError('cluster object missing');
    const iso = new Date(this.deps.now()).toISOString();
    const service: Service = {
      id: newId(),
      version: 1,
      spec,
      endpoint: { vipIndex: spec.endpoint.mode === 'vip' ? clusterKv.value.nextVipIndex : null, virtualIPs },
      createdAt: iso,
      updatedAt: iso,
    };
    const cluster = { ...clusterKv.value, nextVipIndex: clusterKv.value.nextVipIndex + (service.endpoint.vipIndex ? 1 : 0) };
    const r = await this.deps.store.txn({
      compare: [
        { key: nameKey(spec.name), modRevision: 0 },
        { key: KEYS.cluster, modRevision: clusterKv.modRevision },
        guard.compare,
      ],
      success: [
        { type: 'put', key: nameKey(spec.name), value: service.id },
        { type: 'put', key: KEYS.service(service.id), value: service },
        { type: 'put', key: KEYS.cluster, value: cluster },
        guard.bump,
      ],
    });
    if (!r.succeeded) {
      if (await this.deps.store.get(nameKey(spec.name))) throw new NameConflictError(`service ${spec.name} already exists`);
      throw new ConflictError('the cluster changed meanwhile; try again');
    }
    this.cluster = cluster;
    this.logger.info({ service: spec.name, id: service.id }, 'service created');
    return service;
  }

  private async updateService(idOrName: string, req: ServiceUpdateRequest): Promise<Service> {
    if (!req || typeof req !== 'object') throw new InvalidArgumentError('service update body must be an object');
    const kv = await this.findService(idOrName);
    const cur = kv.value;
    if (req.version !== undefined && req.version !== cur.version) {
      throw new ConflictError(`service ${cur.spec.name} was updated meanwhile (version ${cur.version}, update based on ${req.version}); try again`);
    }
    const validated = validateServiceSpec(req.spec);
    if (validated.name !== cur.spec.name) throw new InvalidArgumentError('a service cannot be renamed');
    if (validated.mode !== cur.spec.mode) throw new InvalidArgumentError('service mode cannot be changed');
    await this.checkPorts(validated, cur);
    const vipIndex = cur.endpoint.vipIndex;
    if (validated.endpoint.mode === 'vip' && vipIndex === null) throw new InvalidArgumentError('endpoint mode cannot be changed from dnsrr to vip');
    const guard = await this.networks.ipamGuard();
    const net = await this.decideNetworks(validated, cur);
    const spec = net.spec;
    const service: Service = {
      ...cur,
      version: cur.version + 1,
      spec,
      previousSpec: cur.spec,
      endpoint: { vipIndex: spec.endpoint.mode === 'vip' ? vipIndex : null, virtualIPs: net.virtualIPs },
      // Tasks join their networks when they start: other networks redeploy them, as in Docker.
      forceUpdate: (cur.forceUpdate ?? 0) + (req.force || net.networksChanged ? 1 : 0),
      updatedAt: new Date(this.deps.now()).toISOString(),
    };
    // Any update that leaves tasks on an older spec starts a new walk, which also resumes a paused one (as Docker).
    const dirty = await this.makesTasksDirty(service);
    if (mayNeedMoreAddresses(cur.spec, spec, net.networksChanged, dirty, spec.updateConfig?.order)) await this.checkCapacity(service, dirty);
    if (dirty) service.updateStatus = updatingStatus(this.deps.now());
    const r = await this.deps.store.txn({
      compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare],
      success: [{ type: 'put', key: kv.key, value: service }, ...(net.allocates ? [guard.bump] : [])],
    });
    if (!r.succeeded) throw new ConflictError(`service ${cur.spec.name} was updated meanwhile; try again`);
    return service;
  }

  /**
   * Resolve the networks a spec names to ids (the default network when none),
   * keep the service's VIPs on networks it stays on and allocate one on each
   * new network. Throws for an unknown network or a full VIP range.
   */
  private async decideNetworks(spec: ServiceSpec, cur?: Service): Promise<NetworkDecision> {
    const [networks, services] = await Promise.all([this.networks.list(), this.listServices()]);
    const ids = resolveServiceNetworks(spec.networks, networks);
    const virtualIPs = assignVips({ id: cur?.id ?? '', endpointMode: spec.endpoint.mode, current: cur?.endpoint.virtualIPs }, ids, networks, services);
    const before = cur ? serviceNetworkIds(cur, networks) : [];
    const networksChanged = !!cur && before.join() !== ids.join();
    const sameVips = JSON.stringify(virtualIPs) === JSON.stringify(cur?.endpoint.virtualIPs ?? []);
    return { spec: { ...spec, networks: ids }, virtualIPs, networksChanged, allocates: !cur || networksChanged || !sameVips };
  }

  /**
   * Refuse replicas the service's networks cannot hold
   * (allocator/service-networks.ts); `walk` is the config the coming walk uses.
   */
  private async checkCapacity(service: { id?: string; spec: ServiceSpec }, dirty: boolean, walk?: UpdateConfig): Promise<void> {
    if (this.options.networkMode !== 'netns') return;
    const [networks, services, tasks] = await Promise.all([
      this.networks.list(),
      this.listServices(),
      this.deps.store.range<Task>(KEYS.tasks).then((r) => r.kvs.map((kv) => kv.value)),
    ]);
    const spec = walk ? { ...service.spec, updateConfig: walk } : service.spec;
    checkTaskCapacity({ serviceId: service.id, spec, dirty, networks, services, tasks });
  }

  /** `service rollback` and `service update --rollback`: the previous spec comes back, walked with the rollback config. */
  private async rollbackService(idOrName: string, body: unknown): Promise<Service> {
    if (body !== undefined && body !== null && typeof body !== 'object') throw new InvalidArgumentError('service rollback body must be an object');
    const version = (body as { version?: unknown } | null | undefined)?.version;
    if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version))) throw new InvalidArgumentError('version must be an integer');
    const kv = await this.findService(idOrName);
    const cur = kv.value;
    if (version !== undefined && version !== cur.version) {
      throw new ConflictError(`service ${cur.spec.name} was updated meanwhile (version ${cur.version}, rollback based on ${version}); try again`);
    }
    const blocker = rollbackBlocker(cur);
    if (blocker) throw new InvalidArgumentError(blocker);
    await this.checkPorts(cur.previousSpec as ServiceSpec, cur);
    const guard = await this.networks.ipamGuard();
    const back = rolledBack(cur, this.deps.now(), MANUAL_ROLLBACK_MESSAGE);
    // The previous spec may name a network removed since: the rollback is refused then, naming it.
    const net = await this.decideNetworks(back.spec, cur);
    const service: Service = {
      ...back,
      spec: net.spec,
      endpoint: { ...back.endpoint, virtualIPs: net.virtualIPs },
      ...(net.networksChanged && { forceUpdate: (back.forceUpdate ?? 0) + 1 }),
    };
    if (mayNeedMoreAddresses(cur.spec, service.spec, net.networksChanged, true, service.spec.rollbackConfig?.order)) {
      await this.checkCapacity(service, true, service.spec.rollbackConfig);
    }
    const ops: Op[] = [{ type: 'put', key: kv.key, value: service }];
    if (net.allocates) ops.push(guard.bump);
    const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare], success: ops });
    if (!r.succeeded) throw new ConflictError(`service ${cur.spec.name} was updated meanwhile; try again`);
    this.logger.info({ service: cur.spec.name, version: service.version }, 'service rollback requested');
    return service;
  }

  /** Whether some live task of `service` runs an older spec than the one it is about to get. */
  private async makesTasksDirty(service: Service): Promise<boolean> {
    if (service.spec.mode !== 'replicated' && service.spec.mode !== 'global') return false;
    const tasks = (await this.deps.store.range<Task>(KEYS.tasks)).kvs.map((kv) => kv.value);
    return tasks.some((t) => t.serviceId === service.id && isRunnable(t) && isDirty(t, service));
  }

  private async removeService(idOrName: string): Promise<void> {
    const kv = await this.findService(idOrName);
    await this.deps.store.txn({
      compare: [{ key: kv.key, modRevision: kv.modRevision }],
      success: [
        { type: 'delete', key: kv.key },
        { type: 'delete', key: nameKey(kv.value.spec.name) },
      ],
    });
    this.logger.info({ service: kv.value.spec.name }, 'service removed');
  }

  private async listTasks(service?: string): Promise<Task[]> {
    const tasks = (await this.deps.store.range<Task>(KEYS.tasks)).kvs.map((kv) => kv.value);
    if (!service) return tasks;
    const svc = await this.findService(service);
    return tasks.filter((t) => t.serviceId === svc.value.id);
  }

  /** NDJSON: one `list` line of every key under the prefixes, then `events` lines as they commit. */
  private async watch(c: RequestContext): Promise<typeof STREAMING> {
    const prefixes = c.query.getAll('prefix');
    if (prefixes.length === 0) throw new InvalidArgumentError('watch needs at least one prefix');
    if (c.caller === 'node') this.roleForToken(c.req.headers.authorization);
    for (const p of prefixes) {
      if (!WATCHABLE.includes(p as never)) throw new InvalidArgumentError(`cannot watch prefix ${p}`);
    }
    const res: ServerResponse = c.res;
    const revParam = c.query.get('rev');
    const fromRev = revParam === null ? undefined : Number(revParam);
    if (fromRev !== undefined && (!Number.isInteger(fromRev) || fromRev < 1)) throw new InvalidArgumentError('rev must be a positive integer');
    // With ?rev=N the stream replays changes from revision N (410-style error line if compacted); without, it lists first.
    const lists = fromRev === undefined ? await Promise.all(prefixes.map((p) => this.deps.store.range(p))) : undefined;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (line: WatchLine) => res.write(JSON.stringify(line) + '\n');
    if (lists) {
      const revision = Math.min(...lists.map((l) => l.revision));
      const kvs = lists.flatMap((l) => l.kvs.map((kv) => ({ key: kv.key, value: kv.value, modRevision: kv.modRevision })));
      send({ type: 'list', revision, kvs });
    }
    const watchers: Watcher[] = [];
    const onEvents = (events: WatchEvent[]) =>
      send({ type: 'events', events: events.map((e) => ({ type: e.type, key: e.kv.key, value: e.kv.value, revision: e.revision })) });
    try {
      for (const p of prefixes) {
        // Ranges may have read at different revisions; events at or below what the list showed are skipped per prefix.
        const from = lists ? lists[prefixes.indexOf(p)].revision + 1 : fromRev!;
        watchers.push(this.deps.store.watch(p, from, { onEvents, onError: () => res.end() }));
      }
    } catch (err) {
      for (const w of watchers) w.cancel();
      send({ type: 'error', code: err instanceof CompactedError ? err.code : 'SHOAL_ERR_INTERNAL', message: (err as Error).message });
      res.end();
      return STREAMING;
    }
    c.req.socket.setTimeout(0);
    res.on('close', () => {
      for (const w of watchers) w.cancel();
    });
    return STREAMING;
  }
}

/** Find a unique id prefix match, as Docker accepts short ids. */
function uniquePrefix<T>(items: T[], id: (x: T) => string, prefix: string, what: string): T | undefined {
  if (prefix.length < 3) return undefined;
  const hits = items.filter((x) => id(x).startsWith(prefix));
  if (hits.length > 1) throw new InvalidArgumentError(`${what} ${prefix} is ambiguous (${hits.length} matches)`);
  return hits[0];
}

/** Join tokens say which cluster and role they belong to, like Docker's SWMTKN-1-... */
function makeToken(clusterId: string, role: NodeRole): string {
  return `SHOAL-1-${clusterId}-${role === 'manager' ? 'm' : 'w'}${newId()}`;
}

