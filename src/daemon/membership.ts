import os from 'node:os';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent } from '../agent/agent';
import { ClusterView } from '../agent/cluster-view';
import { PORT_READY_TIMEOUT_MS } from '../agent/executor/port-readiness';
import { ProcessExecutor } from '../agent/executor/process-executor';
import { ManagerClient } from '../api/manager-client';
import type { RegisterRequest, RegisterResponse, TaskPayloadsResponse } from '../api/contract';
import { hostResources } from '../manager/dispatcher/dispatcher';
import { KEY_DIR, type SharedKey } from '../manager/secrets/keyring';
import type { DataplaneChoice } from '../mesh/dataplane/select';
import type { DnsServer } from '../mesh/dns/server';
import type { DnsView } from '../mesh/dns/view';
import { Mesh } from '../mesh/mesh';
import type { NetworkMode } from '../mesh/table/service-vip';
import type { NodeRole } from '../model/types';
import type { DaemonOptions, ManagerStoreSpec } from './daemon-options';
import type { ManagerRole } from './manager-role';
import { NetnsNetworking } from './netns-networking';
import { createNodeDataplane } from './node-dataplane';
import type { TaskLogAccess } from './node-http';
import { saveSwarmState, type SwarmState } from './swarm-state';
import { CertRenewal } from './cert-renewal';
import type { NodeTls } from './node-tls';

/** Longest a call to the manager API may take before it counts as failed. */
const MANAGER_CALL_TIMEOUT_MS = 10_000;

/** What a node's membership needs from the daemon. */
export interface MembershipDeps {
  logger: Logger;
  registry: Registry;
  now: () => number;
  /** A DNS server on `address:port` answering from `getView`, with the daemon's DNS settings. */
  dnsServer(address: string, port: number, getView: () => DnsView): DnsServer;
  /** Starts the manager part of a node promoted on a shared store, its API on `managerAddr`, the cluster from `store`. */
  startManager(managerAddr: string, store: ManagerStoreSpec, sharedKey: SharedKey, tls: NodeTls): Promise<ManagerRole>;
}

/** Settings of a membership: the daemon's flags and what it decided at start. */
export interface MembershipOptions {
  daemon: DaemonOptions;
  networkMode: NetworkMode;
  /** The dataplane the daemon chose when it started. */
  dataplane: DataplaneChoice;
}

/**
 * This node as a member of one swarm, built on `swarm init`/`join` (or on
 * a start with a saved swarm) and stopped as a unit on leave or daemon
 * stop: the manager client and cluster view, the executor and agent that
 * run this node's tasks, the mesh and its dataplane, netns networking when
 * the node runs in netns mode, and the manager part on a manager node.
 */
export class Membership {
  /** The manager loops and API; undefined on a worker. */
  private managerRole: ManagerRole | undefined;
  /** A role change under way (the manager part starting or stopping). */
  private switching?: Promise<void>;
  private state: SwarmState;
  private readonly client: ManagerClient;
  private readonly view: ClusterView;
  /** Overlays, task namespaces and overlay DNS; undefined in loopback mode. */
  private readonly netns: NetnsNetworking | undefined;
  private readonly executor: ProcessExecutor;
  private readonly agent: Agent;
  private readonly mesh: Mesh;
  private readonly renewal: CertRenewal;
  private stopping?: Promise<void>;
  /** The last swarm.json write, so the next waits for it. */
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: MembershipDeps,
    private readonly options: MembershipOptions,
    state: SwarmState,
    manager: ManagerRole | undefined,
    /** This node's certificate, which every call to the managers presents. */
    private readonly tls: NodeTls,
  ) {
    const { daemon, networkMode } = options;
    this.state = { ...state, nodeId: tls.identity().nodeId };
    this.managerRole = manager;
    this.client = new ManagerClient(state.managerAddr, { tls: tls.credentials, timeoutMs: MANAGER_CALL_TIMEOUT_MS });
    if (state.managers) this.client.setManagers(state.managers);
    tls.onChange((creds) => this.client.setCredentials(creds));
    this.renewal = new CertRenewal({
      tls,
      call: (method, p, body) => this.client.call(method, p, body),
      logger: deps.logger.child({ component: 'certificates' }),
      now: deps.now,
      ipAddresses: [daemon.address],
    });
    this.view = new ClusterView({ client: this.client, logger: deps.logger.child({ component: 'view' }), networkMode });
    this.netns =
      networkMode === 'netns'
        ? new NetnsNetworking(
            {
              view: this.view,
              logger: deps.logger,
              nodeId: () => this.agent.nodeId,
              dnsServer: (address, port) => deps.dnsServer(address, port, () => this.mesh.getDnsView()),
            },
            { address: daemon.address, dnsPort: daemon.dnsPort, vxlanPort: daemon.vxlanPort, netnsPrefix: daemon.netnsPrefix },
          )
        : undefined;
    this.executor = new ProcessExecutor(
      {
        logger: deps.logger.child({ component: 'executor' }),
        now: deps.now,
        sandbox: this.netns?.network,
        fetchPayloads: (req) => this.client.call<TaskPayloadsResponse>('POST', '/v1/dispatcher/payloads', req),
      },
      { stateDir: daemon.stateDir, portReadyTimeoutMs: PORT_READY_TIMEOUT_MS, taskPortRange: daemon.taskPortRange },
    );
    this.agent = this.newAgent();
    this.mesh = new Mesh({
      view: this.view,
      dataplane: createNodeDataplane(options.dataplane, deps, { relayThreads: daemon.relayThreads }),
      logger: deps.logger,
      registry: deps.registry,
      nodeId: () => this.agent.nodeId,
      networkMode,
    });
  }

  private newAgent(): Agent {
    const { daemon, networkMode, dataplane } = this.options;
    return new Agent(
      {
        client: this.client,
        view: this.view,
        executor: this.executor,
        logger: this.deps.logger,
        now: this.deps.now,
        registry: this.deps.registry,
        onRegistered: (res: RegisterResponse) => this.onRegistered(res),
        onManagers: (managers: string[]) => this.learnManagers(managers),
        onRole: (role: NodeRole, store: string | undefined) => this.onRole(role, store),
        onPki: (pki) => this.renewal.onPki(pki),
      },
      {
        registration: {
          nodeId: this.state.nodeId,
          hostname: daemon.hostname,
          address: daemon.address,
          role: this.state.role,
          labels: daemon.labels,
          platform: { os: os.platform(), arch: os.arch() },
          resources: hostResources(),
          ports: this.ports(!!this.manager),
          networking: { mode: networkMode, dataplane: dataplane.name, passedOver: dataplane.passedOver },
        },
        dnsAddress: `${daemon.address}:${daemon.dnsPort}`,
      },
    );
  }

  /** The manager gave this node its id (kept in swarm.json for the next start) and the log token. */
  private onRegistered(res: RegisterResponse): void {
    if (this.state.nodeId !== res.nodeId) {
      this.state = { ...this.state, nodeId: res.nodeId };
      this.persist();
    }
    if (res.managers) this.learnManagers(res.managers);
  }

  /** The managers named themselves: fail over among them, and remember them for the next start. */
  private learnManagers(managers: string[]): void {
    if (managers.length === 0 || managers.join() === this.state.managers?.join()) return;
    this.client.setManagers(managers);
    this.state = { ...this.state, managers };
    this.persist();
  }

  /** The ports this node registers: a manager names its API's too. */
  private ports(manager: boolean): RegisterRequest['ports'] {
    const { daemon } = this.options;
    return { dns: daemon.dnsPort, metrics: daemon.metricsPort, ...(manager && { api: daemon.apiPort }) };
  }

  /**
   * The role on record differs from this node's (`node promote`/`demote` on
   * a shared store): start or stop the manager part, tasks running on. A
   * start that fails (etcd unreachable from here) is tried again on the
   * next heartbeat. With the embedded store no role changes, so nothing
   * names a store here.
   */
  private onRole(role: NodeRole, storeUrl: string | undefined): void {
    if (this.switching || this.stopping || (role === 'manager') === !!this.managerRole) return;
    if (role === 'manager' && !storeUrl) return;
    const change = role === 'manager' ? this.becomeManager(storeUrl!) : this.becomeWorker();
    this.switching = change
      .catch((err: unknown) => this.deps.logger.warn({ err, role }, 'could not change role; trying again on the next heartbeat'))
      .finally(() => {
        this.switching = undefined;
      });
  }

  /** host:port this node's manager API listens on when it is a manager. */
  private get ownApiAddr(): string {
    return `${this.options.daemon.address}:${this.options.daemon.apiPort}`;
  }

  private async becomeManager(storeUrl: string): Promise<void> {
    const { daemon } = this.options;
    const own = this.ownApiAddr;
    // The URL is the cluster's; TLS files are this host's own (--store-cacert... given to this daemon), if any.
    const store: ManagerStoreSpec = { url: storeUrl, ...(daemon.store?.tls && { tls: daemon.store.tls }) };
    this.deps.logger.info({ store: storeUrl }, 'promoted: starting the manager part');
    // The manager API presents a manager certificate: renew into one first.
    await this.renewal.ensureRole('manager');
    // Secrets are sealed with the managers' data key: a promoted node takes theirs.
    const sharedKey = await this.client.call<SharedKey>('POST', '/v1/dispatcher/secrets-key', {});
    const role = await this.deps.startManager(own, store, sharedKey, this.tls);
    if (this.stopping) return void (await role.stop());
    this.managerRole = role;
    this.state = { ...this.state, role: 'manager', managerAddr: own, store };
    this.persist();
    await this.agent.reRegister({ role: 'manager', ports: this.ports(true) });
  }

  private async becomeWorker(): Promise<void> {
    const role = this.managerRole!;
    this.deps.logger.info('demoted: stopping the manager part');
    this.managerRole = undefined;
    await role.stop();
    // A worker holds no data key.
    await rm(path.join(this.options.daemon.stateDir, KEY_DIR), { recursive: true, force: true });
    const own = this.ownApiAddr;
    const other = this.state.managers?.find((m) => m !== own) ?? this.state.managerAddr;
    const { store: _store, ...rest } = this.state;
    this.state = { ...rest, role: 'worker', managerAddr: other, ...(this.state.managers && { managers: this.state.managers.filter((m) => m !== own) }) };
    this.client.setManagers(this.state.managers?.length ? this.state.managers : [other]);
    this.persist();
    await this.agent.reRegister({ role: 'worker', ports: this.ports(false) });
    await this.renewal.ensureRole('worker');
  }

  /** The manager loops and API; undefined on a worker. */
  get manager(): ManagerRole | undefined {
    return this.managerRole;
  }

  /** Write swarm.json with the state as it is now, one write after the other (they share a temp file). */
  private persist(): void {
    this.saving = this.saving
      .then(() => saveSwarmState(this.options.daemon.stateDir, this.state))
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'could not save swarm.json'));
  }

  /** What the node remembers of its swarm. */
  get swarm(): SwarmState {
    return this.state;
  }

  /** This node's id: the manager's once registered, else the one remembered. */
  get nodeId(): string | undefined {
    return this.agent.nodeId ?? this.state.nodeId;
  }

  /** The names this node's DNS servers answer. */
  dnsView(): DnsView {
    return this.mesh.getDnsView();
  }

  /** The task logs this node serves other nodes, once it knows the token they present. */
  taskLogs(): TaskLogAccess {
    return { source: this.executor, tls: this.tls.credentials, clusterId: this.tls.identity().clusterId };
  }

  /** Clears what a previous run left, starts watching the cluster and registers (retrying until the manager answers). */
  async start(): Promise<void> {
    await this.netns?.start();
    this.renewal.start();
    this.view.run();
    await this.agent.run();
  }

  /** Stops every task (reported as shutdown), then every loop and socket of the membership; safe twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.switching;
      this.renewal.stop();
      await this.agent.shutdownTasks();
      await this.agent.stop();
      await this.view.stop();
      await this.mesh.stop();
      await this.netns?.stop();
      await this.manager?.stop();
      await this.client.close();
    })();
    return this.stopping;
  }
}
