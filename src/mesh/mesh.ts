import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { gauge } from '../metrics/registry';
import { systemTimers, type TimerHandle, type Timers } from '../model/clock';
import type { ClusterView } from '../agent/cluster-view';
import type { Node } from '../model/types';
import { buildDnsView, type DnsView } from './dns/view';
import { buildTable } from './table/build-table';
import type { NetworkMode } from './table/service-vip';
import type { ApplyResult, Dataplane } from './table/table';

/** Dependencies of the mesh shell. */
export interface MeshDeps {
  view: ClusterView;
  dataplane: Dataplane;
  logger: Logger;
  registry: Registry;
  /** This node's id, once registered. */
  nodeId(): string | undefined;
  /** Where VIPs come from [loopback]. */
  networkMode?: NetworkMode;
  /** The apply debounce and retry timers [Node's]; tests pass a fake clock. */
  timers?: Timers;
}

/** Wait after a change before re-applying, so a burst of changes costs one apply. */
const APPLY_DEBOUNCE_MS = 5;
/** Wait before retrying frontends the dataplane could not serve (a port held by someone else). */
const FAILED_RETRY_MS = 1_000;

/**
 * The routing mesh of one node: turns the cluster view into the LB table and
 * applies it to the dataplane, and keeps the DNS view current. Applies never
 * overlap; a change during one queues one more.
 */
export class Mesh {
  private dnsView: DnsView = { services: new Map() };
  private dnsDirty = true;
  private applying = false;
  private again = false;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();
  /** Frontends the dataplane could not serve, by id, with the reason. */
  failed = new Map<string, string>();
  private readonly logger: Logger;
  private readonly timers: Timers;

  constructor(private readonly deps: MeshDeps) {
    this.logger = deps.logger.child({ component: 'mesh' });
    this.timers = deps.timers ?? systemTimers;
    deps.view.onChange(() => {
      this.dnsDirty = true;
      this.trigger();
    });
    const mesh = this;
    gauge(deps.registry, {
      name: 'shoal_mesh_failed_frontends',
      help: 'Frontends (published or VIP ports) this node could not serve, e.g. a port held by another process',
      collect() {
        this.set(mesh.failed.size);
      },
    });
  }

  private self(): Node | undefined {
    const id = this.deps.nodeId();
    return id ? this.deps.view.nodes.get(id) : undefined;
  }

  /** The DNS view, rebuilt at most once per change. */
  getDnsView(): DnsView {
    if (this.dnsDirty) {
      const self = this.self();
      if (self) {
        const v = this.deps.view;
        this.dnsView = buildDnsView([...v.services.values()], [...v.tasks.values()], [...v.nodes.values()], self, this.deps.networkMode);
        this.dnsDirty = false;
      }
    }
    return this.dnsView;
  }

  /** Re-apply the table soon. */
  trigger(): void {
    if (this.stopped) return;
    if (this.applying) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.idle = this.apply();
    }, APPLY_DEBOUNCE_MS);
  }

  private async apply(): Promise<void> {
    const self = this.self();
    if (!self || !this.deps.view.synced) return;
    this.applying = true;
    this.again = false;
    try {
      const v = this.deps.view;
      const table = buildTable({ self, nodes: [...v.nodes.values()], services: [...v.services.values()], tasks: [...v.tasks.values()], mode: this.deps.networkMode });
      const r: ApplyResult = await this.deps.dataplane.apply(table);
      const failed = new Map(r.failed.map((f) => [f.frontendId, f.error]));
      for (const [id, error] of failed) if (this.failed.get(id) !== error) this.logger.warn({ frontend: id, error }, 'frontend not served');
      this.failed = failed;
    } catch (err) {
      this.logger.error({ err }, 'applying the LB table failed');
      this.again = true;
    } finally {
      this.applying = false;
    }
    if (this.again || this.failed.size > 0) {
      // Failed frontends (a port held by someone else) are retried, slowly.
      if (this.again) this.trigger();
      else this.timers.setTimeout(() => this.trigger(), FAILED_RETRY_MS).unref();
    }
  }

  /** Stop applying and close the dataplane; safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.idle;
    await this.deps.dataplane.close();
  }
}
