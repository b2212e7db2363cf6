/** A small cluster CA for PKI tests: a root and a way to give a node credentials as a joined node would hold them. */
import { createNodeCsr } from '../../src/pki/node-csr';
import { createRootCa, type RootCa } from '../../src/pki/root-ca';
import { issueNodeCertificate, type IssueRequest, type IssuingCa } from '../../src/pki/signer';
import type { NodeCredentials } from '../../src/pki/credentials';
import type { NodeRole } from '../../src/pki/identity';

/** A test CA. */
export interface TestCa {
  root: RootCa;
  clusterId: string;
  /** Credentials for a node, issued by `issuer` (default the root) and trusting `trust` (default the root alone). */
  node(nodeId: string, role: NodeRole, extra?: Partial<IssueRequest> & { issuer?: IssuingCa; trust?: string[] }): Promise<NodeCredentials>;
}

/** A fresh root and its issuing helper. */
export async function testCa(clusterId = 'cluster1'): Promise<TestCa> {
  const root = await createRootCa({ clusterId });
  return {
    root,
    clusterId,
    async node(nodeId, role, extra = {}) {
      const { issuer, trust, ...req } = extra;
      const { keyPem, csrPem } = await createNodeCsr({ commonName: nodeId });
      const issued = await issueNodeCertificate(issuer ?? root, { csrPem, nodeId, role, clusterId, ipAddresses: ['127.0.0.1'], ...req });
      return { keyPem, certPem: issued.certPem, chainPem: issued.chainPem, trustBundle: trust ?? [root.certPem] };
    },
  };
}

import { spawnSync } from 'node:child_process';

/** Whether the real openssl CLI is here; tests that use it skip otherwise. */
export const OPENSSL = spawnSync('openssl', ['version']).status === 0;

/** Run openssl; its exit status and both outputs. */
export function openssl(args: string[], input?: string | Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('openssl', args, { input, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}
