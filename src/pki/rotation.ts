/**
 * Root rotation with no downtime (`swarm ca --rotate`), Swarm's way: a new
 * root, plus a cross-signed intermediate (the new root's name and key,
 * certified by the old root). A leaf issued by the new key and presented
 * with that intermediate verifies both at a node that trusts only the old
 * root (leaf -> cross-signed -> old root) and at one that trusts only the new
 * root (leaf -> new root), so nodes can move one at a time.
 *
 * The orchestration (a shell around these pure-ish steps; the state fits in
 * the store's cluster object as PEM strings):
 * 1. `startRootRotation(current)`: keep the RootRotation in the store; issue
 *    join tokens for the new root (generateJoinToken(next.certPem), same
 *    secrets) since managers now show both roots.
 * 2. Every node's trust bundle becomes `rotationTrustBundle(r)` (old + new);
 *    the managers' TLS servers take it with `server.setSecureContext(...)`.
 * 3. Sign every CSR with `rotationIssuingCa(r)` (the new key, chain = the
 *    cross-signed cert); tell every node to renew now, not at renewAt().
 * 4. When `nodesNotOnRoot(nodes, r.next.certPem)` is empty (every node's
 *    certificate comes from the new key), `finishRootRotation(r)`: the new
 *    root alone is the CA, the bundle drops the old root, the chain is empty.
 *    Nodes pick the new bundle up and re-present their certificates without
 *    the intermediate on their next renewal (with it they still verify).
 */
import { InvalidArgumentError } from '../errors';
import { caExtensions, createRootCa, type RootCa, type RootCaOptions } from './root-ca';
import type { IssuingCa } from './signer';
import { issuedDirectlyBy } from './chain';
import { EC_SIGNING_ALGORITHM, importPrivateKeyPem, parseCertificate, randomSerial, x509 } from './x509';

/** A rotation under way: the root being replaced, its successor, and the successor certified by the old root. */
export interface RootRotation {
  current: RootCa;
  next: RootCa;
  /** The cross-signed intermediate (PEM): subject and key of `next`, issued by `current`. */
  crossSignedPem: string;
}

/** Certify `newRoot`'s key with `oldRoot` (same subject and key id as newRoot, issuer oldRoot), valid no longer than either root. */
export async function crossSignRoot(oldRoot: RootCa, newRootCertPem: string, now: Date = new Date()): Promise<string> {
  const oldCert = parseCertificate(oldRoot.certPem);
  const newCert = parseCertificate(newRootCertPem);
  const notAfter = new Date(Math.min(oldCert.notAfter.getTime(), newCert.notAfter.getTime()));
  if (notAfter.getTime() <= now.getTime()) throw new InvalidArgumentError('the old root has expired; it cannot cross-sign its successor');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: newCert.subjectName,
    issuer: oldCert.subjectName,
    notBefore: newCert.notBefore,
    notAfter,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    publicKey: newCert.publicKey,
    signingKey: await importPrivateKeyPem(oldRoot.keyPem),
    // pathLength 0: the cross-signed root may sign node certificates and nothing that signs again.
    extensions: [...(await caExtensions(newCert.publicKey, 0)), await x509.AuthorityKeyIdentifierExtension.create(oldCert.publicKey)],
  });
  return cert.toString('pem') + '\n';
}

/** Begin a rotation away from `current`: a new root (or the one given, e.g. an operator's `--ca-cert/--ca-key`) and its cross-signed intermediate. */
export async function startRootRotation(current: RootCa, options: RootCaOptions & { next?: RootCa } = {}): Promise<RootRotation> {
  const next = options.next ?? (await createRootCa(options));
  return { current, next, crossSignedPem: await crossSignRoot(current, next.certPem, options.now) };
}

/** What signs node certificates during the rotation: the new key, presented with the cross-signed intermediate. */
export function rotationIssuingCa(rotation: RootRotation): IssuingCa {
  return { certPem: rotation.next.certPem, keyPem: rotation.next.keyPem, chainPem: rotation.crossSignedPem };
}

/** The roots every node trusts during the rotation: old and new. */
export function rotationTrustBundle(rotation: RootRotation): string[] {
  return [rotation.current.certPem, rotation.next.certPem];
}

/** The ids of nodes whose certificate the new root's key did not sign yet; the rotation may finish when this is empty. */
export function nodesNotOnRoot(nodes: readonly { nodeId: string; certPem: string }[], rootCertPem: string): string[] {
  return nodes.filter((n) => !issuedDirectlyBy(n.certPem, rootCertPem)).map((n) => n.nodeId);
}

/** End the rotation: the new root is the cluster CA (issue with `{ ...next }` and no chain, trust `[next.certPem]`). */
export function finishRootRotation(rotation: RootRotation): RootCa {
  return rotation.next;
}
