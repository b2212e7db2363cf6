/**
 * Revocation as a plain deny list the TLS layer checks on every call: by
 * node id (what `node rm` adds: every certificate that node ever had) or by
 * serial (one certificate, e.g. a leaked one). Plain JSON, so it can live in
 * the store's cluster object and reach every node by the usual watch; every
 * function is pure and returns a new list.
 */
import type { CertIdentity } from './identity';
import { normalizeSerial } from './x509';

/** The revoked node ids and certificate serials, each sorted and unique. */
export interface RevocationList {
  readonly nodeIds: readonly string[];
  readonly serials: readonly string[];
}

/** A list that revokes nothing. */
export const EMPTY_REVOCATIONS: RevocationList = { nodeIds: [], serials: [] };

const addSorted = (xs: readonly string[], x: string): string[] => (xs.includes(x) ? [...xs] : [...xs, x].sort());

/** The list with every certificate of `nodeId` revoked (`node rm`). */
export function revokeNode(list: RevocationList, nodeId: string): RevocationList {
  return { nodeIds: addSorted(list.nodeIds, nodeId), serials: [...list.serials] };
}

/** The list with the certificate of this serial (any hex rendering) revoked. */
export function revokeSerial(list: RevocationList, serial: string): RevocationList {
  return { nodeIds: [...list.nodeIds], serials: addSorted(list.serials, normalizeSerial(serial)) };
}

/** Whether the holder of this certificate is refused. */
export function isRevoked(list: RevocationList, who: Pick<CertIdentity, 'nodeId' | 'serial'>): boolean {
  return list.nodeIds.includes(who.nodeId) || list.serials.includes(normalizeSerial(who.serial));
}

/** The list without serials of certificates that have expired anyway (pass the serials still valid), so it does not grow forever; node ids stay. */
export function pruneSerials(list: RevocationList, stillValidSerials: readonly string[]): RevocationList {
  const keep = new Set(stillValidSerials.map(normalizeSerial));
  return { nodeIds: [...list.nodeIds], serials: list.serials.filter((s) => keep.has(s)) };
}
