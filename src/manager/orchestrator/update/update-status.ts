/**
 * The update status a service carries (`service inspect` shows it) and the
 * one spec swap a rollback is, shared by the manager API (a requested
 * rollback) and the updater (an automatic one), so both roll back alike.
 */
import { InvalidArgumentError } from '../../../errors';
import type { Service, ServiceSpec, UpdateConfig, UpdateStatus } from '../../../model/types';
import { DEFAULT_UPDATE_CONFIG } from '../../../spec/service-spec';

/** Message of an update the manager just started, as Docker words it. */
export const UPDATE_IN_PROGRESS_MESSAGE = 'update in progress';
/** Message of a rollback an operator asked for. */
export const MANUAL_ROLLBACK_MESSAGE = 'manually requested rollback';
/** Message of a walk that replaced every dirty task and saw the new ones through their monitor window. */
export const UPDATE_COMPLETED_MESSAGE = 'update completed';
/** Message of a finished rollback. */
export const ROLLBACK_COMPLETED_MESSAGE = 'rollback completed';

/** Which walk a status describes: an update, a rollback, or none in progress. */
export type WalkPhase = 'update' | 'rollback';

/** The walk in progress under `status`, or null when it is paused, finished or absent. */
export function walkPhase(status: UpdateStatus | undefined): WalkPhase | null {
  if (status?.state === 'updating') return 'update';
  if (status?.state === 'rollback_started') return 'rollback';
  return null;
}

/** The config a walk follows: `updateConfig` or `rollbackConfig`, Docker's defaults where the spec has none. */
export function walkConfig(spec: ServiceSpec, phase: WalkPhase): UpdateConfig {
  return (phase === 'update' ? spec.updateConfig : spec.rollbackConfig) ?? DEFAULT_UPDATE_CONFIG;
}

/** Status of an update that starts at `now` (ms). */
export function updatingStatus(now: number): UpdateStatus {
  return { state: 'updating', startedAt: new Date(now).toISOString(), message: UPDATE_IN_PROGRESS_MESSAGE };
}

/** Why `service` cannot be rolled back, or null if it can. */
export function rollbackBlocker(service: Service): string | null {
  if (!service.previousSpec) return `service ${service.spec.name} has no previous spec to roll back to`;
  if (service.previousSpec.endpoint.mode === 'vip' && service.endpoint.vipIndex === null) {
    return `service ${service.spec.name} cannot roll back to endpoint mode vip: its virtual IP was released`;
  }
  return null;
}

/**
 * The service after a rollback starts at `now`: the previous spec becomes
 * the spec and the spec becomes the previous one (so a rollback can itself
 * be rolled back, as in Docker), version bumped. Throws InvalidArgumentError
 * when there is nothing to roll back to.
 */
export function rolledBack(service: Service, now: number, message: string): Service {
  const blocker = rollbackBlocker(service);
  if (blocker) throw new InvalidArgumentError(blocker);
  const spec = service.previousSpec as ServiceSpec;
  const iso = new Date(now).toISOString();
  return {
    ...service,
    version: service.version + 1,
    spec,
    previousSpec: service.spec,
    endpoint: { vipIndex: spec.endpoint.mode === 'vip' ? service.endpoint.vipIndex : null },
    updateStatus: { state: 'rollback_started', startedAt: iso, message },
    updatedAt: iso,
  };
}

/** Message of a walk stopped by a failed task: Docker's wording, so operators recognise it. */
export function failureMessage(phase: WalkPhase, outcome: 'paused' | 'rolled back', taskId: string): string {
  return `${phase} ${outcome} due to failure or early termination of task ${taskId}`;
}
