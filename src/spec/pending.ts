/**
 * Why a pending task waits. The status carries a code (`pendingReason`) for
 * programs, the CLI's ERROR column and progress lines among them, and a
 * message for people; the messages begin as swarmkit's do.
 */
import type { PendingReason, TaskStatus } from '../model/types';

/** Message of a task waiting for the scheduler, as in swarmkit: the normal wait, no trouble. */
export const PENDING_MESSAGE = 'pending task scheduling';
/** Start of the message of a task no node can take (the scheduler's filters say why). */
export const NO_SUITABLE_NODE = 'no suitable node';
/** Start of the message of a task waiting for an overlay address on a full network. */
export const NO_FREE_ADDRESS = 'no free address';

/** A pending status with its code; `since` is when the task became pending. */
export function pendingStatus(reason: PendingReason, message: string, since: string): TaskStatus {
  return { state: 'pending', since, message, pendingReason: reason };
}

/** Whether a pending status already says this (so a pass need not rewrite it). */
export function pendsFor(status: TaskStatus, reason: PendingReason, message: string): boolean {
  return status.state === 'pending' && status.pendingReason === reason && status.message === message;
}

/** What holds a pending task back, for an operator: its message unless it only waits its turn; '' otherwise. */
export function pendingTrouble(status: TaskStatus): string {
  if (status.state !== 'pending' || status.pendingReason === undefined || status.pendingReason === 'scheduling') return '';
  return status.message;
}
