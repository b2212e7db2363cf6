import os from 'node:os';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError } from '../../errors';
import type { HeartbeatResponse, RegisterRequest, RegisterResponse, StatusRequest } from '../../api/contract';
import { newId } from '../../model/ids';
import { KEYS, stateRank, type Node, type NodeRole, type Task } from '../../model/types';
import type { Store } from '../../store/store';

/** Dependencies of the dispatcher. */
export interface DispatcherDeps {
  store: Store;
  logger: Logger;
  now: () => number;
  /** Called after a node registered: gives it its address on every overlay network. A failure is logged, not the node's. */
  onNodeRegistered?: (node: Node) => Promise<void>;
}

/** Dispatcher settings; Docker's defaults. */
export interface DispatcherOptions {
  heartbeatPeriodMs: number;
  /** A node silent for this many periods is marked down. */
  missedHeartbeats: number;
  /** The etcd the managers share (`--store`), named to a node promoted to manager; absent with the embedded store. */
  storeUrl?: string;
}

const CAS_RETRIES = 8;
/** How many normal grace periods a node not heard from since the term began (or the store came back) gets. */
const UNKNOWN_GRACE_FACTOR = 2;

/**
 * Node sessions: registration, heartbeats (kept in memory, as swarmkit does,
 * so a beat costs no store write), liveness, and task status reports from
 * agents, which only ever move a task's state forward.
 */
export class Dispatcher {
  private lastSeen = new Map<string, number>();
  /** The managers' API addresses as of the last liveness check, for heartbeat answers. */
  private managers: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  /**
   * When this term's liveness check started (or the store came back): a node
   * not heard from since is in an unknown state and gets twice the grace
   * period from then, as swarmkit gives nodes a new dispatcher has not seen
   * (its followers and workers may still be finding the new leader).
   */
  private startedAt: number;
  /**
   * Set when the store failed a heartbeat or a liveness check: beats wait on
   * the store, so silence then says nothing of the node, and the next check
   * that reads the store starts every node over as unknown instead of
   * judging it.
   */
  private storeTrouble = false;

  constructor(
    private readonly deps: DispatcherDeps,
    private readonly options: DispatcherOptions,
  ) {
    this.startedAt = deps.now();
  }

  /** Start the liveness check (the leader's job). */
  run(): void {
    if (this.timer) return;
    // A new term (a restart, or leadership moved here): beats another manager saw are unknown, so all start fresh.
    this.startedAt = this.deps.now();
    this.lastSeen.clear();
    let checking = false;
    this.timer = setInterval(() => {
      // One check at a time: a read waiting on a store without quorum is not joined by another each period.
      if (checking) return;
      checking = true;
      void this.checkLiveness()
        .catch((err) => this.deps.logger.error({ err }, 'liveness check failed'))
        .finally(() => (checking = false));
    }, this.options.heartbeatPeriodMs);
    this.timer.unref();
  }

  /** Stop the liveness check; safe twice. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Add or re-admit a node; `role` is what the caller's token allows. */
  async register(req: RegisterRequest, role: NodeRole): Promise<RegisterResponse> {
    const now = this.deps.now();
    const iso = new Date(now).toISOString();
    for (let attempt = 0; ; attempt++) {
      const { kvs } = await this.deps.store.range<Node>(KEYS.nodes);
      const existing = req.nodeId ? kvs.find((kv) => kv.key === KEYS.node(req.nodeId!)) : undefined;
      const used = new Set(kvs.map((kv) => kv.value.index));
      let index = 1;
      while (used.has(index)) index++;
      // What the node says of itself each time it registers; the rest is the cluster's (kept when it re-registers).
      const reported = {
        hostname: req.hostname,
        address: req.address,
        platform: req.platform,
        resources: req.resources,
        ports: req.ports,
        ...(req.networking && { networking: req.networking }),
        status: { state: 'ready' as const, since: iso, message: '' },
        updatedAt: iso,
      };
      const node: Node = existing
        ? { ...existing.value, ...reported }
        : { id: req.nodeId ?? newId(), role, availability: 'active', labels: req.labels ?? {}, index, createdAt: iso, ...reported };
      const r = await this.deps.store.txn({
        compare: [{ key: KEYS.node(node.id), modRevision: existing?.modRevision ?? 0 }],
        success: [{ type: 'put', key: KEYS.node(node.id), value: node }],
      });
      if (r.succeeded) {
        this.lastSeen.set(node.id, now);
        this.deps.logger.info({ nodeId: node.id, address: node.address, index: node.index }, existing ? 'node re-registered' : 'node joined');
        // The control loop gives a node its addresses too, so a failure here only delays them.
        await this.deps.onNodeRegistered?.(node).catch((err: unknown) => this.deps.logger.warn({ err, nodeId: node.id }, 'node addresses not allocated yet'));
        const others = kvs.map((k) => k.value).filter((n) => n.id !== node.id);
        return { nodeId: node.id, index: node.index, heartbeatPeriodMs: this.options.heartbeatPeriodMs, managers: managerAddrs([...others, node]) };
      }
      if (attempt >= CAS_RETRIES) throw new ConflictError('node registration kept conflicting');
    }
  }

  /** Record a heartbeat; an unknown node must register again. */
  async heartbeat(nodeId: string): Promise<HeartbeatResponse> {
    // A beat counts even when the store cannot be read (etcd without quorum): a node that kept beating
    // through an outage must not be marked down when the store comes back.
    const now = this.deps.now();
    if (this.lastSeen.has(nodeId)) this.lastSeen.set(nodeId, now);
    const kv = await this.noteTrouble(this.deps.store.get<Node>(KEYS.node(nodeId)));
    if (!kv) throw new NotFoundError(`node ${nodeId} is not part of this swarm`);
    // As of the answer: a read that waited out a store outage must not record the beat as seconds old.
    this.lastSeen.set(nodeId, this.deps.now());
    if (kv.value.status.state !== 'ready') {
      const node = { ...kv.value, status: { state: 'ready' as const, since: new Date(now).toISOString(), message: '' } };
      await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }], success: [{ type: 'put', key: kv.key, value: node }] });
      this.deps.logger.info({ nodeId }, 'node is ready again');
    }
    const { role } = kv.value;
    const store = role === 'manager' && this.options.storeUrl ? { store: this.options.storeUrl } : {};
    return { periodMs: this.options.heartbeatPeriodMs, managers: this.managers, role, ...store };
  }

  /** Mark nodes down that missed too many heartbeats. */
  async checkLiveness(): Promise<void> {
    const asked = this.deps.now();
    const limit = this.options.heartbeatPeriodMs * this.options.missedHeartbeats;
    const { kvs } = await this.noteTrouble(this.deps.store.range<Node>(KEYS.nodes));
    // Judged as of the answer: a read that waited on a store without quorum must not count the wait as silence.
    const now = this.deps.now();
    this.managers = managerAddrs(kvs.map((kv) => kv.value));
    if (this.storeTrouble || now - asked > this.options.heartbeatPeriodMs) {
      // The store failed or stalled: beats waited on it too, so every node starts over as unknown now.
      this.storeTrouble = false;
      this.startedAt = now;
      this.lastSeen.clear();
      this.deps.logger.info({ stalledMs: now - asked }, 'store was unavailable: every node gets a fresh heartbeat grace period');
      return;
    }
    for (const kv of kvs) {
      if (kv.value.status.state === 'down') continue;
      const beat = this.lastSeen.get(kv.value.id);
      const seen = beat ?? this.startedAt;
      if (now - seen <= (beat === undefined ? UNKNOWN_GRACE_FACTOR * limit : limit)) continue;
      const node: Node = {
        ...kv.value,
        status: { state: 'down', since: new Date(now).toISOString(), message: `heartbeat failure: silent for ${now - seen} ms` },
      };
      const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }], success: [{ type: 'put', key: kv.key, value: node }] });
      if (r.succeeded) this.deps.logger.warn({ nodeId: node.id, silentMs: now - seen }, 'node is down');
    }
  }

  /** `read`, remembering a failure as store trouble for the next liveness check. */
  private async noteTrouble<T>(read: Promise<T>): Promise<T> {
    try {
      return await read;
    } catch (err) {
      this.storeTrouble = true;
      throw err;
    }
  }

  /** Apply task status reports from a node; states only move forward. */
  async updateStatus(req: StatusRequest): Promise<void> {
    await Promise.all(req.updates.map((u) => this.updateOne(req.nodeId, u.taskId, u.status)));
  }

  private async updateOne(nodeId: string, taskId: string, status: Task['status']): Promise<void> {
    for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
      const kv = await this.deps.store.get<Task>(KEYS.task(taskId));
      if (!kv || kv.value.nodeId !== nodeId) return;
      const cur = kv.value.status;
      if (stateRank(status.state) < stateRank(cur.state)) return;
      if (stateRank(status.state) === stateRank(cur.state) && JSON.stringify(status) === JSON.stringify(cur)) return;
      const task: Task = { ...kv.value, status, updatedAt: new Date(this.deps.now()).toISOString() };
      const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }], success: [{ type: 'put', key: kv.key, value: task }] });
      if (r.succeeded) return;
    }
  }
}

/** What this host offers, for node registration. */
export function hostResources(): { nanoCpus: number; memoryBytes: number } {
  return { nanoCpus: os.cpus().length * 1e9, memoryBytes: os.totalmem() };
}

/** host:port of each manager's API that is up, for nodes to fail over to. */
export function managerAddrs(nodes: readonly Node[]): string[] {
  return nodes.filter((n) => n.role === 'manager' && n.status.state !== 'down' && n.ports.api).map((n) => `${n.address}:${n.ports.api}`);
}

