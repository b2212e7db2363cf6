/**
 * `/v1/nodes`: list, inspect, update (labels, availability, role) and remove.
 * The rules of an update are node-update.ts's and spec/node-role.ts's; a
 * removal gives back the node's network addresses in the same transaction.
 */
import type { Router } from '../../api/router';
import { ConflictError, InvalidArgumentError } from '../../errors';
import { KEYS, type Node } from '../../model/types';
import type { LeaderInfo } from '../leader/leadership';
import type { KeyValue, Store } from '../../store/store';
import { findNamed, listValues } from './lookup';
import type { Named } from '../../spec/object-ref';
import type { Networks } from './networks';
import { applyNodeUpdate, validateNodeUpdate } from './node-update';
import type { StoreKind } from '../../spec/node-role';

/** What the nodes API reads and writes. */
export interface NodesApiDeps {
  store: Store;
  now: () => number;
  networks: Networks;
  /** The leading manager as last seen, for MANAGER STATUS. */
  leader(): LeaderInfo | undefined;
  /** Where the managers keep the cluster, for the role rules. */
  storeKind: StoreKind;
  /** After a node is removed: refuse its certificate from now on (node rm revokes it). */
  revoke?(nodeId: string): Promise<void>;
}

/** Attempts at removing a node while its networks change under it. */
const NODE_REMOVE_RETRIES = 8;

const NODE: Named<Node> = { what: 'node', id: (n) => n.id, name: (n) => n.hostname };

/** The nodes resource of the control API. */
export class NodesApi {
  constructor(private readonly deps: NodesApiDeps) {}

  routes(router: Router): void {
    router
      .on('GET', '/v1/nodes', async () => (await this.list()).map((n) => this.withManagerStatus(n)))
      .on('GET', '/v1/nodes/:id', async (c) => this.withManagerStatus((await this.find(c.params.id)).value))
      .on('POST', '/v1/nodes/:id/update', async (c) => this.withManagerStatus(await this.update(c.params.id, c.body)))
      .on('DELETE', '/v1/nodes/:id', (c) => this.remove(c.params.id, c.query.get('force') === '1'));
  }

  list(): Promise<Node[]> {
    return listValues<Node>(this.deps.store, KEYS.nodes);
  }

  /** A node by id, hostname or unique id prefix. */
  find(idOrName: string): Promise<KeyValue<Node>> {
    return findNamed(this.deps.store, KEYS.nodes, NODE, idOrName);
  }

  /** A manager with its MANAGER STATUS: the leader is the manager on the leader's API host; the others are reachable while they beat. */
  private withManagerStatus(node: Node): Node {
    if (node.role !== 'manager') return node;
    const leaderHost = this.deps.leader()?.apiAddr.replace(/:\d+$/, '');
    return { ...node, managerStatus: { leader: node.address === leaderHost, reachability: node.status.state === 'ready' ? 'reachable' : 'unreachable' } };
  }

  /** `node update`, `node promote`, `node demote`. */
  private async update(idOrName: string, body: unknown): Promise<Node> {
    const req = validateNodeUpdate(body);
    const kv = await this.find(idOrName);
    const node = applyNodeUpdate(kv.value, await this.list(), req, new Date(this.deps.now()).toISOString(), this.deps.storeKind);
    const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }], success: [{ type: 'put', key: kv.key, value: node }] });
    if (!r.succeeded) throw new ConflictError(`node ${node.hostname} changed meanwhile; try again`);
    return node;
  }

  /** Remove a node and, in the same transaction, give back its network addresses. */
  private async remove(idOrName: string, force: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.find(idOrName);
      if (kv.value.status.state !== 'down' && !force) {
        throw new InvalidArgumentError(`node ${kv.value.hostname} is not down and can't be removed (use --force)`);
      }
      const release = await this.deps.networks.nodeRemoval(kv.value.id);
      const r = await this.deps.store.txn({
        compare: [{ key: kv.key, modRevision: kv.modRevision }, ...release.compare],
        success: [{ type: 'delete', key: kv.key }, { type: 'delete', key: KEYS.cert(kv.value.id) }, ...release.success],
      });
      if (r.succeeded) return void (await this.deps.revoke?.(kv.value.id));
      if (attempt >= NODE_REMOVE_RETRIES) throw new ConflictError(`node ${kv.value.hostname} changed meanwhile; try again`);
    }
  }
}
