/**
 * The manager: the control API over the store (one file per resource in
 * controlapi/, as swarmkit's manager/controlapi), plus the loops only the
 * leader runs (the dispatcher, and the allocator, orchestrators and scheduler
 * in the control loop). This file wires them; it decides nothing.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Router } from '../api/router';
import { gauge } from '../metrics/registry';
import { newId } from '../model/ids';
import type { Cluster } from '../model/types';
import type { NodeCredentials } from '../pki';
import { CaApi } from './controlapi/ca';
import { withRevokedNode } from './ca/cluster-ca';
import { CertificateRequiredError } from '../errors';
import type { Store } from '../store/store';
import { LogsApi } from './controlapi/logs';
import { Networks } from './controlapi/networks';
import { httpNodeLogReader, type NodeLogReader } from './controlapi/node-log';
import { NodesApi } from './controlapi/nodes';
import { ServicesApi } from './controlapi/services';
import { SwarmApi } from './controlapi/swarm';
import { TasksApi } from './controlapi/tasks';
import { WatchApi } from './controlapi/watch';
import { KeyringApi } from './controlapi/keyring-api';
import { PayloadsApi } from './controlapi/payloads';
import { TaskPayloads } from './dispatcher/task-payloads';
import { SecretsKeyring } from './secrets/keyring';
import { DEFAULT_MISSED_HEARTBEATS } from '../spec/swarm';
import { DispatcherApi } from './controlapi/dispatcher-api';
import { Dispatcher } from './dispatcher/dispatcher';
import { SoleLeadership, type Leadership } from './leader/leadership';
import { ControlLoop } from './orchestrator/control-loop';

/** Dependencies of the manager. */
export interface ManagerDeps {
  store: Store;
  logger: Logger;
  registry: Registry;
  now: () => number;
  /** Reads a task's log from its node; default: HTTP to the node (controlapi/node-log.ts). */
  readNodeLog?: NodeLogReader;
  /** Who leads among the managers sharing the store; default: this one, alone (the embedded store). */
  leadership?: Leadership;
  /** The data key sealing secrets (secrets/keyring.ts); default: a key in memory only (tests). */
  keyring?: SecretsKeyring;
  /** This manager's node certificate (forwarding to the leader); absent in tests that call the router directly. */
  credentials?: () => NodeCredentials | undefined;
}

/** How often a manager re-reads the cluster object (tokens, CA, revocations another manager changed) and the leader checks a CA rotation. */
const CLUSTER_REFRESH_MS = 1_000;

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
  /** The etcd the managers share, named to nodes promoted to manager; absent with the embedded store. */
  storeUrl?: string;
}

/** The control API and the leader's loops of one manager. */
export class Manager {
  readonly dispatcher: Dispatcher;
  /** Overlay networks: `/v1/networks`, the default network, node addresses. */
  readonly networks: Networks;
  private readonly swarm: SwarmApi;
  private readonly nodes: NodesApi;
  private readonly services: ServicesApi;
  private readonly resources: { routes(router: Router): void }[];
  private readonly dispatcherApi: DispatcherApi;
  private readonly loop: ControlLoop;
  private readonly leadership: Leadership;
  private leading = false;
  private readonly logger: Logger;
  private readonly keyring: SecretsKeyring;
  readonly ca: CaApi;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(deps: ManagerDeps, options: ManagerOptions) {
    const { store, now } = deps;
    const keyring = deps.keyring ?? SecretsKeyring.inMemory();
    const logger = deps.logger.child({ component: 'manager' });
    this.logger = logger;
    this.keyring = keyring;
    this.networks = new Networks({ store, logger: deps.logger.child({ component: 'networks' }), now, newId });
    this.swarm = new SwarmApi({ store, now, keyring });
    this.ca = new CaApi({ store, swarm: this.swarm, keyring, now, newId });
    this.leadership = deps.leadership ?? new SoleLeadership(() => ({ nodeId: '', apiAddr: this.swarm.cluster.managerAddr }));
    this.nodes = new NodesApi({ store, now, networks: this.networks, leader: () => this.leadership.leader(), storeKind: deps.leadership ? 'replicated' : 'embedded',
      revoke: async (nodeId) => void (await this.swarm.update((c) => withRevokedNode(c, nodeId))),
    });
    this.services = new ServicesApi({ store, logger, now, networks: this.networks }, options);
    const findService = (idOrName: string) => this.services.find(idOrName).then((kv) => kv.value);
    this.resources = [
      this.swarm,
      this.nodes,
      this.services,
      new TasksApi({ store, findService }),
      { routes: (router) => this.networkRoutes(router) },
      this.ca,
      new WatchApi({
        store,
        authorizeNode: (c) => {
          if (!c.peer) throw new CertificateRequiredError('watching needs a node certificate');
        },
      }),
      new LogsApi({ store, logger, findService, readNodeLog: deps.readNodeLog ?? httpNodeLogReader(() => deps.credentials?.()) }),
      new PayloadsApi({ store, logger, now, newId, keyring }, 'secret'),
      new PayloadsApi({ store, logger, now, newId, keyring }, 'config'),
      new KeyringApi({ keyring, callerRole: (c) => this.swarm.callerRole(c) }),
    ];
    this.dispatcher = new Dispatcher(
      { store, logger: deps.logger.child({ component: 'dispatcher' }), now, onNodeRegistered: () => this.networks.assignNodeAddresses() },
      { heartbeatPeriodMs: options.heartbeatPeriodMs, missedHeartbeats: DEFAULT_MISSED_HEARTBEATS, storeUrl: options.storeUrl },
    );
    this.dispatcherApi = new DispatcherApi({
      dispatcher: this.dispatcher,
      leadership: this.leadership,
      swarm: this.swarm,
      payloads: new TaskPayloads({ store, keyring }),
      credentials: deps.credentials,
    });
    this.loop = new ControlLoop(
      { store, logger: deps.logger.child({ component: 'orchestrator' }), registry: deps.registry, now, newId },
      { historyLimit: 5, overlayAddresses: options.networkMode === 'netns' },
    );
    gauge(deps.registry, {
      name: 'shoal_store_revision',
      help: 'Current revision of the cluster store',
      collect() {
        this.set(store.revision());
      },
    });
  }

  /**
   * Create the cluster object and the default network on first start (swarm
   * init), or load them; a cluster from before networks gets its default
   * network, and its services their networks and VIPs, here.
   */
  async init(managerAddr: string, options: { replicated?: boolean; joining?: boolean; certExpiryMs?: number } = {}): Promise<Cluster> {
    const { cluster, created } = await this.swarm.init(managerAddr, options);
    await this.networks.ensureDefault();
    if (!created) await this.services.backfillNetworks();
    return cluster;
  }

  /** Take part in the election; the loops run while this manager leads. */
  run(): void {
    this.leadership.start(({ leading }) => void this.lead(leading));
    this.refreshTimer = setInterval(() => void this.refresh(), CLUSTER_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** Re-read the cluster object; the leader ends a CA rotation once every node is on the new root. */
  private async refresh(): Promise<void> {
    try {
      await this.swarm.refresh();
      if (this.leading && (await this.ca.finishRotationIfDone())) this.logger.info('CA rotation finished: every node holds a certificate from the new root');
    } catch (err) {
      this.logger.debug({ err }, 'could not re-read the cluster object');
    }
  }

  /** Stop leading and the loops; safe twice. */
  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.leadership.stop();
    await this.lead(false);
    await this.dispatcherApi.close();
  }

  /** Start the dispatcher's liveness check and the control loop on becoming leader; stop them on stepping down. */
  private async lead(leading: boolean): Promise<void> {
    if (leading === this.leading) return;
    this.leading = leading;
    this.logger.info({ leading }, leading ? 'leading: running the control loop' : 'following: control loop stopped');
    if (leading) {
      this.dispatcher.run();
      this.loop.run();
    } else {
      this.dispatcher.stop();
      await this.loop.stop();
    }
  }

  /** The cluster's tokens and manager address. */
  clusterInfo(): Cluster {
    return this.swarm.cluster;
  }

  /** The cluster object as last read (another manager's changes arrive within a second). */
  async currentCluster(): Promise<Cluster> {
    return this.swarm.refresh();
  }

  /** Register every manager endpoint on a router. */
  routes(router: Router): void {
    for (const r of this.resources) r.routes(router);
    this.dispatcherApi.routes(router);
  }

  private networkRoutes(router: Router): void {
    router
      .on('GET', '/v1/networks', () => this.networks.list())
      .on('POST', '/v1/networks', (c) => this.networks.create(c.body))
      .on('GET', '/v1/networks/:id', (c) => this.networks.find(c.params.id).then((kv) => kv.value))
      .on('DELETE', '/v1/networks/:id', (c) => this.networks.remove(c.params.id));
  }
}
