/**
 * `POST /v1/nodes/:id/update` as pure steps: check the request, then compute
 * the node it asks for. Role changes go through decideRoleChange, so a
 * refused one changes nothing else either.
 */
import type { NodeUpdateRequest } from '../../api/contract';
import { InvalidArgumentError } from '../../errors';
import type { Node } from '../../model/types';
import { decideRoleChange, type StoreKind } from '../../spec/node-role';

const AVAILABILITIES = ['active', 'pause', 'drain'];
const ROLES = ['worker', 'manager'];

/** Check the shape of a node update; throws InvalidArgumentError naming the bad field. */
export function validateNodeUpdate(req: unknown): NodeUpdateRequest {
  if (!req || typeof req !== 'object' || Array.isArray(req)) throw new InvalidArgumentError('node update body must be an object');
  const r = req as NodeUpdateRequest;
  if (r.availability !== undefined && !AVAILABILITIES.includes(r.availability)) {
    throw new InvalidArgumentError(`invalid availability "${String(r.availability)}": use active, pause or drain`);
  }
  if (r.role !== undefined && !ROLES.includes(r.role)) throw new InvalidArgumentError(`invalid role "${String(r.role)}": use worker or manager`);
  if (r.labelAdd !== undefined && (typeof r.labelAdd !== 'object' || r.labelAdd === null || Array.isArray(r.labelAdd))) {
    throw new InvalidArgumentError('labelAdd must be an object of strings');
  }
  if (r.labelRm !== undefined && !Array.isArray(r.labelRm)) throw new InvalidArgumentError('labelRm must be a list of label names');
  for (const k of [...Object.keys(r.labelAdd ?? {}), ...(r.labelRm ?? [])]) {
    if (!k) throw new InvalidArgumentError('label name must not be empty');
  }
  return r;
}

/** The node after `req`, or throws (a refused role change, a label that is not set). `nodes` is every node, for the role rules. */
export function applyNodeUpdate(node: Node, nodes: readonly Node[], req: NodeUpdateRequest, at: string, store: StoreKind = 'embedded'): Node {
  if (req.role !== undefined) {
    const decision = decideRoleChange(nodes, node, req.role, store);
    if (decision.outcome === 'refused') throw decision.error;
  }
  const labels = { ...node.labels, ...(req.labelAdd ?? {}) };
  for (const k of req.labelRm ?? []) {
    if (!(k in labels)) throw new InvalidArgumentError(`label ${k} is not set on node ${node.hostname}`);
    delete labels[k];
  }
  return { ...node, role: req.role ?? node.role, availability: req.availability ?? node.availability, labels, updatedAt: at };
}
