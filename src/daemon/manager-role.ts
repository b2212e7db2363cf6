import https from 'node:https';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Info } from '../api/contract';
import { Router, sendJson } from '../api/router';
import { CertificateRequiredError, ForbiddenError, type ShoalError } from '../errors';
import { PEER_HEADER } from '../manager/controlapi/dispatcher-api';
import { newId } from '../model/ids';
import { authenticatePeer, serverOptions } from '../pki';
import type { Peer } from '../api/router';
import { newCsr, NodeTls } from './node-tls';
import { Manager } from '../manager/manager';
import { SecretsKeyring, type SharedKey } from '../manager/secrets/keyring';
import type { NetworkMode } from '../mesh/table/service-vip';
import type { Cluster } from '../model/types';
import { EtcdLeadership } from '../manager/leader/etcd-leadership';
import type { Leadership } from '../manager/leader/leadership';
import { EtcdStore } from '../store/etcd-store';
import type { Store } from '../store/store';
import { WalStore } from '../store/wal-store';
import type { ManagerStoreSpec } from './daemon-options';
import { closeHttp, listenHttp } from './http-listener';
import { VisualizerFeed } from '../ui/visualizer-feed';

/** Routes a worker certificate may call; everything else needs a manager's (403 otherwise). */
const WORKER_ROUTES = [/^\/v1\/watch$/, /^\/v1\/dispatcher\//, /^\/v1\/info$/, /^\/v1\/ca\/renew$/];
/** The one route reachable without a certificate: a joining node's first, paid for with its token. */
const JOIN_ROUTE = '/v1/ca/issue';

/** What a manager node's manager part needs from the daemon. */
export interface ManagerRoleDeps {
  logger: Logger;
  registry: Registry;
  now: () => number;
  /** The daemon's `GET /v1/info`, served on the manager API too. */
  info(): Info;
}

/** Settings of the manager part. */
export interface ManagerRoleOptions {
  stateDir: string;
  /** Address and port the manager API listens on. */
  address: string;
  apiPort: number;
  heartbeatMs: number;
  networkMode: NetworkMode;
  /** The etcd cluster shared by the managers; absent, the embedded store in `<stateDir>/store`. */
  store?: ManagerStoreSpec;
  /** Joining a swarm: the cluster must already be in the store. */
  joining?: boolean;
  /** A new swarm: wrap the secrets key under an unlock key (`swarm init --autolock`). */
  autolock?: boolean;
  /** Joining on a shared store: the secrets key another manager handed over. */
  sharedKey?: SharedKey;
  /** This node's certificate; absent on swarm init, when the new CA issues the manager its own. */
  tls?: NodeTls;
  /** Node certificate lifetime of a new swarm (--cert-expiry). */
  certExpiryMs?: number;
}

/**
 * The manager half of a manager node, started and stopped as one: the
 * store in `<stateDir>/store`, the manager loops, and the manager API on TCP:
 * https with mutual TLS, the caller named by its certificate (401 without a
 * valid one, 403 for a worker's outside the node routes), except the join
 * route, which checks a token instead.
 */
export class ManagerRole {
  private stopping?: Promise<void>;
  /** The visualizer's live picture of the cluster, served on the node's metrics port. */
  readonly visualizer: VisualizerFeed;

  private constructor(
    private readonly store: Store,
    private readonly manager: Manager,
    private readonly apiServer: https.Server,
    /** The manager API's routes, which the local socket serves too. */
    readonly router: Router,
    /** The secrets data key (`<stateDir>/manager/secrets.key`). */
    readonly keyring: SecretsKeyring,
    /** This node's certificate (the API server presents it). */
    readonly tls: NodeTls,
    logger: Logger,
  ) {
    this.visualizer = new VisualizerFeed({ store, logger: logger.child({ component: 'visualizer' }) });
  }

  /** Opens the store, creates or loads the cluster (with `managerAddr` as its address), listens and runs the loops. */
  static async start(deps: ManagerRoleDeps, options: ManagerRoleOptions, managerAddr: string): Promise<ManagerRole> {
    const keyring = await SecretsKeyring.open(options.stateDir, { autolock: options.autolock, shared: options.sharedKey });
    if (keyring.locked()) deps.logger.warn({ keyFile: keyring.path }, 'manager is locked (autolock): secrets wait for shoal swarm unlock');
    const { store, leadership } = await openStore(deps, options);
    let tls = options.tls;
    const manager = new Manager(
      { store, logger: deps.logger, registry: deps.registry, now: deps.now, leadership, keyring, credentials: () => tls?.credentials },
      { heartbeatPeriodMs: options.heartbeatMs, probePorts: options.networkMode === 'loopback', networkMode: options.networkMode, storeUrl: options.store?.url },
    );
    const router = new Router(deps.logger);
    router.on('GET', '/v1/info', () => deps.info());
    manager.routes(router);
    try {
      await manager.init(managerAddr, { replicated: !!options.store, joining: options.joining, certExpiryMs: options.certExpiryMs });
      tls ??= await ownCertificate(manager, options);
    } catch (err) {
      await manager.stop();
      await store.close();
      throw err;
    }
    const apiServer = https.createServer(serverOptions(tls.credentials), (req, res) => {
      const peer = authorize(req, manager);
      if (peer instanceof Error) return sendJson(res, peer.status, { error: { code: peer.code, message: peer.message } });
      void router.handle(req, res, 'node', peer);
    });
    tls.onChange((creds) => apiServer.setSecureContext(serverOptions(creds)));
    const role = new ManagerRole(store, manager, apiServer, router, keyring, tls, deps.logger);
    try {
      await listenHttp(apiServer as unknown as http.Server, options.apiPort, options.address, 'manager API');
    } catch (err) {
      await role.stop();
      throw err;
    }
    manager.run();
    return role;
  }

  /** The cluster's tokens and manager address. */
  cluster(): Cluster {
    return this.manager.clusterInfo();
  }

  /** Stops the loops, the API and the store; safe twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.visualizer.stop();
      await this.manager.stop();
      await closeHttp(this.apiServer as unknown as http.Server);
      await this.store.close();
    })();
    return this.stopping;
  }
}

/** The first manager of a new swarm: its own certificate, signed by the CA it just made. */
async function ownCertificate(manager: Manager, options: ManagerRoleOptions): Promise<NodeTls> {
  const { keyPem, csrPem } = await newCsr();
  const issued = await manager.ca.issueLocal({ csrPem, nodeId: newId(), role: 'manager', ipAddresses: [options.address] });
  return NodeTls.save(options.stateDir, keyPem, issued);
}

/** Who calls the manager API: the join route anyone; any other route a valid certificate of this cluster, a worker's only node routes. */
function authorize(req: http.IncomingMessage, manager: Manager): Peer | undefined | ShoalError {
  const p = (req.url ?? '').split('?')[0];
  if (p === JOIN_ROUTE) return undefined;
  const cluster = manager.clusterInfo();
  const auth = authenticatePeer(req, { clusterId: cluster.id, revocations: cluster.revocations });
  if (!auth.identity) return new CertificateRequiredError(`${auth.reason}: the manager API needs a certificate from this swarm's CA`);
  let peer: Peer = { nodeId: auth.identity.nodeId, role: auth.identity.role };
  // A follower forwarding a node's call names that node; only a manager is believed.
  const onBehalf = req.headers[PEER_HEADER];
  if (peer.role === 'manager' && typeof onBehalf === 'string') {
    const [nodeId, role] = onBehalf.split('/');
    if (nodeId && (role === 'manager' || role === 'worker')) peer = { nodeId, role };
  }
  if (peer.role === 'worker' && !WORKER_ROUTES.some((re) => re.test(p))) return new ForbiddenError('a worker certificate only allows node operations');
  return peer;
}

/**
 * The embedded WAL store (one manager, which always leads), or the etcd
 * cluster the managers share, with an election on it among them.
 */
async function openStore(deps: ManagerRoleDeps, options: ManagerRoleOptions): Promise<{ store: Store; leadership: Leadership | undefined }> {
  const logger = deps.logger.child({ component: 'store' });
  if (!options.store) return { store: await WalStore.open(path.join(options.stateDir, 'store'), {}, { logger, registry: deps.registry }), leadership: undefined };
  const store = await EtcdStore.open({ url: options.store.url, tls: options.store.tls, registry: deps.registry });
  const leadership = new EtcdLeadership({ etcd: store.coordination(), logger: deps.logger, registry: deps.registry }, { self: { nodeId: '', apiAddr: `${options.address}:${options.apiPort}` } });
  return { store, leadership };
}

