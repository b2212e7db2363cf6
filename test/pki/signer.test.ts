/** Issuing node certificates: the subject comes from the CA, not the CSR; SANs, key usages, validity; identity read back; openssl agrees. */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CertificateInvalidError, InvalidArgumentError } from '../../src/errors';
import { certIdentity } from '../../src/pki/identity';
import { createNodeCsr } from '../../src/pki/node-csr';
import { createRootCa } from '../../src/pki/root-ca';
import { DEFAULT_CERT_EXPIRY_MS, issueNodeCertificate, MIN_CERT_EXPIRY_MS } from '../../src/pki/signer';
import { parseCertificate, x509 } from '../../src/pki/x509';
import { OPENSSL, openssl } from '../support/pki';

const HOUR = 3600_000;

t.test('the root is a P-256 CA for 20 years', async (t) => {
  const now = new Date('2030-06-01T00:00:00Z');
  const root = await createRootCa({ now, clusterId: 'c1' });
  const cert = new X509Certificate(root.certPem);
  t.ok(cert.ca, 'CA:true');
  t.equal(cert.subject, cert.issuer, 'self-signed');
  t.ok(cert.verify(cert.publicKey), 'its own key signed it');
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (new Date(cert.validTo).getTime() - now.getTime()) / (365 * 24 * HOUR);
  t.ok(years > 19.9 && years < 20.1, `${years} years`);
  const ku = parseCertificate(root.certPem).getExtension(x509.KeyUsagesExtension);
  t.ok(ku && ku.usages & x509.KeyUsageFlags.keyCertSign, 'keyCertSign');
  t.match(root.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

t.test('the CA writes node id, role and cluster from its arguments, whatever the CSR claims', async (t) => {
  const root = await createRootCa();
  const csr = await createNodeCsr({ commonName: 'i-am-admin', claims: { OU: 'swarm-manager', O: 'other-cluster' } });
  const issued = await issueNodeCertificate(root, { csrPem: csr.csrPem, nodeId: 'node7', role: 'worker', clusterId: 'c1' });
  const id = certIdentity(issued.certPem);
  t.same([id.nodeId, id.role, id.clusterId], ['node7', 'worker', 'c1']);
  t.equal(id.serial, issued.serial);
  const cert = parseCertificate(issued.certPem);
  t.same(cert.subjectName.getField('OU'), ['swarm-worker'], 'one OU, the one the CA chose');
  t.equal(issued.chainPem, '', 'no intermediates outside a rotation');
});

t.test('SANs name the role, the node id and the given addresses; EKU is server and client', async (t) => {
  const root = await createRootCa();
  const csr = await createNodeCsr();
  const issued = await issueNodeCertificate(root, { csrPem: csr.csrPem, nodeId: 'm1', role: 'manager', clusterId: 'c1', ipAddresses: ['127.0.1.1', '::1'], dnsNames: ['manager1.example'] });
  const cert = new X509Certificate(issued.certPem);
  t.equal(cert.subjectAltName, 'DNS:swarm-manager, DNS:m1, DNS:manager1.example, IP Address:127.0.1.1, IP Address:0:0:0:0:0:0:0:1');
  t.same(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  t.notOk(cert.ca, 'not a CA');
  t.equal(cert.checkHost('swarm-manager'), 'swarm-manager');
  t.equal(cert.checkIP('127.0.1.1'), '127.0.1.1');
  t.ok(cert.checkIssued(new X509Certificate(root.certPem)) && cert.verify(new X509Certificate(root.certPem).publicKey), 'signed by the root');
});

t.test('validity: 90 days by default, --cert-expiry otherwise, at least an hour, backdated an hour', async (t) => {
  const root = await createRootCa();
  const csr = await createNodeCsr();
  const now = new Date('2031-01-01T00:00:00Z');
  const base = { csrPem: csr.csrPem, nodeId: 'n1', role: 'worker' as const, clusterId: 'c1', now };
  const def = await issueNodeCertificate(root, base);
  t.equal(def.notAfter.getTime(), now.getTime() + DEFAULT_CERT_EXPIRY_MS);
  t.equal(def.notBefore.getTime(), now.getTime() - HOUR);
  const short = await issueNodeCertificate(root, { ...base, validityMs: MIN_CERT_EXPIRY_MS });
  t.equal(short.notAfter.getTime(), now.getTime() + HOUR);
  await t.rejects(issueNodeCertificate(root, { ...base, validityMs: HOUR - 1000 }), InvalidArgumentError);
});

t.test('bad requests are refused', async (t) => {
  const root = await createRootCa();
  const csr = await createNodeCsr();
  const base = { csrPem: csr.csrPem, nodeId: 'n1', role: 'worker' as const, clusterId: 'c1' };
  await t.rejects(issueNodeCertificate(root, { ...base, csrPem: 'not a csr' }), CertificateInvalidError, 'garbage');
  const der = Buffer.from(csr.csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 5] ^= 0xff; // inside the signature
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await t.rejects(issueNodeCertificate(root, { ...base, csrPem: tampered }), CertificateInvalidError, 'a CSR whose signature does not verify');
  await t.rejects(issueNodeCertificate(root, { ...base, nodeId: 'n1,OU=swarm-manager' }), InvalidArgumentError, 'a node id with DN syntax');
  await t.rejects(issueNodeCertificate(root, { ...base, ipAddresses: ['300.1.1.1'] }), InvalidArgumentError, 'a bad IP');
  await t.rejects(issueNodeCertificate(root, { ...base, role: 'admin' as never }), InvalidArgumentError, 'a role that is none');
  t.throws(() => certIdentity(root.certPem), CertificateInvalidError, 'a root is no node certificate');
});

t.test('an RSA CSR made by openssl is refused: node keys are P-256', { skip: !OPENSSL && 'no openssl' }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shoal-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k'), '-subj', '/CN=x']);
  t.equal(r.status, 0, 'openssl made an RSA CSR');
  const root = await createRootCa();
  await t.rejects(issueNodeCertificate(root, { csrPem: r.stdout.toString(), nodeId: 'n1', role: 'worker', clusterId: 'c1' }), CertificateInvalidError);
});

t.test('openssl verifies a node certificate against the root, and refuses another root and an expired one', { skip: !OPENSSL && 'no openssl' }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shoal-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = await createRootCa();
  const other = await createRootCa();
  const csr = await createNodeCsr();
  const good = await issueNodeCertificate(root, { csrPem: csr.csrPem, nodeId: 'n1', role: 'manager', clusterId: 'c1' });
  const expired = await issueNodeCertificate(root, { csrPem: csr.csrPem, nodeId: 'n1', role: 'manager', clusterId: 'c1', now: new Date(Date.now() - 3 * HOUR), validityMs: HOUR });
  const files = { root: root.certPem, other: other.certPem, good: good.certPem, expired: expired.certPem, key: csr.keyPem };
  for (const [name, pem] of Object.entries(files)) writeFileSync(path.join(dir, name), pem);
  const f = (n: string) => path.join(dir, n);
  for (const purpose of ['sslserver', 'sslclient']) {
    const ok = openssl(['verify', '-CAfile', f('root'), '-purpose', purpose, f('good')]);
    t.equal(ok.status, 0, `openssl verify -purpose ${purpose}`);
  }
  const wrong = openssl(['verify', '-CAfile', f('other'), f('good')]);
  t.not(wrong.status, 0, 'another root refuses it');
  const old = openssl(['verify', '-CAfile', f('root'), f('expired')]);
  t.not(old.status, 0, 'expired');
  t.match(old.stdout.toString() + old.stderr, /expired/);
  const match = openssl(['x509', '-in', f('good'), '-noout', '-pubkey']).stdout.toString() === openssl(['pkey', '-in', f('key'), '-pubout']).stdout.toString();
  t.ok(match, "the node's key (which never left it) matches its certificate");
});
