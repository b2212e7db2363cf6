/**
 * The cluster object: made at `swarm init` (its id, the cluster CA, the join
 * tokens, the manager's address), loaded on every later start and re-read
 * every second (another manager may rotate a token or the CA); `GET
 * /v1/swarm/join-token/:role`, `POST /v1/swarm/join-token/:role/rotate`;
 * and who a caller is (the local socket is the node's operator, a TCP
 * caller is what its certificate says).
 */
import type { JoinTokenResponse } from '../../api/contract';
import type { RequestContext, Router } from '../../api/router';
import { ConflictError, ForbiddenError, InvalidArgumentError, NotInSwarmError } from '../../errors';
import { firstVipIndex } from '../../model/addresses';
import { newId } from '../../model/ids';
import { KEYS, type Cluster, type NodeRole } from '../../model/types';
import type { Store } from '../../store/store';
import type { SecretsKeyring } from '../secrets/keyring';
import { newClusterPki, withRotatedToken } from '../ca/cluster-ca';

/** Attempts of a read-modify-write of the cluster object before giving up with a conflict. */
const CLUSTER_UPDATE_RETRIES = 10;

/** What the swarm API reads and writes. */
export interface SwarmApiDeps {
  store: Store;
  now: () => number;
  /** The data key that seals the CA key. */
  keyring: SecretsKeyring;
}

/** Options of a new swarm. */
export interface SwarmInitOptions {
  replicated?: boolean;
  joining?: boolean;
  /** Node certificate lifetime (--cert-expiry). */
  certExpiryMs?: number;
}

/** The cluster object, its tokens and who may call. */
export class SwarmApi {
  private current!: Cluster;

  constructor(private readonly deps: SwarmApiDeps) {}

  /**
   * Load the cluster object, or make it on the first start; `created` says
   * which. `replicated`: several managers share the store, so the address in
   * the cluster (its join commands) stays the first manager's, and two
   * managers starting at once make one cluster, not two. `joining`: a
   * manager joining a swarm finds its cluster in the store, or fails.
   */
  async init(managerAddr: string, options: SwarmInitOptions = {}): Promise<{ cluster: Cluster; created: boolean }> {
    const { store, now } = this.deps;
    const kv = await store.get<Cluster>(KEYS.cluster);
    if (kv) {
      this.current = kv.value;
      if (this.current.managerAddr !== managerAddr && !options.replicated) {
        this.current = { ...this.current, managerAddr };
        await store.put(KEYS.cluster, this.current);
      }
      return { cluster: this.current, created: false };
    }
    if (options.joining) throw new NotInSwarmError('the store holds no swarm to join: give this manager the same --store as the managers it joins');
    const id = newId();
    this.current = {
      id,
      createdAt: new Date(now()).toISOString(),
      managerAddr,
      nextVipIndex: firstVipIndex(managerAddr),
      taskHistoryLimit: 5,
      ...(await newClusterPki(this.deps.keyring.dataKey(), options.certExpiryMs)),
    };
    const r = await store.txn({ compare: [{ key: KEYS.cluster, modRevision: 0 }], success: [{ type: 'put', key: KEYS.cluster, value: this.current }] });
    if (!r.succeeded) return this.init(managerAddr, options);
    return { cluster: this.current, created: true };
  }

  /** The cluster as last read. */
  get cluster(): Cluster {
    return this.current;
  }

  /** Read the cluster object again (another manager may have rotated a token or the CA). */
  async refresh(): Promise<Cluster> {
    const kv = await this.deps.store.get<Cluster>(KEYS.cluster);
    if (kv) this.current = kv.value;
    return this.current;
  }

  /** Change the cluster object with `change` under compare-and-swap, retrying when another write came first. */
  async update(change: (cluster: Cluster) => Cluster | Promise<Cluster>): Promise<Cluster> {
    for (let attempt = 0; attempt < CLUSTER_UPDATE_RETRIES; attempt++) {
      const kv = await this.deps.store.get<Cluster>(KEYS.cluster);
      if (!kv) throw new NotInSwarmError('the store holds no swarm');
      const next = await change(kv.value);
      const r = await this.deps.store.txn({ compare: [{ key: KEYS.cluster, modRevision: kv.modRevision }], success: [{ type: 'put', key: KEYS.cluster, value: next }] });
      if (r.succeeded) {
        this.current = next;
        return next;
      }
    }
    throw new ConflictError('the swarm settings changed meanwhile; try again');
  }

  routes(router: Router): void {
    router
      .on('GET', '/v1/swarm/join-token/:role', (c) => this.joinToken(c, c.params.role))
      .on('POST', '/v1/swarm/join-token/:role/rotate', async (c) => {
        const role = this.tokenRole(c, c.params.role);
        await this.update((cluster) => withRotatedToken(cluster, role));
        return this.joinToken(c, role);
      });
  }

  /** The caller's role: the local socket is the node's own operator, a TCP caller is what its certificate says. */
  callerRole(c: RequestContext): NodeRole {
    if (c.caller === 'local') return 'manager';
    return c.peer?.role ?? 'worker';
  }

  /** The node a TCP caller's certificate names; undefined on the local socket. */
  callerNodeId(c: RequestContext): string | undefined {
    return c.caller === 'local' ? undefined : c.peer?.nodeId;
  }

  private tokenRole(c: RequestContext, role: string): NodeRole {
    if (this.callerRole(c) !== 'manager') throw new ForbiddenError('only a manager may read or rotate join tokens');
    if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`invalid role "${role}": use worker or manager`);
    return role;
  }

  private joinToken(c: RequestContext, roleName: string): JoinTokenResponse {
    const role = this.tokenRole(c, roleName);
    const token = this.cluster.tokens[role];
    return { role, token, command: `shoal swarm join --token ${token} ${this.cluster.managerAddr}` };
  }
}
