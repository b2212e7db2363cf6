/**
 * Leader election among managers that share an etcd: each campaigns on one
 * election (an etcd lease with a TTL, as etcd's concurrency package does) and
 * watches who leads. The winner leads until its campaign fails (its lease
 * expired or etcd became unreachable), then it steps down at once and
 * campaigns again after a pause; the others take over when its lease runs
 * out, within the TTL.
 */
import type { Campaign, Election, ElectionObserver, Namespace } from 'etcd3';
import type { Logger } from 'pino';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../metrics/registry';
import { systemTimers, type Timers } from '../../model/clock';
import type { LeaderInfo, Leadership, LeadershipListener } from './leadership';

/** What an etcd election needs. */
export interface EtcdLeadershipDeps {
  /** The etcd client (or a namespace of it: the cluster's key prefix). */
  etcd: Namespace;
  logger: Logger;
  registry: Registry;
  timers?: Timers;
}

/** Election settings. */
export interface EtcdLeadershipOptions {
  /** This manager, as it is announced when it leads. */
  self: LeaderInfo;
  /** Name of the election [managers]. */
  election?: string;
  /** Lease TTL in seconds: how long a dead leader keeps the lead [5]. */
  ttlSeconds?: number;
  /** Pause before campaigning or observing again after a failure [1000 ms]. */
  retryMs?: number;
}

/** Leadership through an etcd election. */
export class EtcdLeadership implements Leadership {
  private readonly election: Election;
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly changes: Counter;
  private readonly leaderGauge: Gauge;
  private campaign: Campaign | undefined;
  private observer: ElectionObserver | undefined;
  private listener: LeadershipListener = () => undefined;
  private isLeading = false;
  private current: LeaderInfo | undefined;
  private stopped = false;

  constructor(
    deps: EtcdLeadershipDeps,
    private readonly options: EtcdLeadershipOptions,
  ) {
    this.election = deps.etcd.election(options.election ?? 'managers', options.ttlSeconds ?? 5);
    this.timers = deps.timers ?? systemTimers;
    this.log = deps.logger.child({ component: 'leadership' });
    this.changes = counter(deps.registry, { name: 'shoal_manager_leader_changes_total', help: 'Times this manager started or stopped leading' });
    this.leaderGauge = gauge(deps.registry, { name: 'shoal_manager_leader', help: '1 while this manager leads, else 0' });
  }

  start(listener: LeadershipListener): void {
    this.listener = listener;
    this.campaignAgain();
    void this.observe();
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
    const campaign = this.campaign;
    this.campaign = undefined;
    this.setLeading(false);
    await campaign?.resign().catch((err: unknown) => this.log.warn({ err }, 'could not resign from the election'));
    await this.observer?.cancel().catch(() => undefined);
  }

  private campaignAgain(): void {
    if (this.stopped) return;
    const campaign = this.election.campaign(JSON.stringify(this.options.self));
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (campaign !== this.campaign) return;
      this.log.info('elected leader');
      this.current = this.options.self;
      this.setLeading(true);
    });
    campaign.on('error', (err: Error) => {
      if (campaign !== this.campaign) return;
      this.log.warn({ err }, 'election campaign failed; stepping down');
      this.campaign = undefined;
      this.setLeading(false);
      this.timers.setTimeout(() => this.campaignAgain(), this.options.retryMs ?? 1000);
    });
  }

  private async observe(): Promise<void> {
    if (this.stopped) return;
    try {
      const observer = await this.election.observe();
      if (this.stopped) {
        await observer.cancel();
        return;
      }
      this.observer = observer;
      this.seeLeader(observer.leader());
      observer.on('change', (value: string | undefined) => this.seeLeader(value));
      observer.on('error', (err: Error) => {
        this.log.warn({ err }, 'lost sight of the leader; watching again');
        this.observer = undefined;
        this.timers.setTimeout(() => void this.observe(), this.options.retryMs ?? 1000);
      });
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the election; retrying');
      this.timers.setTimeout(() => void this.observe(), this.options.retryMs ?? 1000);
    }
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
