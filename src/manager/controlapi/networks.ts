/**
 * The store shell of overlay networks: `network create|ls|inspect|rm`, the
 * builtin default network made with the swarm, and node addresses when a
 * node joins or is removed. Decisions are the pure allocator's
 * (allocator/network-plan.ts, node-addresses.ts); this file reads, calls
 * them and writes with compare-and-swap.
 *
 * Store layout:
 *   /networks/<id>               Network
 *   /names/networks/<name>       id (lower-case name: reserves it, so create is atomic with the check)
 *   /ipam                        { generation } bumped by every write that hands out subnets, VNIs
 *                                or VIPs (network create and rm, service create and VIP changes), so
 *                                two of them cannot pick the same one from the same read.
 */
import type { Logger } from 'pino';
import { ConflictError, InvalidArgumentError, NameConflictError, NetworkInUseError } from '../../errors';
import { KEYS, type Network, type Node, type Service, type Task } from '../../model/types';
import type { Compare, KeyValue, Op, Store } from '../../store/store';
import { holdsAddresses } from '../allocator/address-pool';
import { DEFAULT_NETWORK, planNetwork } from '../allocator/network-plan';
import { reconcileAllNodeAddresses } from '../allocator/node-addresses';
import { requireNetwork, validateNetworkRequest } from '../../spec/network';

/** Key that reserves a network name. */
export const networkNameKey = (name: string) => `/names/networks/${name.toLowerCase()}`;
/** Key every subnet, VNI and VIP allocation compares and bumps. */
export const IPAM_KEY = '/ipam';
/** Attempts at a write that lost a compare-and-swap to a concurrent one before giving up. */
const CAS_RETRIES = 8;

/** Value at IPAM_KEY. */
interface IpamGeneration {
  generation: number;
}

/** The compare and the put that serialise one allocation against all others. */
export interface IpamGuard {
  compare: Compare;
  bump: Op;
}

/** Dependencies of the network shell. */
export interface NetworksDeps {
  store: Store;
  logger: Logger;
  now: () => number;
  newId: () => string;
}

/** Network objects over the store; the manager routes `/v1/networks` here. */
export class Networks {
  constructor(private readonly deps: NetworksDeps) {}

  /** Read the IPAM generation for a write that allocates. */
  async ipamGuard(): Promise<IpamGuard> {
    const kv = await this.deps.store.get<IpamGeneration>(IPAM_KEY);
    return {
      compare: { key: IPAM_KEY, modRevision: kv?.modRevision ?? 0 },
      bump: { type: 'put', key: IPAM_KEY, value: { generation: (kv?.value.generation ?? 0) + 1 } },
    };
  }

  /** Every network, in key order. */
  async list(): Promise<Network[]> {
    return (await this.ranged()).map((kv) => kv.value);
  }

  private async ranged(): Promise<KeyValue<Network>[]> {
    return (await this.deps.store.range<Network>(KEYS.networks)).kvs;
  }

  /** The network with this id, name or unique id prefix; NetworkNotFoundError otherwise. */
  async find(idOrName: string): Promise<KeyValue<Network>> {
    const kvs = await this.ranged();
    const n = requireNetwork(
      kvs.map((kv) => kv.value),
      idOrName,
    );
    return kvs.find((kv) => kv.value.id === n.id) as KeyValue<Network>;
  }

  /** Create the builtin default network if the cluster has none (a new swarm, or one from before networks). */
  async ensureDefault(): Promise<Network> {
    for (let attempt = 0; ; attempt++) {
      const existing = await this.list();
      const found = existing.find((n) => n.builtin);
      if (found) return found;
      const req = { name: DEFAULT_NETWORK.name, driver: 'overlay' as const, subnet: DEFAULT_NETWORK.subnet, labels: {} };
      const nodes = await this.nodes();
      const network = planNetwork(req, existing, nodes, { id: this.deps.newId(), now: this.deps.now(), builtin: true, vni: DEFAULT_NETWORK.vni });
      if (await this.put(network)) {
        this.deps.logger.info({ network: network.name, subnet: network.subnet, vni: network.vni }, 'default network created');
        return network;
      }
      if (attempt >= CAS_RETRIES) throw new ConflictError('the default network could not be created: the store kept changing');
    }
  }

  /** `network create`: check, pick subnet, VNI and node addresses, write atomically with the name. */
  async create(body: unknown): Promise<Network> {
    const req = validateNetworkRequest(body);
    for (let attempt = 0; ; attempt++) {
      if (await this.deps.store.get(networkNameKey(req.name))) throw new NameConflictError(`network ${req.name} already exists`);
      const network = planNetwork(req, await this.list(), await this.nodes(), { id: this.deps.newId(), now: this.deps.now() });
      if (await this.put(network)) {
        this.deps.logger.info({ network: network.name, id: network.id, subnet: network.subnet, vni: network.vni }, 'network created');
        return network;
      }
      if (attempt >= CAS_RETRIES) throw new ConflictError('the cluster kept changing; try again');
    }
  }

  /** Write a new network with its name, if neither the name nor any allocation changed since it was planned. */
  private async put(network: Network): Promise<boolean> {
    const guard = await this.ipamGuard();
    const r = await this.deps.store.txn({
      compare: [{ key: networkNameKey(network.name), modRevision: 0 }, guard.compare],
      success: [
        { type: 'put', key: KEYS.network(network.id), value: network },
        { type: 'put', key: networkNameKey(network.name), value: network.id },
        guard.bump,
      ],
    });
    return r.succeeded;
  }

  /**
   * `network rm`: refused for the builtin network, while a service names the
   * network, and while tasks still hold addresses on it.
   */
  async remove(idOrName: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.find(idOrName);
      const network = kv.value;
      if (network.builtin) throw new InvalidArgumentError(`network ${network.name} is the cluster's default network and cannot be removed`);
      const [services, tasks] = await Promise.all([this.services(), this.tasks()]);
      const users = services.filter((s) => s.spec.networks?.includes(network.id)).map((s) => s.spec.name).sort();
      if (users.length > 0) {
        throw new NetworkInUseError(`network ${network.name} is in use by service${users.length === 1 ? '' : 's'} ${users.join(', ')}`);
      }
      const holders = tasks.filter((t) => holdsAddresses(t) && t.networks?.some((a) => a.networkId === network.id));
      if (holders.length > 0) {
        const names = [...new Set(holders.map((t) => t.serviceName))].sort();
        throw new NetworkInUseError(
          `network ${network.name} still has ${holders.length} task${holders.length === 1 ? '' : 's'} of ${names.join(', ')} attached; wait for them to stop`,
        );
      }
      const guard = await this.ipamGuard();
      const r = await this.deps.store.txn({
        compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare],
        success: [{ type: 'delete', key: kv.key }, { type: 'delete', key: networkNameKey(network.name) }, guard.bump],
      });
      if (r.succeeded) {
        this.deps.logger.info({ network: network.name, id: network.id }, 'network removed');
        return;
      }
      if (attempt >= CAS_RETRIES) throw new ConflictError(`network ${network.name} kept changing; try again`);
    }
  }

  /**
   * Give every node an address on every network and drop those of nodes that
   * are gone: the dispatcher calls this when a node registers. Writes each
   * changed network with compare-and-swap, retrying on a concurrent change.
   */
  async assignNodeAddresses(): Promise<void> {
    for (let attempt = 0; attempt <= CAS_RETRIES; attempt++) {
      const [kvs, nodes, services, tasks] = await Promise.all([this.ranged(), this.nodes(), this.services(), this.tasks()]);
      const revs = new Map(kvs.map((kv) => [kv.value.id, kv.modRevision]));
      const { networks, unplaced } = reconcileAllNodeAddresses(
        kvs.map((kv) => kv.value),
        nodes,
        services,
        tasks,
      );
      for (const u of unplaced) this.deps.logger.warn({ networkId: u.networkId, nodes: u.nodeIds }, 'network has no free address for a node');
      const results = await Promise.all(networks.map((n) => this.replace(n, revs.get(n.id) ?? 0)));
      if (results.every(Boolean)) return;
    }
    throw new ConflictError('node addresses could not be written: the networks kept changing');
  }

  /** The ops that take a removed node's addresses back, and the compares that guard them. */
  async nodeRemoval(nodeId: string): Promise<{ compare: Compare[]; success: Op[] }> {
    const out: { compare: Compare[]; success: Op[] } = { compare: [], success: [] };
    const iso = new Date(this.deps.now()).toISOString();
    for (const kv of await this.ranged()) {
      if (!(nodeId in kv.value.nodeAddresses)) continue;
      const nodeAddresses = { ...kv.value.nodeAddresses };
      delete nodeAddresses[nodeId];
      out.compare.push({ key: kv.key, modRevision: kv.modRevision });
      out.success.push({ type: 'put', key: kv.key, value: { ...kv.value, nodeAddresses, updatedAt: iso } });
    }
    return out;
  }

  private async replace(n: Network, modRevision: number): Promise<boolean> {
    const value: Network = { ...n, updatedAt: new Date(this.deps.now()).toISOString() };
    const r = await this.deps.store.txn({ compare: [{ key: KEYS.network(n.id), modRevision }], success: [{ type: 'put', key: KEYS.network(n.id), value }] });
    return r.succeeded;
  }

  private async nodes(): Promise<Node[]> {
    return (await this.deps.store.range<Node>(KEYS.nodes)).kvs.map((kv) => kv.value);
  }

  private async services(): Promise<Service[]> {
    return (await this.deps.store.range<Service>(KEYS.services)).kvs.map((kv) => kv.value);
  }

  private async tasks(): Promise<Task[]> {
    return (await this.deps.store.range<Task>(KEYS.tasks)).kvs.map((kv) => kv.value);
  }
}
