/**
 * Which manager leads. Only the leader runs the dispatcher's liveness check
 * and the control loop (allocator, orchestrators, scheduler); every manager
 * serves the API over the shared store, and followers forward node sessions
 * (dispatcher calls) to the leader. One manager on the embedded store always
 * leads (SoleLeadership); managers on etcd elect one through a lease
 * (etcd-leadership.ts).
 */

/** The manager that leads: its node id and the address (host:port) of its manager API. */
export interface LeaderInfo {
  nodeId: string;
  apiAddr: string;
}

/** Told whenever this manager starts or stops leading, or the leader changes. */
export type LeadershipListener = (state: { leading: boolean; leader: LeaderInfo | undefined }) => void;

/** How a manager learns whether it leads. */
export interface Leadership {
  /** Start campaigning (and watching who leads); listeners hear the first outcome. */
  start(listener: LeadershipListener): void;
  /** Whether this manager leads now. */
  leading(): boolean;
  /** The current leader as last seen, or undefined while there is none. */
  leader(): LeaderInfo | undefined;
  /** Stop leading and campaigning; safe twice. */
  stop(): Promise<void>;
}

/** The only manager there is (embedded store): it always leads; start() tells the listener so once. */
export class SoleLeadership implements Leadership {
  /** `self` is read when asked: the manager's address is known once the cluster is loaded. */
  constructor(private readonly self: () => LeaderInfo) {}

  start(listener: LeadershipListener): void {
    listener({ leading: true, leader: this.self() });
  }

  leading(): boolean {
    return true;
  }

  leader(): LeaderInfo {
    return this.self();
  }

  async stop(): Promise<void> {}
}
