/**
 * The etcd store over TLS with client certificates, against a real etcd
 * started with `--client-cert-auth` and certificates made by the real
 * openssl: with the CA, a client certificate and its key, the store reads
 * and writes; without a client certificate, or trusting another CA, opening
 * it fails with one clear error instead of hanging.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { EtcdStore } from '../../src/store/etcd-store';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA named `name`, and a certificate signed by it for `cn` (server: with 127.0.0.1 as its address). */
function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`);
}
function makeCert(dir: string, ca: string, cn: string, server: boolean): void {
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${cn}.key`, '-out', `${cn}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(path.join(dir, `${cn}.ext`), server ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' : 'extendedKeyUsage=clientAuth\n');
  openssl(dir, 'x509', '-req', '-in', `${cn}.csr`, '-CA', `${ca}-ca.pem`, '-CAkey', `${ca}-ca.key`, '-CAcreateserial', '-out', `${cn}.pem`, '-days', '2', '-extfile', `${cn}.ext`);
}

t.test('the etcd store over TLS with a client certificate', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shoal-etcd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir, 'cluster');
  makeCa(dir, 'other');
  makeCert(dir, 'cluster', 'server', true);
  makeCert(dir, 'cluster', 'client', false);
  const f = (name: string) => path.join(dir, name);
  const clientPort = await freePort('tcp');
  const peerPort = await freePort('tcp');
  const client = `https://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcd = spawn(
    'etcd',
    [
      ...['--name', 'tls0', '--data-dir', f('data')],
      ...['--listen-client-urls', client, '--advertise-client-urls', client],
      ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `tls0=${peer}`],
      ...['--cert-file', f('server.pem'), '--key-file', f('server.key'), '--client-cert-auth', '--trusted-ca-file', f('cluster-ca.pem')],
      ...['--logger', 'zap', '--log-level', 'error'],
    ],
    { stdio: 'ignore' },
  );
  const gone = new Promise<void>((r) => etcd.once('exit', () => r()));
  t.teardown(async () => {
    etcd.kill('SIGTERM');
    await gone;
  });
  const url = `etcd://127.0.0.1:${clientPort}`;
  const tls = { caFile: f('cluster-ca.pem'), certFile: f('client.pem'), keyFile: f('client.key') };
  const store = await eventually(() => EtcdStore.open({ url, tls, registry: new Registry() }), 'the store over TLS', { timeoutMs: 20_000, pollMs: 200, retryErrors: true });
  t.teardown(() => store.close());
  const put = await store.put('/tls/one', { ok: true });
  t.ok(put.revision > 0, 'a write over TLS');
  t.same((await store.get('/tls/one'))?.value, { ok: true }, 'and a read');

  for (const [what, files] of [
    ['without a client certificate', { caFile: f('cluster-ca.pem') }],
    ['trusting another CA', { ...tls, caFile: f('other-ca.pem') }],
  ] as const) {
    const err = await EtcdStore.open({ url, tls: files, registry: new Registry() }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: Error & { code?: string }) => e,
    );
    t.ok(err, `opening the store ${what} fails`);
    t.match(err?.code, /^SHOAL_ERR_/, `${what}: a stable code (${err?.code})`);
    t.equal(err?.message.split('\n').length, 1, `${what}: one line (${err?.message})`);
  }
});
