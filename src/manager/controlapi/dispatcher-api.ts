/**
 * `/v1/dispatcher/*`: node sessions (register, heartbeat, task status). The
 * leader's dispatcher answers them; a follower forwards each call to the
 * leader with the caller's token, so a worker may talk to any manager and
 * its heartbeats still reach the one manager that judges liveness.
 */
import type { RegisterRequest, StatusRequest } from '../../api/contract';
import { ApiClient, parseEndpoint } from '../../api/client';
import type { RequestContext, Router } from '../../api/router';
import { NoLeaderError } from '../../errors';
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
}

/** The node-session resource of the control API. */
export class DispatcherApi {
  /** One client per leader address and token, for forwarding. */
  private readonly forwarders = new Map<string, ApiClient>();

  constructor(private readonly deps: DispatcherApiDeps) {}

  routes(router: Router): void {
    const { dispatcher, swarm } = this.deps;
    router
      .on('POST', '/v1/dispatcher/register', (c) =>
        this.leaderOr(c, async () => ({ ...(await dispatcher.register(c.body as RegisterRequest, swarm.callerRole(c))), logToken: swarm.cluster.tokens.worker })),
      )
      .on('POST', '/v1/dispatcher/heartbeat', (c) => this.leaderOr(c, () => dispatcher.heartbeat(String((c.body as { nodeId?: string })?.nodeId))))
      .on('POST', '/v1/dispatcher/status', (c) => this.leaderOr(c, () => dispatcher.updateStatus(c.body as StatusRequest)))
      .on('POST', '/v1/dispatcher/payloads', (c) => this.leaderOr(c, () => this.deps.payloads.forTask(c.body)))
      .on('POST', '/v1/dispatcher/secrets-key', (c) => this.leaderOr(c, () => this.deps.payloads.keyForManager(c.body)));
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
    // Check the caller here too: a follower must not relay a call it would refuse.
    const role = swarm.callerRole(c);
    const leader = leadership.leader();
    if (!leader) throw new NoLeaderError('no manager leads the swarm right now; try again shortly');
    const path = c.req.url ?? '';
    return this.clientFor(leader.apiAddr, role === 'manager' ? swarm.cluster.tokens.manager : swarm.cluster.tokens.worker).call('POST', path, c.body);
  }

  private clientFor(addr: string, token: string): ApiClient {
    const key = `${token}@${addr}`;
    let client = this.forwarders.get(key);
    if (!client) {
      // A new leader: the clients to the old one are of no more use.
      for (const [k, c] of this.forwarders) {
        if (k.endsWith(`@${addr}`)) continue;
        this.forwarders.delete(k);
        void c.close();
      }
      client = new ApiClient(parseEndpoint(addr), { token, timeoutMs: FORWARD_TIMEOUT_MS });
      this.forwarders.set(key, client);
    }
    return client;
  }
}
