/**
 * The cluster CA as the store keeps it (issue 13): the root's certificate in
 * the cluster object with its key sealed under the managers' data key, the
 * join tokens derived from the root's digest and a secret per role, the
 * revocation list, and a root rotation under way. These functions turn that
 * object into what signs (IssuingCa), what every node trusts, and the next
 * object after a token rotation, a revocation or a rotation step; the
 * CaApi shell does the store writes.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import type { Cluster, ClusterCa, NodeRole, StoredCaKey } from '../../model/types';
import {
  caDigest,
  createRootCa,
  crossSignRoot,
  DEFAULT_CERT_EXPIRY_MS,
  EMPTY_REVOCATIONS,
  generateJoinToken,
  generateTokenSecret,
  issuedDirectlyBy,
  issueNodeCertificate,
  parseToken,
  revokeNode,
  secretsEqual,
  type IssuedCertificate,
  type IssuingCa,
  type RevocationList,
  type RootCa,
} from '../../pki';
import { seal, unseal } from '../secrets/sealing';

/** The sealed CA key's object id (sealing binds a ciphertext to its object). */
const CA_KEY_ID = 'cluster-ca';
const NEXT_CA_KEY_ID = 'cluster-ca-next';

/** What a new cluster object holds of the PKI. */
export type ClusterPki = Required<Pick<Cluster, 'ca' | 'tokenSecrets' | 'revocations' | 'certExpiryMs' | 'tokens'>>;

function sealRoot(dataKey: Buffer, root: RootCa, id: string): StoredCaKey {
  return { certPem: root.certPem, key: seal(dataKey, id, Buffer.from(root.keyPem, 'utf8')) };
}

function openRoot(dataKey: Buffer, stored: StoredCaKey, id: string): RootCa {
  return { certPem: stored.certPem, keyPem: unseal(dataKey, id, stored.key).toString('utf8') };
}

/** A new root CA (ECDSA P-256, @peculiar/x509), token secrets and an empty revocation list for `swarm init`. */
export async function newClusterPki(dataKey: Buffer, certExpiryMs = DEFAULT_CERT_EXPIRY_MS): Promise<ClusterPki> {
  const root = await createRootCa();
  const ca: ClusterCa = sealRoot(dataKey, root, CA_KEY_ID);
  const tokenSecrets = { worker: generateTokenSecret(), manager: generateTokenSecret() };
  return { ca, tokenSecrets, revocations: EMPTY_REVOCATIONS, certExpiryMs, tokens: joinTokens(ca, tokenSecrets) };
}

/** The root join tokens name: during a rotation still the old one, which every node trusts until it ends. */
function tokenRoot(ca: ClusterCa): string {
  return ca.certPem;
}

/** Both join tokens for the CA and secrets. */
export function joinTokens(ca: ClusterCa, secrets: { worker: string; manager: string }): { worker: string; manager: string } {
  const root = tokenRoot(ca);
  return { worker: generateJoinToken(root, secrets.worker), manager: generateJoinToken(root, secrets.manager) };
}

/** The PKI of a cluster object, or an error for a store written before the CA existed. */
export function pkiOf(cluster: Cluster): ClusterPki {
  if (!cluster.ca || !cluster.tokenSecrets) throw new InvalidArgumentError('this swarm has no cluster CA (made before shoal had one): create a new swarm');
  return {
    ca: cluster.ca,
    tokenSecrets: cluster.tokenSecrets,
    revocations: cluster.revocations ?? EMPTY_REVOCATIONS,
    certExpiryMs: cluster.certExpiryMs ?? DEFAULT_CERT_EXPIRY_MS,
    tokens: cluster.tokens,
  };
}

/** The role a presented join token grants, or null (wrong CA digest, unknown or rotated-away secret). */
export function roleForJoinToken(cluster: Cluster, token: string): NodeRole | null {
  const { ca, tokenSecrets } = pkiOf(cluster);
  let parsed;
  try {
    parsed = parseToken(token);
  } catch {
    return null;
  }
  if (parsed.caDigest !== caDigest(tokenRoot(ca))) return null;
  if (secretsEqual(parsed.secret, tokenSecrets.manager)) return 'manager';
  if (secretsEqual(parsed.secret, tokenSecrets.worker)) return 'worker';
  return null;
}

/** What signs node certificates now: the root, or during a rotation the new root's key with the cross-signed chain. */
export function issuingCa(cluster: Cluster, dataKey: Buffer): IssuingCa {
  const { ca } = pkiOf(cluster);
  if (ca.rotation) {
    const next = openRoot(dataKey, ca.rotation.next, NEXT_CA_KEY_ID);
    return { certPem: next.certPem, keyPem: next.keyPem, chainPem: ca.rotation.crossSignedPem };
  }
  return { ...openRoot(dataKey, ca, CA_KEY_ID), chainPem: '' };
}

/** The root a node's certificate must come from directly; one that does not renews now. */
export function issuingRootPem(cluster: Cluster): string {
  const { ca } = pkiOf(cluster);
  return ca.rotation?.next.certPem ?? ca.certPem;
}

/** The roots every node trusts: the root, and during a rotation its successor too. */
export function trustBundle(cluster: Cluster): string[] {
  const { ca } = pkiOf(cluster);
  return ca.rotation ? [ca.certPem, ca.rotation.next.certPem] : [ca.certPem];
}

/** A node certificate for `nodeId` in `role`, signed by the issuing CA. */
export function issueFor(cluster: Cluster, dataKey: Buffer, req: { csrPem: string; nodeId: string; role: NodeRole; ipAddresses?: string[]; now?: Date }): Promise<IssuedCertificate> {
  const { certExpiryMs } = pkiOf(cluster);
  return issueNodeCertificate(issuingCa(cluster, dataKey), { ...req, clusterId: cluster.id, validityMs: certExpiryMs });
}

/** The cluster with a new secret for `role`'s join token; the other token is unchanged. */
export function withRotatedToken(cluster: Cluster, role: NodeRole): Cluster {
  const pki = pkiOf(cluster);
  const tokenSecrets = { ...pki.tokenSecrets, [role]: generateTokenSecret() };
  return { ...cluster, tokenSecrets, tokens: joinTokens(pki.ca, tokenSecrets) };
}

/** The cluster with `nodeId`'s certificates refused from now on. */
export function withRevokedNode(cluster: Cluster, nodeId: string): Cluster {
  const revocations: RevocationList = revokeNode(pkiOf(cluster).revocations, nodeId);
  return { ...cluster, revocations };
}

/** The cluster with a root rotation begun: a new root, sealed, and the old root's signature on it. */
export async function withRotationStarted(cluster: Cluster, dataKey: Buffer, now: Date): Promise<Cluster> {
  const { ca } = pkiOf(cluster);
  const current = openRoot(dataKey, ca, CA_KEY_ID);
  const next = await createRootCa({ now });
  const crossSignedPem = await crossSignRoot(current, next.certPem, now);
  return { ...cluster, ca: { ...ca, rotation: { next: sealRoot(dataKey, next, NEXT_CA_KEY_ID), crossSignedPem, startedAt: now.toISOString() } } };
}

/** The cluster with its rotation ended: the successor is the root (its key sealed under the root's id), tokens name it. */
export function withRotationFinished(cluster: Cluster, dataKey: Buffer): Cluster {
  const pki = pkiOf(cluster);
  const rotation = pki.ca.rotation;
  if (!rotation) return cluster;
  const ca = sealRoot(dataKey, openRoot(dataKey, rotation.next, NEXT_CA_KEY_ID), CA_KEY_ID);
  return { ...cluster, ca, tokens: joinTokens(ca, pki.tokenSecrets) };
}

/** Whether every certificate listed was signed directly by the issuing root (a rotation may end). */
export function allOnIssuingRoot(cluster: Cluster, certPems: readonly string[]): boolean {
  const root = issuingRootPem(cluster);
  return certPems.every((pem) => issuedDirectlyBy(pem, root));
}

/** An id for a client certificate (`swarm ca --client-cert`): not a node, so never registered. */
export function clientCertId(): string {
  return `client-${randomBytes(8).toString('hex')}`;
}
