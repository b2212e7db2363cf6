/**
 * A node's certificate while it is in a swarm: kept in
 * `<stateDir>/certificates/` (key 0600), handed to the manager client and on
 * a manager to the API server, and replaced on renewal (before expiry, on a
 * CA rotation, on a role change), each holder told through onChange.
 */
import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { IssueCertificateResponse } from '../api/contract';
import { certIdentity, createNodeCsr, loadNodeCredentials, saveNodeCredentials, type CertIdentity, type NodeCredentials } from '../pki';

/** The credentials directory under the state dir. */
export const CERT_DIR = 'certificates';

/** A fresh key and its CSR, for a first certificate or a renewal. */
export async function newCsr(): Promise<{ keyPem: string; csrPem: string }> {
  const csr = await createNodeCsr();
  return { keyPem: csr.keyPem, csrPem: csr.csrPem };
}

/** This node's credentials and who they say it is. */
export class NodeTls {
  private listeners: ((creds: NodeCredentials) => void)[] = [];

  private constructor(
    private readonly dir: string,
    private current: NodeCredentials,
  ) {}

  /** Load the credentials saved in `stateDir`, or null when it has none. */
  static async load(stateDir: string): Promise<NodeTls | null> {
    const dir = path.join(stateDir, CERT_DIR);
    const creds = await loadNodeCredentials(dir);
    return creds ? new NodeTls(dir, creds) : null;
  }

  /** Save credentials from an issued certificate and the key whose CSR it answered. */
  static async save(stateDir: string, keyPem: string, issued: IssueCertificateResponse): Promise<NodeTls> {
    const tls = new NodeTls(path.join(stateDir, CERT_DIR), toCredentials(keyPem, issued));
    await saveNodeCredentials(tls.dir, tls.current);
    return tls;
  }

  /** Forget the credentials (swarm leave). */
  static async remove(stateDir: string): Promise<void> {
    await rm(path.join(stateDir, CERT_DIR), { recursive: true, force: true });
  }

  get credentials(): NodeCredentials {
    return this.current;
  }

  /** Node id, role, cluster and validity, from the certificate. */
  identity(): CertIdentity {
    return certIdentity(this.current.certPem);
  }

  /** Replace the credentials (saved first), then tell every holder. */
  async replace(creds: NodeCredentials): Promise<void> {
    await saveNodeCredentials(this.dir, creds);
    this.current = creds;
    for (const fn of this.listeners) fn(creds);
  }

  /** A renewal's answer, for the key its CSR was made with. */
  renewed(keyPem: string, issued: IssueCertificateResponse): Promise<void> {
    return this.replace(toCredentials(keyPem, issued));
  }

  onChange(fn: (creds: NodeCredentials) => void): void {
    this.listeners.push(fn);
  }
}

function toCredentials(keyPem: string, issued: IssueCertificateResponse): NodeCredentials {
  return { keyPem, certPem: issued.certPem, chainPem: issued.chainPem, trustBundle: issued.trustBundle };
}
