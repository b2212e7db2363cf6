/**
 * Leader election among managers that share an etcd, on one key: a manager
 * leads while the key holds its announcement, put with compare-and-swap
 * ("only if absent") under its own lease. The lease dies with the manager
 * (or its link to etcd): the key goes with it after the TTL and the others,
 * watching the key, race to put theirs. A leader whose lease is lost steps
 * down at once and campaigns again after a pause. etcd3's Election recipe is
 * not used: with several campaigns at once its winners and its observers
 * disagreed in our tests.
 */
import type { Lease, Namespace, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../metrics/registry';
import { systemTimers, type Timers } from '../../model/clock';
import type { LeaderInfo, Leadership, LeadershipListener } from './leadership';

/** What an etcd election needs. */
export interface EtcdLeadershipDeps {
  /** The etcd client, as a namespace of this cluster's coordination keys. */
  etcd: Namespace;
  logger: Logger;
  registry: Registry;
  timers?: Timers;
}

/** Election settings. */
export interface EtcdLeadershipOptions {
  /** This manager, as it is announced when it leads. */
  self: LeaderInfo;
  /** The key the leader holds [leader]. */
  key?: string;
  /** Lease TTL in seconds: how long a dead leader keeps the lead [5]. */
  ttlSeconds?: number;
  /** Pause before campaigning or watching again after a failure [1000 ms]. */
  retryMs?: number;
}

/** Leadership through an etcd lease on one key. */
export class EtcdLeadership implements Leadership {
  private readonly key: string;
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly changes: Counter;
  private readonly leaderGauge: Gauge;
  private readonly announcement: string;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private listener: LeadershipListener = () => undefined;
  private isLeading = false;
  private current: LeaderInfo | undefined;
  private stopped = false;

  constructor(
    private readonly deps: EtcdLeadershipDeps,
    private readonly options: EtcdLeadershipOptions,
  ) {
    this.key = options.key ?? 'leader';
    this.announcement = JSON.stringify(options.self);
    this.timers = deps.timers ?? systemTimers;
    this.log = deps.logger.child({ component: 'leadership' });
    this.changes = counter(deps.registry, { name: 'shoal_manager_leader_changes_total', help: 'Times this manager started or stopped leading' });
    this.leaderGauge = gauge(deps.registry, { name: 'shoal_manager_leader', help: '1 while this manager leads, else 0' });
  }

  start(listener: LeadershipListener): void {
    this.listener = listener;
    void this.watchKey();
  }

  leading(): boolean {
    return this.isLeading;
  }

  leader(): LeaderInfo | undefined {
    return this.current;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.setLeading(false);
    await this.watcher?.cancel().catch(() => undefined);
    // Revoking the lease deletes the key at once: the others need not wait out the TTL.
    await this.lease?.revoke().catch((err: unknown) => this.log.warn({ err }, 'could not give up the lead'));
  }

  /** Watch the key (who leads), then campaign; a broken watch is re-made after a pause. */
  private async watchKey(): Promise<void> {
    if (this.stopped) return;
    try {
      const watcher = await this.deps.etcd.watch().key(this.key).create();
      if (this.stopped) {
        await watcher.cancel();
        return;
      }
      this.watcher = watcher;
      watcher.on('put', (kv) => this.seeLeader(kv.value.toString()));
      watcher.on('delete', () => {
        this.seeLeader(undefined);
        void this.campaign();
      });
      watcher.on('error', (err) => this.retry('lost the watch on the leader key', err, () => this.watchKey()));
      this.seeLeader((await this.deps.etcd.get(this.key).string()) ?? undefined);
      await this.campaign();
    } catch (err) {
      this.retry('cannot watch the leader key', err, () => this.watchKey());
    }
  }

  /** Put our announcement if no one leads; lead if it took. */
  private async campaign(): Promise<void> {
    if (this.stopped || this.isLeading) return;
    try {
      const lease = this.lease ?? this.newLease();
      const leaseId = await lease.grant();
      const ns = this.deps.etcd;
      const r = await ns.if(this.key, 'Create', '==', 0).then(ns.put(this.key).value(this.announcement).lease(leaseId)).commit();
      if (r.succeeded && !this.stopped && lease === this.lease) {
        this.log.info('elected leader');
        this.seeLeader(this.announcement);
        this.setLeading(true);
      }
    } catch (err) {
      this.retry('campaign failed', err, () => this.campaign());
    }
  }

  private newLease(): Lease {
    const lease = this.deps.etcd.lease(this.options.ttlSeconds ?? 5, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (lease !== this.lease) return;
      this.log.warn({ err }, 'lease lost; stepping down');
      this.lease = undefined;
      this.setLeading(false);
      this.retry('lease lost', err, () => this.campaign());
    });
    this.lease = lease;
    return lease;
  }

  private retry(what: string, err: unknown, again: () => Promise<void>): void {
    if (this.stopped) return;
    this.log.warn({ err }, `${what}; retrying`);
    this.timers.setTimeout(() => void again(), this.options.retryMs ?? 1000);
  }

  private seeLeader(value: string | undefined): void {
    this.current = parseLeader(value);
    this.listener({ leading: this.isLeading, leader: this.current });
  }

  private setLeading(leading: boolean): void {
    if (leading === this.isLeading) return;
    this.isLeading = leading;
    this.changes.inc();
    this.leaderGauge.set(leading ? 1 : 0);
    this.listener({ leading, leader: leading ? this.options.self : this.current });
  }
}

/** The announced leader, or undefined for none or a value that is not one of ours. */
export function parseLeader(value: string | undefined): LeaderInfo | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value) as Partial<LeaderInfo>;
    return typeof v.nodeId === 'string' && typeof v.apiAddr === 'string' ? { nodeId: v.nodeId, apiAddr: v.apiAddr } : undefined;
  } catch {
    return undefined;
  }
}
