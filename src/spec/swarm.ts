/**
 * Swarm-wide settings an operator can set at `swarm init`, with their
 * defaults (Docker's swarm spec: dispatcher heartbeat period).
 */

/** Default heartbeat period (swarmkit uses 5 s; shoal 1 s, so a dead node is noticed in 3). */
export const DEFAULT_HEARTBEAT_PERIOD_MS = 1_000;
/** Periods of silence before a node is down. */
export const DEFAULT_MISSED_HEARTBEATS = 3;
