import type { LbPolicy } from '../../../model/types';
import type { Backend } from '../../table/table';
import { BackendLoad } from './backend-load';
import { RoundRobin, backendKey } from './round-robin';
import type { Frontend } from '../../table/table';

/** Default source-hash stickiness after a client's last connection, as IPVS persistence's usual 3 h. */
export const DEFAULT_AFFINITY_TIMEOUT_MS = 3 * 60 * 60 * 1000;
/** Source-hash looks for expired affinities once per this many picks, keeping the table bounded by active clients. */
const AFFINITY_SWEEP_EVERY_PICKS = 1024;

/**
 * Chooses the backend for a new connection or flow, or for a retry after
 * `tried` failed. Never picks a draining (weight 0), tried, or full backend.
 */
export interface Balancer {
  readonly policy: LbPolicy;
  /** Replace the backend list; policy state of backends that stay is kept. */
  setBackends(backends: readonly Backend[]): void;
  /** Whether `backend` is still listed at the same address and takes new traffic. */
  isLive(backend: Backend): boolean;
  /** The backend for `clientAddress`, skipping the keys (backendKey) in `tried`; undefined when none can take it. */
  pick(clientAddress: string, tried: ReadonlySet<string>): Backend | undefined;
  /** Whether some live untried backend exists but every such one is at the per-backend limit. */
  fullOnly(tried: ReadonlySet<string>): boolean;
}

/** What a balancer needs: the shared load counts and a clock for affinity expiry. */
export interface BalancerDeps {
  load: BackendLoad;
  /** Monotonic milliseconds. */
  now: () => number;
}

/** Policy settings a balancer takes. */
export interface BalancerOptions {
  affinityTimeoutMs?: number;
}

/** A balancer set up for a frontend: its policy, affinity timeout and backends. */
export function balancerFor(frontend: Frontend, deps: BalancerDeps): Balancer {
  const balancer = createBalancer(frontend.lb?.policy, deps, { affinityTimeoutMs: frontend.lb?.affinityTimeoutMs });
  balancer.setBackends(frontend.backends);
  return balancer;
}

/**
 * The balancer for a frontend's new version: the same one with the new
 * backends (keeping policy state such as affinity), or a new one when the
 * policy or its affinity timeout changed.
 */
export function rebalance(current: Balancer, previous: Frontend, next: Frontend, deps: BalancerDeps): Balancer {
  const policyChanged =
    (next.lb?.policy ?? 'round-robin') !== current.policy || next.lb?.affinityTimeoutMs !== previous.lb?.affinityTimeoutMs;
  if (policyChanged) return balancerFor(next, deps);
  current.setBackends(next.backends);
  return current;
}

/** A balancer for `policy` (round-robin when absent). */
export function createBalancer(policy: LbPolicy | undefined, deps: BalancerDeps, options: BalancerOptions = {}): Balancer {
  switch (policy) {
    case 'least-connections':
      return new LeastConnections(deps);
    case 'source-hash':
      return new SourceHash(deps, options.affinityTimeoutMs ?? DEFAULT_AFFINITY_TIMEOUT_MS);
    default:
      return new RoundRobinBalancer(deps);
  }
}

/** Shared list handling: who is live, who may be picked. */
abstract class BaseBalancer implements Balancer {
  abstract readonly policy: LbPolicy;
  protected readonly rr = new RoundRobin();
  protected backends: readonly Backend[] = [];

  constructor(protected readonly deps: BalancerDeps) {}

  setBackends(backends: readonly Backend[]): void {
    this.backends = backends;
    this.rr.setBackends(backends);
  }

  isLive(backend: Backend): boolean {
    return this.rr.isLive(backend);
  }

  fullOnly(tried: ReadonlySet<string>): boolean {
    const open = this.backends.filter((b) => b.weight > 0 && !tried.has(backendKey(b)));
    return open.length > 0 && open.every((b) => !this.deps.load.hasRoom(b));
  }

  abstract pick(clientAddress: string, tried: ReadonlySet<string>): Backend | undefined;

  /** Live, untried backends with room. */
  protected candidates(tried: ReadonlySet<string>): Backend[] {
    return this.backends.filter((b) => b.weight > 0 && !tried.has(backendKey(b)) && this.deps.load.hasRoom(b));
  }
}

/** Smooth weighted round-robin: the default, Swarm's own behaviour. */
class RoundRobinBalancer extends BaseBalancer {
  readonly policy = 'round-robin' as const;

  pick(_clientAddress: string, tried: ReadonlySet<string>): Backend | undefined {
    const eligible = new Set(this.candidates(tried));
    return this.rr.pickAmong((b) => eligible.has(b));
  }
}

/** Fewest open connections or flows from this node; ties go round-robin. */
class LeastConnections extends BaseBalancer {
  readonly policy = 'least-connections' as const;

  pick(_clientAddress: string, tried: ReadonlySet<string>): Backend | undefined {
    const candidates = this.candidates(tried);
    if (candidates.length === 0) return undefined;
    const { load } = this.deps;
    const fewest = Math.min(...candidates.map((b) => load.count(b)));
    const tied = new Set(candidates.filter((b) => load.count(b) === fewest));
    return this.rr.pickAmong((b) => tied.has(b));
  }
}

/**
 * Client IP to backend by rendezvous hashing, so a backend leaving moves only
 * its own clients. The choice is remembered per client until affinityTimeoutMs
 * after its last connection, so a backend joining does not move clients
 * either; a remembered backend that left, drains or is full is replaced by a
 * new hash among the live ones.
 */
class SourceHash extends BaseBalancer {
  readonly policy = 'source-hash' as const;
  private readonly affinity = new Map<string, { key: string; lastSeen: number }>();
  private picks = 0;

  constructor(deps: BalancerDeps, private readonly affinityTimeoutMs: number) {
    super(deps);
  }

  pick(clientAddress: string, tried: ReadonlySet<string>): Backend | undefined {
    const now = this.deps.now();
    if (++this.picks % AFFINITY_SWEEP_EVERY_PICKS === 0) this.sweep(now);
    const candidates = this.candidates(tried);
    if (candidates.length === 0) return undefined;
    const remembered = this.affinity.get(clientAddress);
    let chosen: Backend | undefined;
    if (remembered && now - remembered.lastSeen < this.affinityTimeoutMs) {
      chosen = candidates.find((b) => backendKey(b) === remembered.key);
    }
    chosen ??= rendezvous(clientAddress, candidates);
    this.affinity.set(clientAddress, { key: backendKey(chosen), lastSeen: now });
    return chosen;
  }

  private sweep(now: number): void {
    for (const [client, entry] of this.affinity) {
      if (now - entry.lastSeen >= this.affinityTimeoutMs) this.affinity.delete(client);
    }
  }
}

/** The candidate with the highest hash of (client, backend id). */
function rendezvous(client: string, candidates: readonly Backend[]): Backend {
  let best = candidates[0];
  let bestScore = -1;
  for (const b of candidates) {
    const score = fnv1a(`${client}|${b.id}`);
    if (score > bestScore || (score === bestScore && b.id < best.id)) {
      best = b;
      bestScore = score;
    }
  }
  return best;
}

/** 32-bit FNV-1a with a final avalanche, enough to spread IPs evenly. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
