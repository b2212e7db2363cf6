/**
 * Who a node certificate says its holder is. Swarm's layout: the subject's CN
 * is the node id, OU the role (`swarm-manager` / `swarm-worker`), O the
 * cluster id. Only the CA writes these (signer.ts), so a peer that presents a
 * certificate chaining to the cluster root is who its subject says.
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { CertificateInvalidError } from '../errors';
import { normalizeSerial, parseCertificate, x509 } from './x509';

/** A node's role in the swarm as its certificate carries it. */
export type NodeRole = 'manager' | 'worker';

/** The OU of each role, as Swarm spells it. */
export const ROLE_OU: Readonly<Record<NodeRole, string>> = { manager: 'swarm-manager', worker: 'swarm-worker' };

/** The DNS name every manager certificate carries (Swarm's), so a client can demand "a manager of this cluster" as the TLS server name. */
export const MANAGER_SERVER_NAME = ROLE_OU.manager;

/** What a node certificate says about its holder. */
export interface CertIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
  /** Lowercase hex without leading zeros (normalizeSerial). */
  serial: string;
}

/** Anything a certificate arrives as: PEM, DER, a parsed @peculiar or node:crypto certificate, or a TLS peer certificate (`socket.getPeerCertificate()`). */
export type CertificateInput = string | Uint8Array | x509.X509Certificate | NodeX509Certificate | PeerCertificate;

/** `input` parsed with @peculiar/x509, whatever form it came in. */
export function toX509(input: CertificateInput): x509.X509Certificate {
  if (input instanceof x509.X509Certificate) return input;
  if (typeof input === 'string' || input instanceof Uint8Array) return parseCertificate(input);
  if (input instanceof NodeX509Certificate) return parseCertificate(input.raw);
  if (input && Buffer.isBuffer((input as PeerCertificate).raw)) return parseCertificate((input as PeerCertificate).raw);
  throw new CertificateInvalidError('no certificate (the peer sent none)');
}

/** The role an OU names, or null for an OU that is no role. */
export function roleFromOu(ou: string): NodeRole | null {
  for (const role of Object.keys(ROLE_OU) as NodeRole[]) if (ROLE_OU[role] === ou) return role;
  return null;
}

function oneField(cert: x509.X509Certificate, field: string): string {
  const values = cert.subjectName.getField(field);
  if (values.length !== 1) throw new CertificateInvalidError(`a node certificate has exactly one ${field} in its subject (this one has ${values.length})`);
  return values[0];
}

/** Read node id, role, cluster id, validity and serial from a node certificate; CertificateInvalidError when it is no node certificate (a root, another layout). It does not check the chain: callers trust the TLS layer or verifyChain for that. */
export function certIdentity(input: CertificateInput): CertIdentity {
  const cert = toX509(input);
  const ou = oneField(cert, 'OU');
  const role = roleFromOu(ou);
  if (!role) throw new CertificateInvalidError(`the certificate's OU "${ou}" is no swarm role`);
  return {
    nodeId: oneField(cert, 'CN'),
    role,
    clusterId: oneField(cert, 'O'),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: normalizeSerial(cert.serialNumber),
  };
}
