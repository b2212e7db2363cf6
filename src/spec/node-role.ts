/**
 * Role changes (`node promote`, `node demote`, `node update --role`), decided
 * in one place so the CLI and the API refuse alike. With the embedded WAL
 * store another manager would need a replicated store, and the manager
 * cannot hand its store over, so a node keeps its role. With etcd the role
 * is recorded and the node's daemon starts or stops its manager part when its
 * next heartbeat answer names the new role; the last manager stays one.
 * Asking for the role a node has is a no-op, as in Docker.
 */
import { LastManagerError, ReplicatedStoreRequiredError, type ShoalError } from '../errors';
import type { Node, NodeRole } from '../model/types';

/** What becomes of a role request. */
export type RoleDecision = { outcome: 'unchanged'; message: string } | { outcome: 'changed' } | { outcome: 'refused'; error: ShoalError };

/** Docker's words for a no-op: `Node node-1 is already a manager.` */
export function alreadyInRole(name: string, role: NodeRole): string {
  return `Node ${name} is already a ${role}.`;
}

/** Where the managers keep the cluster: one manager's embedded store, or an etcd they share. */
export type StoreKind = 'embedded' | 'replicated';

/** Decide whether `node` (one of `nodes`) may take `role`. Pure. */
export function decideRoleChange(nodes: readonly Node[], node: Node, role: NodeRole, store: StoreKind = 'embedded'): RoleDecision {
  const name = node.hostname;
  if (node.role === role) return { outcome: 'unchanged', message: alreadyInRole(name, role) };
  if (store === 'replicated' && role === 'manager') return { outcome: 'changed' };
  if (role === 'manager') {
    return {
      outcome: 'refused',
      error: new ReplicatedStoreRequiredError(
        `cannot promote ${name}: this cluster keeps its state in one manager's embedded store; more managers need a replicated store (etcd): start every manager with --store etcd://... (see shoal daemon --help)`,
      ),
    };
  }
  const otherManagers = nodes.filter((n) => n.id !== node.id && n.role === 'manager');
  if (otherManagers.length === 0) {
    return { outcome: 'refused', error: new LastManagerError(`cannot demote ${name}: it is the only manager; the cluster would have none`) };
  }
  if (store === 'replicated') return { outcome: 'changed' };
  // Another manager on record (a node that registered with the manager token) shares no store, so this one cannot hand its over.
  return {
    outcome: 'refused',
    error: new ReplicatedStoreRequiredError(
      `cannot demote ${name}: this cluster keeps its state in one manager's embedded store; changing managers needs a replicated store (etcd): start every manager with --store etcd://... (see shoal daemon --help)`,
    ),
  };
}
