import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Info } from '../api/contract';
import { Router, sendJson } from '../api/router';
import { UnauthorizedError, type ShoalError } from '../errors';
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

/** Routes worker-token holders may call; everything else needs the manager token. */
const WORKER_ROUTES = [/^\/v1\/watch$/, /^\/v1\/dispatcher\//, /^\/v1\/info$/];

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
}

/**
 * The manager half of a manager node, started and stopped as one: the
 * store in `<stateDir>/store`, the manager loops, and the manager API on TCP
 * (token-checked: the worker token only reaches node routes).
 */
export class ManagerRole {
  private stopping?: Promise<void>;

  private constructor(
    private readonly store: Store,
    private readonly manager: Manager,
    private readonly apiServer: http.Server,
    /** The manager API's routes, which the local socket serves too. */
    readonly router: Router,
    /** The secrets data key (`<stateDir>/manager/secrets.key`). */
    readonly keyring: SecretsKeyring,
  ) {}

  /** Opens the store, creates or loads the cluster (with `managerAddr` as its address), listens and runs the loops. */
  static async start(deps: ManagerRoleDeps, options: ManagerRoleOptions, managerAddr: string): Promise<ManagerRole> {
    const keyring = await SecretsKeyring.open(options.stateDir, { autolock: options.autolock, shared: options.sharedKey });
    if (keyring.locked()) deps.logger.warn({ keyFile: keyring.path }, 'manager is locked (autolock): secrets wait for shoal swarm unlock');
    const { store, leadership } = await openStore(deps, options);
    const manager = new Manager(
      { store, logger: deps.logger, registry: deps.registry, now: deps.now, leadership, keyring },
      { heartbeatPeriodMs: options.heartbeatMs, probePorts: options.networkMode === 'loopback', networkMode: options.networkMode, storeUrl: options.store?.url },
    );
    const router = new Router(deps.logger);
    router.on('GET', '/v1/info', () => deps.info());
    manager.routes(router);
    const apiServer = http.createServer((req, res) => {
      try {
        const role = manager.roleForToken(req.headers.authorization);
        const p = (req.url ?? '').split('?')[0];
        if (role === 'worker' && !WORKER_ROUTES.some((re) => re.test(p))) throw new UnauthorizedError('the worker token only allows node operations');
      } catch (err) {
        const e = err as ShoalError;
        return sendJson(res, e.status ?? 401, { error: { code: e.code, message: e.message } });
      }
      void router.handle(req, res, 'node');
    });
    const role = new ManagerRole(store, manager, apiServer, router, keyring);
    try {
      await manager.init(managerAddr, { replicated: !!options.store, joining: options.joining });
      await listenHttp(apiServer, options.apiPort, options.address, 'manager API');
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
      await this.manager.stop();
      await closeHttp(this.apiServer);
      await this.store.close();
    })();
    return this.stopping;
  }
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

