import type { HealthCheck, TaskStatus } from '../../model/types';

/** What a health check says about a task, as TaskStatus.health reports it. */
export type HealthStatus = NonNullable<TaskStatus['health']>;

/** Where one task's health check stands; a value, replaced on every probe. */
export interface HealthState {
  status: HealthStatus;
  /** Failed probes in a row that counted (those in the start period do not). */
  failingStreak: number;
  /** When the task's process started: the start period runs from here. */
  startedAt: number;
  /** When the next probe is due. */
  nextProbeAt: number;
}

/** Failures in a row that make a task unhealthy when the spec gives none (Docker's default). */
export const DEFAULT_HEALTH_RETRIES = 3;

/** Retries as they count: Docker treats 0 as its default, never as "never unhealthy". */
export function effectiveRetries(check: HealthCheck): number {
  return check.retries > 0 ? check.retries : DEFAULT_HEALTH_RETRIES;
}

/**
 * The state of a freshly started task: `starting`, with the first probe one
 * interval after the start, as Docker runs its first check.
 */
export function initialHealth(check: HealthCheck, startedAt: number): HealthState {
  return { status: 'starting', failingStreak: 0, startedAt, nextProbeAt: startedAt + check.intervalMs };
}

/**
 * Docker's rules for one probe result (daemon/health.go handleProbeResult):
 * a success makes the task healthy and clears the streak; a failure while the
 * task is still `starting` inside its start period does not count; any other
 * failure adds to the streak, and `retries` of them in a row make the task
 * unhealthy. A later success makes it healthy again. The next probe is due one
 * interval after this one ended, so probes never overlap.
 */
export function afterProbe(state: HealthState, check: HealthCheck, ok: boolean, now: number): HealthState {
  const nextProbeAt = now + check.intervalMs;
  if (ok) return { ...state, status: 'healthy', failingStreak: 0, nextProbeAt };
  const inStartPeriod = state.status === 'starting' && now - state.startedAt < check.startPeriodMs;
  if (inStartPeriod) return { ...state, nextProbeAt };
  const failingStreak = state.failingStreak + 1;
  const status = failingStreak >= effectiveRetries(check) ? 'unhealthy' : state.status;
  return { ...state, status, failingStreak, nextProbeAt };
}
