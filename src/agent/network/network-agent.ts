/**
 * Netns mode on one node: keeps the overlay (a bridge and VXLAN device per
 * network, peers from the cluster's node list, the VIP device) in step with
 * the cluster view, and gives each task its namespace on its network
 * (the executor's TaskSandbox).
 */
import type { Logger } from 'pino';
import type { ClusterView } from '../cluster-view';
import { AddressNotAllocatedError, NetworkNotReadyError } from '../../errors';
import type { Network, Task } from '../../model/types';
import type { Overlay } from '../../net/overlay';
import { planTaskAttachment, taskNetnsName, taskVethName } from '../../net/overlay-plan';
import { netnsExecArgv } from '../../net/netns';
import type { Argv, TaskSandbox } from '../executor/task-sandbox';

/** Wait after a view change before reconciling, so a burst costs one pass. */
const RECONCILE_DEBOUNCE_MS = 20;
/** How long a task waits for its network to show up in the view (it may be created in the same breath). */
const NETWORK_WAIT_MS = 5_000;
/** Retry a failed reconcile after this long. */
const RECONCILE_RETRY_MS = 1_000;

/** Dependencies of the network agent. */
export interface NetworkAgentDeps {
  view: ClusterView;
  overlay: Overlay;
  logger: Logger;
  /** This node's id, once registered. */
  nodeId(): string | undefined;
  /** Called with this node's address on every network after each reconcile (the DNS server listens there). */
  onNodeAddresses?(addresses: string[]): void;
}

/** Settings of the network agent. */
export interface NetworkAgentOptions {
  /** Prefix of task namespace names. */
  netnsPrefix: string;
}

/** Reconciles this node's overlay and builds task namespaces. */
export class NetworkAgent implements TaskSandbox {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private again = false;
  private busy = false;
  private stopped = false;
  /** VNIs reconciled ok, by network id: a task may attach once its network is here. */
  private readonly ready = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private readonly log: Logger;

  constructor(
    private readonly deps: NetworkAgentDeps,
    private readonly options: NetworkAgentOptions,
  ) {
    this.log = deps.logger.child({ component: 'network' });
    deps.view.onChange(() => this.trigger());
  }

  /** Removes task namespaces a previous run left (their processes were killed by the executor's recovery). */
  async start(): Promise<void> {
    const removed = await this.deps.overlay.removeStaleTasks(this.options.netnsPrefix);
    if (removed > 0) this.log.info({ removed }, 'removed task namespaces left by a previous run');
  }

  /** Reconcile soon. */
  trigger(): void {
    if (this.stopped || this.timer) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.reconcile();
    }, RECONCILE_DEBOUNCE_MS);
  }

  private async reconcile(): Promise<void> {
    const self = this.deps.nodeId();
    const view = this.deps.view;
    if (!self || !view.synced) return;
    this.busy = true;
    this.again = false;
    let failed = false;
    try {
      const underlay = [...view.nodes.values()].map((n) => n.address);
      const wanted = new Map<number, Network>();
      const addresses: string[] = [];
      for (const network of view.networks.values()) {
        const nodeAddress = network.nodeAddresses[self];
        if (!nodeAddress) continue;
        wanted.set(network.vni, network);
        try {
          await this.deps.overlay.ensureNetwork({ network, nodeAddress, nodeUnderlayAddresses: underlay });
          this.ready.set(network.id, network.vni);
          addresses.push(nodeAddress);
        } catch (err) {
          failed = true;
          this.log.error({ network: network.name, err: (err as Error).message }, 'network not set up');
        }
      }
      for (const [id, vni] of this.ready) {
        if (!wanted.has(vni)) this.ready.delete(id);
      }
      for (const vni of this.deps.overlay.networks()) {
        if (!wanted.has(vni)) await this.deps.overlay.removeNetwork(vni);
      }
      const vips = new Set<string>();
      for (const service of view.services.values()) for (const v of service.endpoint.virtualIPs ?? []) vips.add(v.address);
      await this.deps.overlay.syncVips([...vips].sort());
      this.deps.onNodeAddresses?.(addresses.sort());
    } catch (err) {
      failed = true;
      this.log.error({ err: (err as Error).message }, 'overlay reconcile failed');
    } finally {
      this.busy = false;
      for (const w of this.waiters.splice(0)) w();
    }
    if (this.again) this.trigger();
    else if (failed && !this.stopped) setTimeout(() => this.trigger(), RECONCILE_RETRY_MS).unref();
  }

  private async networkReady(networkId: string): Promise<void> {
    const deadline = Date.now() + NETWORK_WAIT_MS;
    while (!this.ready.has(networkId)) {
      if (this.stopped || Date.now() > deadline) throw new NetworkNotReadyError(`network ${networkId} is not set up on this node`);
      this.trigger();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** TaskSandbox: the task's namespace on its first network, with resolv.conf naming this node's DNS. */
  async prepare(task: Task): Promise<{ wrap(argv: Argv): Argv }> {
    const attachment = task.networks?.[0];
    if (!attachment) throw new AddressNotAllocatedError('task has no network address (netns mode needs the manager to allocate one)');
    await this.networkReady(attachment.networkId);
    const network = this.deps.view.networks.get(attachment.networkId)!;
    const nodeAddress = network.nodeAddresses[this.deps.nodeId() ?? ''];
    if (!nodeAddress) throw new AddressNotAllocatedError(`this node has no address on network ${network.name}`);
    const plan = planTaskAttachment(this.options.netnsPrefix, task.id, network, attachment.address, nodeAddress);
    await this.deps.overlay.attachTask(plan);
    return { wrap: (argv) => { const [file, ...args] = netnsExecArgv(plan.netns, [argv.file, ...argv.args]); return { file, args }; } };
  }

  /** TaskSandbox: remove the task's namespace. */
  async release(task: Task): Promise<void> {
    try {
      await this.deps.overlay.detachTask(taskNetnsName(this.options.netnsPrefix, task.id), taskVethName(task.id));
    } catch (err) {
      this.log.warn({ taskId: task.id, err: (err as Error).message }, 'removing task namespace failed');
    }
  }

  /** Stop reconciling and remove the overlay devices. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.deps.overlay.close();
  }
}
