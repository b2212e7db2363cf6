/**
 * Whether a node may keep, or take, a task of a service: shared by the
 * replicated and global orchestrators so both evict for the same reasons.
 */
import type { Constraint, Node } from '../../model/types';
import { matchConstraints, parseConstraints } from '../../spec/constraint';

/** Why a running task has to leave its node. */
export type EvictionReason = 'node-down' | 'node-drained' | 'constraints';

/** Parsed constraints, or null when the stored expressions are invalid (then no node fits). */
export function safeConstraints(exprs: readonly string[] | undefined): Constraint[] | null {
  try {
    return parseConstraints(exprs ?? []);
  } catch {
    return null;
  }
}

/** A node that stopped answering, or was removed, holds no live task. */
export function isNodeDown(node: Node | undefined): boolean {
  return !node || node.status.state === 'down';
}

/** Why a task must leave `node`, or null if it may stay. Pause keeps tasks; only drain evicts. */
export function evictionReason(node: Node | undefined, constraints: Constraint[] | null): EvictionReason | null {
  if (isNodeDown(node)) return 'node-down';
  const n = node as Node;
  if (n.availability === 'drain') return 'node-drained';
  if (!constraints || !matchConstraints(constraints, n)) return 'constraints';
  return null;
}

/** Whether `node` may take a new task: ready, active and matching. */
export function acceptsNewTasks(node: Node | undefined, constraints: Constraint[] | null): boolean {
  return (
    !!node &&
    node.status.state === 'ready' &&
    node.availability === 'active' &&
    !!constraints &&
    matchConstraints(constraints, node)
  );
}
