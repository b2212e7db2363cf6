/**
 * Path checking with node:crypto, for where OpenSSL inside node:tls does not
 * do it for us: a joining node checking a manager against the root its token
 * names, and the rotation orchestration asking which root a certificate
 * chains to. Each link is checked for names and key ids (checkIssued), the
 * signature, the issuer being a CA, and validity at `now`.
 */
import type { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { CertificateInvalidError } from '../errors';
import { parseNodeCertificate, splitPemCertificates } from './x509';

/** Longest chain accepted: leaf, one intermediate (the cross-signed root), root, with room for one more. */
const MAX_CHAIN_DEPTH = 4;

/** Whether `issuer` signed `cert`: names and key ids match, the signature verifies, and the issuer is a CA. */
export function signedBy(cert: NodeX509Certificate, issuer: NodeX509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function validAt(cert: NodeX509Certificate, now: Date): boolean {
  return new Date(cert.validFrom).getTime() <= now.getTime() && now.getTime() <= new Date(cert.validTo).getTime();
}

/** Check that `leafPem` chains through some of `intermediatesPem` to one of `rootsPem`, all valid at `now`; returns the root (PEM) it ends at, else throws CertificateInvalidError. */
export function verifyChain(leafPem: string, intermediatesPem: readonly string[], rootsPem: readonly string[], now: Date = new Date()): string {
  const roots = rootsPem.map((pem) => ({ pem, cert: parseNodeCertificate(pem) }));
  const intermediates = intermediatesPem.flatMap(splitPemCertificates).map((pem) => parseNodeCertificate(pem));
  let current = parseNodeCertificate(leafPem);
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    if (!validAt(current, now)) throw new CertificateInvalidError(`certificate "${current.subject.replace(/\n/g, ', ')}" is not valid now (valid ${current.validFrom} to ${current.validTo})`);
    const root = roots.find((r) => signedBy(current, r.cert));
    if (root) {
      if (!validAt(root.cert, now)) throw new CertificateInvalidError('the root CA certificate is not valid now');
      return root.pem;
    }
    const next = intermediates.find((c) => c !== current && signedBy(current, c));
    if (!next) break;
    current = next;
  }
  throw new CertificateInvalidError('the certificate does not chain to the cluster CA');
}

/** Whether `certPem` (with its chain) verifies against these roots at `now`; verifyChain without the throw. */
export function chainsTo(certPem: string, chainPem: readonly string[], rootsPem: readonly string[], now: Date = new Date()): boolean {
  try {
    verifyChain(certPem, chainPem, rootsPem, now);
    return true;
  } catch {
    return false;
  }
}

/** Whether the leaf was signed directly by the key of `caCertPem` (which root key issued it, whatever its chain). */
export function issuedDirectlyBy(certPem: string, caCertPem: string): boolean {
  return signedBy(parseNodeCertificate(certPem), parseNodeCertificate(caCertPem));
}
