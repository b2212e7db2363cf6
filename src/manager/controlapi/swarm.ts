/**
 * The cluster object: made at `swarm init` (its id, the join tokens, the
 * manager's address), loaded on every later start; `GET
 * /v1/swarm/join-token/:role`; and which role a bearer token grants.
 */
import type { JoinTokenResponse } from '../../api/contract';
import type { RequestContext, Router } from '../../api/router';
import { InvalidArgumentError, NotInSwarmError, UnauthorizedError } from '../../errors';
import { newId } from '../../model/ids';
import { KEYS, type Cluster, type NodeRole } from '../../model/types';
import type { Store } from '../../store/store';

/** What the swarm API reads and writes. */
export interface SwarmApiDeps {
  store: Store;
  now: () => number;
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
  async init(managerAddr: string, options: { replicated?: boolean; joining?: boolean } = {}): Promise<{ cluster: Cluster; created: boolean }> {
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
      tokens: { worker: makeToken(id, 'worker'), manager: makeToken(id, 'manager') },
      managerAddr,
      nextVipIndex: 1,
      taskHistoryLimit: 5,
    };
    const r = await store.txn({ compare: [{ key: KEYS.cluster, modRevision: 0 }], success: [{ type: 'put', key: KEYS.cluster, value: this.current }] });
    if (!r.succeeded) return this.init(managerAddr, options);
    return { cluster: this.current, created: true };
  }

  /** The cluster as loaded by init (its tokens and manager address do not change while it runs). */
  get cluster(): Cluster {
    return this.current;
  }

  routes(router: Router): void {
    router.on('GET', '/v1/swarm/join-token/:role', (c) => this.joinToken(c.params.role));
  }

  /** Which role a bearer token grants, or throws 401. */
  roleForToken(header: string | undefined): NodeRole {
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    if (!token) throw new UnauthorizedError('a join token is required');
    if (token === this.cluster.tokens.manager) return 'manager';
    if (token === this.cluster.tokens.worker) return 'worker';
    throw new UnauthorizedError('invalid join token');
  }

  /** The caller's role: the local socket is the node's own operator, a TCP caller is what its token says. */
  callerRole(c: RequestContext): NodeRole {
    if (c.caller === 'local') return 'manager';
    return this.roleForToken(c.req.headers.authorization);
  }

  private joinToken(role: string): JoinTokenResponse {
    if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`invalid role "${role}": use worker or manager`);
    const token = this.cluster.tokens[role];
    return { role, token, command: `shoal swarm join --token ${token} ${this.cluster.managerAddr}` };
  }
}

/** Join tokens say which cluster and role they belong to, like Docker's SWMTKN-1-... */
function makeToken(clusterId: string, role: NodeRole): string {
  return `SHOAL-1-${clusterId}-${role === 'manager' ? 'm' : 'w'}${newId()}`;
}
