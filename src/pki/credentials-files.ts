/**
 * A node's credentials on disk, in its state directory: `node-key.pem`
 * (0600), `node-cert.pem`, `node-chain.pem`, `ca-bundle.pem`, and on managers
 * `root-ca-cert.pem` / `root-ca-key.pem` (0600). Each file is written to a
 * temporary file in the same directory, fsynced, and renamed over the old
 * one, so a crash leaves the old file or the new one, never half of either.
 * The key is written before the certificate: a crash in between leaves a new
 * key and an old certificate, which load refuses (they do not match), and the
 * node then asks for a certificate again.
 */
import { randomBytes, createPublicKey, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CertificateInvalidError } from '../errors';
import type { NodeCredentials } from './credentials';
import type { RootCa } from './root-ca';
import { parseNodeCertificate, splitPemCertificates } from './x509';

/** File names inside the credentials directory. */
export const CREDENTIAL_FILES = {
  key: 'node-key.pem',
  cert: 'node-cert.pem',
  chain: 'node-chain.pem',
  bundle: 'ca-bundle.pem',
  rootCert: 'root-ca-cert.pem',
  rootKey: 'root-ca-key.pem',
} as const;

/** Mode of private key files and of the directory. */
const SECRET_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const DIR_MODE = 0o700;

/** Write `data` to `file` atomically (temp file in the same directory, fsync, rename, fsync the directory). */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or (for 0644) kept the mode; set it exactly
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Save a node's key, certificate, chain and trust bundle into `dir` (made 0700 if missing). */
export async function saveNodeCredentials(dir: string, creds: NodeCredentials): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.key), creds.keyPem, SECRET_MODE);
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.chain), creds.chainPem, PUBLIC_MODE);
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.bundle), creds.trustBundle.join(''), PUBLIC_MODE);
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.cert), creds.certPem, PUBLIC_MODE);
}

async function readIfPresent(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether `certPem`'s public key is the public half of `keyPem`. */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = parseNodeCertificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(fromKey, fromCert) === 0;
  } catch {
    return false;
  }
}

/** Load what saveNodeCredentials wrote; null when the node has no credentials yet, CertificateInvalidError when they are incomplete or the key does not match the certificate. */
export async function loadNodeCredentials(dir: string): Promise<NodeCredentials | null> {
  const [keyPem, certPem, chainPem, bundle] = await Promise.all(
    [CREDENTIAL_FILES.key, CREDENTIAL_FILES.cert, CREDENTIAL_FILES.chain, CREDENTIAL_FILES.bundle].map((f) => readIfPresent(path.join(dir, f))),
  );
  if (keyPem === null && certPem === null) return null;
  if (keyPem === null || certPem === null || bundle === null) throw new CertificateInvalidError(`the node credentials in ${dir} are incomplete (key, certificate and CA bundle are needed); leave and join again`);
  if (!keyMatchesCertificate(keyPem, certPem)) throw new CertificateInvalidError(`the node key in ${dir} does not match its certificate; ask for a new certificate`);
  return { keyPem, certPem, chainPem: chainPem ?? '', trustBundle: splitPemCertificates(bundle) };
}

/** Save a manager's root CA (the key 0600) into `dir`. */
export async function saveRootCa(dir: string, root: RootCa): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.rootKey), root.keyPem, SECRET_MODE);
  await writeFileAtomic(path.join(dir, CREDENTIAL_FILES.rootCert), root.certPem, PUBLIC_MODE);
}

/** Load a root CA saved by saveRootCa; null when there is none. */
export async function loadRootCa(dir: string): Promise<RootCa | null> {
  const [certPem, keyPem] = await Promise.all([readIfPresent(path.join(dir, CREDENTIAL_FILES.rootCert)), readIfPresent(path.join(dir, CREDENTIAL_FILES.rootKey))]);
  if (certPem === null && keyPem === null) return null;
  if (certPem === null || keyPem === null || !keyMatchesCertificate(keyPem, certPem)) throw new CertificateInvalidError(`the root CA in ${dir} is incomplete or its key does not match`);
  return { certPem, keyPem };
}
