/**
 * What a service spec must pass before it is written, and what the write
 * hands out: its published ports free (of other services, and of other
 * processes on the nodes that will serve them), its networks resolved and its
 * VIPs allocated, enough addresses for its replicas. Decisions are the pure
 * allocator's (allocator/ports.ts, service-networks.ts); this reads the store
 * and calls them.
 */
import { InvalidArgumentError, PortInUseError } from '../../errors';
import { KEYS, type NetworkAddress, type Node, type Service, type ServiceSpec, type Task, type UpdateConfig } from '../../model/types';
import type { Store } from '../../store/store';
import { bindProbes, probeBindable, publishedPortConflicts } from '../allocator/ports';
import { assignVips, checkTaskCapacity, resolveServiceNetworks } from '../allocator/service-networks';
import { serviceNetworkIds } from '../allocator/task-networks';
import { isRunnable } from '../orchestrator/task-lifecycle';
import { isDirty } from '../../spec/task-spec';
import { listValues } from './lookup';
import type { Networks } from './networks';

/** What admission reads. */
export interface AdmissionDeps {
  store: Store;
  networks: Networks;
}

/** How the cluster runs tasks, which decides what can be checked. */
export interface AdmissionOptions {
  /** Whether published ports can be probed with a bind on this host (true in loopback mode). */
  probePorts: boolean;
  /** Only netns tasks take overlay addresses, so only they are bounded by a subnet's size. */
  networkMode?: 'loopback' | 'netns';
}

/** A service's networks and VIPs as they will be written. */
export interface NetworkDecision {
  spec: ServiceSpec;
  virtualIPs: NetworkAddress[];
  /** The service's networks (ids, in order) differ from its current ones. */
  networksChanged: boolean;
  /** The write hands out or gives back VIPs or changes networks, so it bumps the IPAM generation. */
  allocates: boolean;
}

/** The checks and allocations of a service write. */
export class ServiceAdmission {
  constructor(
    private readonly deps: AdmissionDeps,
    private readonly options: AdmissionOptions,
  ) {}

  /** Published ports must be free of other services, and of other processes on the nodes that would serve them. */
  async checkPorts(spec: ServiceSpec, previous?: Service): Promise<void> {
    const { store } = this.deps;
    const services = await listValues<Service>(store, KEYS.services);
    const clash = publishedPortConflicts(spec, services, previous?.id);
    if (clash.length > 0) {
      const c = clash[0];
      throw new PortInUseError(`port ${c.port}/${c.protocol} is already published by service ${c.service}`);
    }
    if (!this.options.probePorts) return;
    const [nodes, tasks] = await Promise.all([listValues<Node>(store, KEYS.nodes), listValues<Task>(store, KEYS.tasks)]);
    for (const { node: n, port, protocol } of bindProbes({ spec, previous, nodes, services, tasks })) {
      if (!(await probeBindable(n.address, port, protocol))) {
        throw new PortInUseError(`port ${port}/${protocol} is already in use on node ${n.hostname} (${n.address})`);
      }
    }
  }

  /**
   * Resolve the networks a spec names to ids (the default network when none),
   * keep the service's VIPs on networks it stays on and allocate one on each
   * new network. Throws for an unknown network or a full VIP range.
   */
  async decideNetworks(spec: ServiceSpec, cur?: Service): Promise<NetworkDecision> {
    const [networks, services] = await Promise.all([this.deps.networks.list(), listValues<Service>(this.deps.store, KEYS.services)]);
    const ids = resolveServiceNetworks(spec.networks, networks);
    const virtualIPs = assignVips({ id: cur?.id ?? '', endpointMode: spec.endpoint.mode, current: cur?.endpoint.virtualIPs }, ids, networks, services);
    const before = cur ? serviceNetworkIds(cur, networks) : [];
    const networksChanged = !!cur && before.join() !== ids.join();
    const sameVips = JSON.stringify(virtualIPs) === JSON.stringify(cur?.endpoint.virtualIPs ?? []);
    return { spec: { ...spec, networks: ids }, virtualIPs, networksChanged, allocates: !cur || networksChanged || !sameVips };
  }

  /**
   * Refuse replicas the service's networks cannot hold
   * (allocator/service-networks.ts); `walk` is the config the coming walk uses.
   */
  async checkCapacity(service: { id?: string; spec: ServiceSpec }, dirty: boolean, walk?: UpdateConfig): Promise<void> {
    if (this.options.networkMode !== 'netns') return;
    const { store } = this.deps;
    const [networks, services, tasks] = await Promise.all([this.deps.networks.list(), listValues<Service>(store, KEYS.services), listValues<Task>(store, KEYS.tasks)]);
    const spec = walk ? { ...service.spec, updateConfig: walk } : service.spec;
    checkTaskCapacity({ serviceId: service.id, spec, dirty, networks, services, tasks });
  }

  /** Whether some live task of `service` runs an older spec than the one it is about to get. */
  async makesTasksDirty(service: Service): Promise<boolean> {
    if (service.spec.mode !== 'replicated' && service.spec.mode !== 'global') return false;
    const tasks = await listValues<Task>(this.deps.store, KEYS.tasks);
    return tasks.some((t) => t.serviceId === service.id && isRunnable(t) && isDirty(t, service));
  }
}

/** The fixed parts of a spec an update may not change. */
export function checkImmutable(next: ServiceSpec, cur: Service): void {
  if (next.name !== cur.spec.name) throw new InvalidArgumentError('a service cannot be renamed');
  if (next.mode !== cur.spec.mode) throw new InvalidArgumentError('service mode cannot be changed');
}
