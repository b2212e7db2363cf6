/**
 * `shoal swarm ca [--rotate] [--client-cert DIR]` and `swarm join-token
 * --rotate`: the cluster CA (issue 13) as an operator sees it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { CaInfoResponse, IssueCertificateResponse, JoinTokenResponse } from '../../api/contract';
import { InvalidArgumentError } from '../../errors';
import { CLIENT_CERT_FILES, clientFor, type GlobalFlags } from '../context';

/** How `swarm ca` shows the CA: its root, and a rotation under way. */
export function describeCa(ca: CaInfoResponse): string {
  const lines = [ca.rootPem.trimEnd()];
  if (ca.rotation) {
    const n = ca.rotation.pendingNodes.length;
    lines.push(`rotation in progress since ${ca.rotation.startedAt}: ${n} node${n === 1 ? '' : 's'} still on the old root${n ? ` (${ca.rotation.pendingNodes.join(', ')})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

async function writeClientCert(dir: string, keyPem: string, issued: IssueCertificateResponse): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(dir, CLIENT_CERT_FILES.key), keyPem, { mode: 0o600 });
  await writeFile(path.join(dir, CLIENT_CERT_FILES.cert), issued.certPem + issued.chainPem, { mode: 0o644 });
  await writeFile(path.join(dir, CLIENT_CERT_FILES.ca), issued.trustBundle.join(''), { mode: 0o644 });
}

/** Register `swarm ca` under `swarm`. */
export function registerSwarmCa(swarm: Command, globals: () => GlobalFlags): void {
  swarm
    .command('ca')
    .description('Show the cluster root CA; rotate it, or issue a client certificate for remote use')
    .option('--rotate', 'Replace the root CA; nodes move to certificates from the new root with no downtime')
    .option('--client-cert <dir>', 'Write a client certificate (ca.pem, cert.pem, key.pem) for -H tcp://manager:2377 into DIR')
    .action(async (f: { rotate?: boolean; clientCert?: string }) => {
      if (f.rotate && f.clientCert) throw new InvalidArgumentError('--rotate and --client-cert go one at a time');
      const client = clientFor(globals());
      if (f.clientCert) {
        const { createNodeCsr } = await import('../../pki/index.js');
        const csr = await createNodeCsr({ commonName: 'shoal-client' });
        const issued = await client.call<IssueCertificateResponse>('POST', '/v1/swarm/ca/client-cert', { csrPem: csr.csrPem });
        await writeClientCert(f.clientCert, csr.keyPem, issued);
        const dir = path.resolve(f.clientCert);
        return void process.stdout.write(`Client certificate ${issued.nodeId} written to ${dir}.\nUse it with: SHOAL_CERT_PATH=${dir} shoal -H tcp://<manager>:2377 node ls\n`);
      }
      const ca = await client.call<CaInfoResponse>(f.rotate ? 'POST' : 'GET', f.rotate ? '/v1/swarm/ca/rotate' : '/v1/swarm/ca');
      process.stdout.write(describeCa(ca));
    });
}

/** `swarm join-token [--rotate] [-q] worker|manager`. */
export async function joinTokenCommand(globals: GlobalFlags, role: string, f: { quiet?: boolean; rotate?: boolean }): Promise<void> {
  if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`invalid role "${role}": use worker or manager`);
  const client = clientFor(globals);
  const r = f.rotate ? await client.call<JoinTokenResponse>('POST', `/v1/swarm/join-token/${role}/rotate`) : await client.call<JoinTokenResponse>('GET', `/v1/swarm/join-token/${role}`);
  if (f.quiet) return void process.stdout.write(r.token + '\n');
  if (f.rotate) process.stdout.write(`Successfully rotated ${role} join token.\n\n`);
  process.stdout.write(`To add a ${role} to this swarm, run the following command:\n\n    ${r.command}\n\n`);
}
