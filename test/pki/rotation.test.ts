/**
 * Root rotation: a certificate from the new root's key, presented with the
 * cross-signed intermediate, verifies against the old root alone and the new
 * root alone (our chain check, openssl verify, and real TLS both ways).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { request, type Dispatcher } from 'undici';
import { CertificateInvalidError } from '../../src/errors';
import { chainsTo, verifyChain } from '../../src/pki/chain';
import { generateJoinToken } from '../../src/pki/join-token';
import { createRootCa } from '../../src/pki/root-ca';
import { finishRootRotation, nodesNotOnRoot, rotationIssuingCa, rotationTrustBundle, startRootRotation } from '../../src/pki/rotation';
import { joinDispatcher, mtlsDispatcher } from '../../src/pki/tls-client';
import { OPENSSL, openssl, testCa } from '../support/pki';
import { startTlsServer } from '../support/pki-server';

async function whoami(t: { teardown(fn: () => unknown): void }, d: Dispatcher & { close(): Promise<void> }, port: number): Promise<string | null> {
  t.teardown(() => d.close());
  const res = await request(`https://127.0.0.1:${port}/whoami`, { dispatcher: d });
  const body = (await res.body.json()) as { identity: { nodeId: string } | null };
  return body.identity?.nodeId ?? null;
}

t.test('a new-root certificate with the cross-signed intermediate verifies against either root alone', async (t) => {
  const ca = await testCa();
  const rotation = await startRootRotation(ca.root, { clusterId: ca.clusterId });
  const node = await ca.node('n1', 'worker', { issuer: rotationIssuingCa(rotation) });
  t.equal(node.chainPem, rotation.crossSignedPem, 'the node presents the intermediate');
  t.equal(verifyChain(node.certPem, [node.chainPem], [ca.root.certPem]), ca.root.certPem, 'old root alone');
  t.equal(verifyChain(node.certPem, [node.chainPem], [rotation.next.certPem]), rotation.next.certPem, 'new root alone');
  t.equal(verifyChain(node.certPem, [], [rotation.next.certPem]), rotation.next.certPem, 'new root alone, no intermediate needed');
  t.notOk(chainsTo(node.certPem, [], [ca.root.certPem]), 'old root alone needs the intermediate');
  const unrelated = await createRootCa();
  t.throws(() => verifyChain(node.certPem, [node.chainPem], [unrelated.certPem]), CertificateInvalidError, 'an unrelated root');
  t.same(rotationTrustBundle(rotation), [ca.root.certPem, rotation.next.certPem]);
});

t.test('openssl agrees', { skip: !OPENSSL && 'no openssl' }, async (t) => {
  const ca = await testCa();
  const rotation = await startRootRotation(ca.root);
  const node = await ca.node('n1', 'manager', { issuer: rotationIssuingCa(rotation) });
  const dir = mkdtempSync(path.join(tmpdir(), 'shoal-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => path.join(dir, n);
  writeFileSync(f('old'), ca.root.certPem);
  writeFileSync(f('new'), rotation.next.certPem);
  writeFileSync(f('cross'), rotation.crossSignedPem);
  writeFileSync(f('leaf'), node.certPem);
  for (const root of ['old', 'new']) {
    const r = openssl(['verify', '-CAfile', f(root), '-untrusted', f('cross'), '-purpose', 'sslserver', f('leaf')]);
    t.equal(r.status, 0, `openssl verify -CAfile ${root} -untrusted cross-signed: ${r.stdout.toString().trim()}`);
  }
  t.not(openssl(['verify', '-CAfile', f('old'), f('leaf')]).status, 0, 'old root without the intermediate refuses');
  t.equal(openssl(['verify', '-CAfile', f('old'), f('cross')]).status, 0, 'the intermediate itself verifies under the old root');
});

t.test('over TLS: old-only and new-only trust both accept rotated peers, both directions', async (t) => {
  const ca = await testCa();
  const rotation = await startRootRotation(ca.root, { clusterId: ca.clusterId });
  const issuer = rotationIssuingCa(rotation);
  const oldOnly = [ca.root.certPem];
  const newOnly = [rotation.next.certPem];
  // A manager renewed during the rotation, serving to clients that trust only one of the roots.
  const server = await startTlsServer(await ca.node('m1', 'manager', { issuer, trust: rotationTrustBundle(rotation) }));
  t.teardown(() => server.close());
  t.equal(await whoami(t, mtlsDispatcher(await ca.node('old-client', 'worker', { trust: oldOnly })), server.port), 'old-client', 'a not yet renewed node that trusts the old root only');
  t.equal(await whoami(t, mtlsDispatcher(await ca.node('new-client', 'worker', { issuer, trust: newOnly })), server.port), 'new-client', 'a renewed node that trusts the new root only');
  t.equal(await whoami(t, mtlsDispatcher(await ca.node('mixed', 'worker', { issuer, trust: oldOnly })), server.port), 'mixed', 'a renewed node that still trusts the old root only');
  t.equal(await whoami(t, joinDispatcher(generateJoinToken(ca.root.certPem)), server.port), null, "a joining node with a token naming the old root (tokens move to the new root when the rotation ends)");
  // Servers that trust only one root, and a client renewed on the new key.
  for (const [name, trust] of [['old', oldOnly], ['new', newOnly]] as const) {
    const s = await startTlsServer(await ca.node(`m-${name}`, 'manager', { trust }));
    t.teardown(() => s.close());
    t.equal(await whoami(t, mtlsDispatcher(await ca.node('renewed', 'worker', { issuer, trust: rotationTrustBundle(rotation) })), s.port), 'renewed', `a server trusting the ${name} root alone identifies a renewed client`);
  }
});

t.test('the rotation may finish when every node is on the new key; then the new root alone is the CA', async (t) => {
  const ca = await testCa();
  const rotation = await startRootRotation(ca.root);
  const a = await ca.node('a', 'manager');
  const b = await ca.node('b', 'worker', { issuer: rotationIssuingCa(rotation) });
  t.same(nodesNotOnRoot([{ nodeId: 'a', certPem: a.certPem }, { nodeId: 'b', certPem: b.certPem }], rotation.next.certPem), ['a']);
  const a2 = await ca.node('a', 'manager', { issuer: rotationIssuingCa(rotation) });
  t.same(nodesNotOnRoot([{ nodeId: 'a', certPem: a2.certPem }, { nodeId: 'b', certPem: b.certPem }], rotation.next.certPem), []);
  const root = finishRootRotation(rotation);
  t.equal(root, rotation.next);
  // After the rotation: a manager issued during it serves with the new root only, and new tokens name that root.
  const server = await startTlsServer({ ...a2, trustBundle: [root.certPem] });
  t.teardown(() => server.close());
  t.equal(await whoami(t, joinDispatcher(generateJoinToken(root.certPem)), server.port), null, 'a new token verifies the manager');
  t.equal(await whoami(t, mtlsDispatcher({ ...b, trustBundle: [root.certPem] }), server.port), 'b');
  const fresh = await ca.node('c', 'worker', { issuer: root, trust: [root.certPem] });
  t.equal(fresh.chainPem, '', 'certificates after the rotation have no intermediate');
  t.equal(await whoami(t, mtlsDispatcher(fresh), server.port), 'c');
});
