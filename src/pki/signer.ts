/**
 * The CA's half: turn a node's CSR into its certificate. The signer trusts
 * the CSR for exactly one thing, the public key (after checking the CSR's
 * signature proves the requester holds it); the node id, role and cluster
 * come from the caller, who knows them from the token the node presented or
 * from the store. Manager certificates must also be servers, so every node
 * certificate has serverAuth and clientAuth, and DNS names for its role and
 * node id (as swarmkit's), plus the addresses its manager API answers on.
 */
import { isIP } from 'node:net';
import { CertificateInvalidError, InvalidArgumentError } from '../errors';
import { ROLE_OU, type NodeRole } from './identity';
import { CERT_BACKDATE_MS } from './root-ca';
import { EC_SIGNING_ALGORITHM, importPrivateKeyPem, normalizeSerial, parseCertificate, randomSerial, splitPemCertificates, x509 } from './x509';

/** Default node certificate lifetime, Docker's `--cert-expiry` default: 90 days. */
export const DEFAULT_CERT_EXPIRY_MS = 90 * 24 * 3600_000;
/** The shortest `--cert-expiry` Docker allows: 1 hour. */
export const MIN_CERT_EXPIRY_MS = 3600_000;

/** The key that signs node certificates, with the certificate naming it and what a node presents above its leaf. */
export interface IssuingCa {
  /** The issuer's certificate: the root, or during rotation the new root (its subject and key id go into each leaf). */
  certPem: string;
  /** The issuer's private key (PKCS#8 PEM). */
  keyPem: string;
  /** Certificates a node sends after its leaf; during a root rotation the cross-signed intermediate, otherwise empty. */
  chainPem?: string;
}

/** What to certify; every field but the CSR comes from the CA's own knowledge, never from the CSR. */
export interface IssueRequest {
  csrPem: string;
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** Extra DNS names (a manager's hostnames). */
  dnsNames?: readonly string[];
  /** IP addresses the node's API answers on (a manager's advertise address), so `curl --cacert` can check the name. */
  ipAddresses?: readonly string[];
  /** Lifetime, default DEFAULT_CERT_EXPIRY_MS; at least MIN_CERT_EXPIRY_MS. */
  validityMs?: number;
  /** The signing time (tests set it in the past to make an expired certificate); default now. */
  now?: Date;
}

/** A signed node certificate and the chain its holder presents with it. */
export interface IssuedCertificate {
  /** The leaf alone, PEM. */
  certPem: string;
  /** The intermediates to send after the leaf (may be empty). */
  chainPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Ids go into a DNS SAN and a subject: letters, digits, `-`, `.`, `_`, not empty, at most 64 (X.520's CN bound). */
const ID_FORMAT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME_FORMAT = /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;

function checkId(what: string, value: string): void {
  if (!ID_FORMAT.test(value)) throw new InvalidArgumentError(`invalid ${what} "${value}" for a certificate: use letters, digits, ".", "_" or "-" (at most 64)`);
}

/** Parse a CSR and check its self-signature and key type; CertificateInvalidError otherwise. */
export async function readCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertificateInvalidError(`not a PKCS#10 certificate signing request: ${(err as Error).message}`);
  }
  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' && alg.name !== 'EC') throw new CertificateInvalidError(`the CSR's key is ${alg.name}; node keys are ECDSA P-256`);
  if (alg.namedCurve && alg.namedCurve !== 'P-256') throw new CertificateInvalidError(`the CSR's key is on ${alg.namedCurve}; node keys are P-256`);
  if (!(await csr.verify())) throw new CertificateInvalidError("the CSR's signature does not verify: the requester does not hold the key");
  return csr;
}

/** The SAN extension: role and node id as DNS names, then the caller's names and addresses. */
function subjectAltNames(req: IssueRequest): x509.SubjectAlternativeNameExtension {
  const names: x509.JsonGeneralName[] = [{ type: 'dns', value: ROLE_OU[req.role] }, { type: 'dns', value: req.nodeId }];
  for (const dns of req.dnsNames ?? []) {
    if (!DNS_NAME_FORMAT.test(dns)) throw new InvalidArgumentError(`invalid DNS name "${dns}" for a certificate`);
    if (!names.some((n) => n.value === dns)) names.push({ type: 'dns', value: dns });
  }
  for (const ip of req.ipAddresses ?? []) {
    if (!isIP(ip)) throw new InvalidArgumentError(`invalid IP address "${ip}" for a certificate`);
    names.push({ type: 'ip', value: ip });
  }
  return new x509.SubjectAlternativeNameExtension(names, false);
}

/** Sign a node's CSR with the issuing CA; the subject is CN=nodeId, OU=role, O=clusterId whatever the CSR asked for. */
export async function issueNodeCertificate(ca: IssuingCa, req: IssueRequest): Promise<IssuedCertificate> {
  checkId('node id', req.nodeId);
  checkId('cluster id', req.clusterId);
  if (!(req.role in ROLE_OU)) throw new InvalidArgumentError(`invalid role "${String(req.role)}": manager or worker`);
  const validityMs = req.validityMs ?? DEFAULT_CERT_EXPIRY_MS;
  if (!(validityMs >= MIN_CERT_EXPIRY_MS)) throw new InvalidArgumentError(`certificate expiry must be at least 1 hour (got ${Math.round(validityMs / 1000)}s)`);
  const csr = await readCsr(req.csrPem);
  const issuer = parseCertificate(ca.certPem);
  const signingKey = await importPrivateKeyPem(ca.keyPem);
  const now = req.now ?? new Date();
  const notBefore = new Date(now.getTime() - CERT_BACKDATE_MS);
  const notAfter = new Date(now.getTime() + validityMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: new x509.Name([{ CN: [req.nodeId] }, { OU: [ROLE_OU[req.role]] }, { O: [req.clusterId] }]),
    issuer: issuer.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    publicKey: csr.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      subjectAltNames(req),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
    ],
  });
  return {
    certPem: cert.toString('pem') + '\n',
    chainPem: splitPemCertificates(ca.chainPem ?? '').join(''),
    serial: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}
