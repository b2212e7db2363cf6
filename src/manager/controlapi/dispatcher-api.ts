/**
 * `/v1/dispatcher/*`: node sessions (register, heartbeat, task status). The
 * caller is the node its certificate names (a body's nodeId counts only on
 * the local socket). The leader's dispatcher answers; a follower forwards
 * each call to the leader with its own manager certificate, naming the
 * caller in PEER_HEADER (which the leader believes only from a manager), so
 * a worker may talk to any manager and its heartbeats still reach the one
 * manager that judges liveness.
 */
import type { RegisterRequest, StatusRequest } from '../../api/contract';
import { ApiClient, parseEndpoint } from '../../api/client';
import type { RequestContext, Router } from '../../api/router';
import { CertificateRequiredError, NoLeaderError } from '../../errors';
import type { NodeCredentials } from '../../pki';
import { issuingRootPem, trustBundle } from '../ca/cluster-ca';
import type { Dispatcher } from '../dispatcher/dispatcher';
import type { Leadership } from '../leader/leadership';
import type { TaskPayloads } from '../dispatcher/task-payloads';
import type { SwarmApi } from './swarm';

/** Longest a forwarded node call may take. */
const FORWARD_TIMEOUT_MS = 5_000;

/** What the dispatcher API needs. */
export interface DispatcherApiDeps {
  dispatcher: Dispatcher;
  leadership: Leadership;
  swarm: SwarmApi;
  /** A node's own tasks' secrets and configs. */
  payloads: TaskPayloads;
  /** This manager's certificate, for forwarding to the leader; undefined in tests without TLS. */
  credentials?: () => NodeCredentials | undefined;
}

/** The header a follower names the original caller in (`nodeId/role`). */
export const PEER_HEADER = 'x-shoal-peer';

/** The node-session resource of the control API. */
export class DispatcherApi {
  /** One client per leader address and token, for forwarding. */
  private readonly forwarders = new Map<string, ApiClient>();

  constructor(private readonly deps: DispatcherApiDeps) {}

  routes(router: Router): void {
    const { dispatcher, swarm, payloads } = this.deps;
    router
      .on('POST', '/v1/dispatcher/register', (c) =>
        this.leaderOr(c, () => dispatcher.register({ ...(c.body as RegisterRequest), nodeId: this.nodeIdOf(c) }, swarm.callerRole(c))),
      )
      .on('POST', '/v1/dispatcher/heartbeat', (c) =>
        this.leaderOr(c, async () => {
          const res = await dispatcher.heartbeat(this.nodeIdOf(c)!);
          const cluster = swarm.cluster;
          return cluster.ca ? { ...res, pki: { trustBundle: trustBundle(cluster), issuingRootPem: issuingRootPem(cluster) } } : res;
        }),
      )
      .on('POST', '/v1/dispatcher/status', (c) => this.leaderOr(c, () => dispatcher.updateStatus({ ...(c.body as StatusRequest), nodeId: this.nodeIdOf(c)! })))
      .on('POST', '/v1/dispatcher/payloads', (c) => this.leaderOr(c, () => payloads.forTask({ ...(c.body as object), nodeId: this.nodeIdOf(c) })))
      .on('POST', '/v1/dispatcher/secrets-key', (c) => this.leaderOr(c, () => payloads.keyForManager({ nodeId: this.nodeIdOf(c) })));
  }

  /** The calling node: its certificate's id over TCP, the body's on the local socket. */
  private nodeIdOf(c: RequestContext): string | undefined {
    if (c.caller === 'local') {
      const id = (c.body as { nodeId?: unknown } | undefined)?.nodeId;
      return typeof id === 'string' ? id : undefined;
    }
    if (!c.peer) throw new CertificateRequiredError('node calls need the node certificate');
    return c.peer.nodeId;
  }

  /** Close the connection to the leader, if any. */
  async close(): Promise<void> {
    const clients = [...this.forwarders.values()];
    this.forwarders.clear();
    await Promise.all(clients.map((c) => c.close()));
  }

  /** Answer here when leading; else pass the call on to the leader as the caller made it. */
  private leaderOr(c: RequestContext, here: () => Promise<unknown> | unknown): Promise<unknown> | unknown {
    const { leadership, swarm } = this.deps;
    if (leadership.leading()) return here();
    const role = swarm.callerRole(c);
    const nodeId = this.nodeIdOf(c);
    const leader = leadership.leader();
    if (!leader) throw new NoLeaderError('no manager leads the swarm right now; try again shortly');
    const path = c.req.url ?? '';
    return this.clientFor(leader.apiAddr).call('POST', path, c.body, nodeId ? { [PEER_HEADER]: `${nodeId}/${role}` } : {});
  }

  private clientFor(addr: string): ApiClient {
    const creds = this.deps.credentials?.();
    // One client per leader and certificate: a new leader or a renewed certificate retires the old ones.
    const key = `${addr}#${creds?.certPem.length ?? 0}:${creds?.certPem.slice(-80) ?? ''}`;
    let client = this.forwarders.get(key);
    if (!client) {
      for (const [k, c] of this.forwarders) {
        this.forwarders.delete(k);
        void c.close();
      }
      client = new ApiClient(parseEndpoint(addr), { timeoutMs: FORWARD_TIMEOUT_MS, ...(creds && { tls: creds }) });
      this.forwarders.set(key, client);
    }
    return client;
  }
}
