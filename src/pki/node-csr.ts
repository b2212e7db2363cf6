/**
 * The node's half of getting a certificate: it makes its own key pair and a
 * PKCS#10 signing request, sends only the request, and keeps the key. What
 * the request's subject says is a hint at most: the CA writes the node id,
 * role and cluster into the certificate from its own records.
 */
import { EC_SIGNING_ALGORITHM, exportPrivateKeyPem, generateKeyPair, x509 } from './x509';

/** A new key (PKCS#8 PEM, stays on the node) and the CSR (PEM) to send to the CA. */
export interface NodeCsr {
  keyPem: string;
  csrPem: string;
}

/** Options of createNodeCsr. */
export interface NodeCsrOptions {
  /** The subject the node asks for (CN, e.g. its node id if it has one); informative only. */
  commonName?: string;
  /** Extra subject fields, e.g. `{ OU: 'swarm-manager' }`; the CA ignores them (tests use this to prove it). */
  claims?: Record<string, string>;
}

/** Make a P-256 key pair and a CSR signed with it (proof the requester holds the key). */
export async function createNodeCsr(options: NodeCsrOptions = {}): Promise<NodeCsr> {
  const keys = await generateKeyPair();
  const name: x509.JsonName = [{ CN: [options.commonName ?? 'swarm-node'] }];
  for (const [k, v] of Object.entries(options.claims ?? {})) name.push({ [k]: [v] });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: new x509.Name(name), keys, signingAlgorithm: EC_SIGNING_ALGORITHM });
  return { keyPem: await exportPrivateKeyPem(keys.privateKey), csrPem: csr.toString('pem') + '\n' };
}
