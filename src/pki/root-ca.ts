/**
 * The cluster's root CA: a self-signed ECDSA P-256 certificate and its key,
 * made once by `swarm init` (and again by `swarm ca --rotate`). Swarm names
 * it `swarm-ca` and gives it 20 years; node certificates live much shorter.
 */
import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import { type CryptoKey, EC_SIGNING_ALGORITHM, exportPrivateKeyPem, generateKeyPair, parseCertificate, pemBlocks, randomSerial, x509 } from './x509';

/** A root CA as the managers keep it: PEM certificate and PKCS#8 PEM key. */
export interface RootCa {
  certPem: string;
  keyPem: string;
}

/** How long a root lives: 20 years, as swarmkit's RootCAExpiration. */
export const ROOT_CA_VALIDITY_MS = 20 * 365 * 24 * 3600_000;
/** Backdating of every certificate's notBefore, so a peer whose clock is a little behind still accepts it (swarmkit backdates too). */
export const CERT_BACKDATE_MS = 3600_000;
/** The common name of every cluster root. */
export const ROOT_CA_COMMON_NAME = 'swarm-ca';

/** Options of createRootCa. */
export interface RootCaOptions {
  /** When the root is made (tests pass a fixed clock); default now. */
  now?: Date;
  /** Lifetime; default ROOT_CA_VALIDITY_MS. */
  validityMs?: number;
  /** The cluster id, put in the subject's O so operators can tell clusters' roots apart. */
  clusterId?: string;
}

/** A root CA's subject: CN=swarm-ca, an OU telling this root from the one it replaces (same CN across rotations), O=cluster. */
function rootName(clusterId: string | undefined): x509.JsonName {
  const name: x509.JsonName = [{ CN: [ROOT_CA_COMMON_NAME] }, { OU: [`root-${randomBytes(4).toString('hex')}`] }];
  if (clusterId) name.push({ O: [clusterId] });
  return name;
}

/** The extensions every CA certificate of shoal carries; `pathLength` 0 for a cross-signed intermediate, none for a root. */
export async function caExtensions(publicKey: CryptoKey | x509.PublicKey, pathLength?: number): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

/** Make a new self-signed root CA (ECDSA P-256, SHA-256, CA:true, keyCertSign). */
export async function createRootCa(options: RootCaOptions = {}): Promise<RootCa> {
  const now = options.now ?? new Date();
  const validityMs = options.validityMs ?? ROOT_CA_VALIDITY_MS;
  if (!(validityMs > 0)) throw new InvalidArgumentError('a root CA needs a positive validity');
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: new x509.Name(rootName(options.clusterId)),
    notBefore: new Date(now.getTime() - CERT_BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    keys,
    extensions: await caExtensions(keys.publicKey),
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/** The CA digest join tokens carry: SHA-256 of the root certificate's DER, lowercase hex (as `openssl x509 -outform der | sha256sum`). */
export function caDigest(certPem: string): string {
  const block = pemBlocks(certPem).find((b) => b.label === 'CERTIFICATE');
  const der = block ? block.der : Buffer.from(parseCertificate(certPem).rawData);
  return createHash('sha256').update(der).digest('hex');
}
