/**
 * The cluster CA as the store keeps it: tokens from the root's digest and a
 * secret per role, token rotation, revocation, and a root rotation from
 * start to finish, on a real root and real certificates (no store).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  allOnIssuingRoot,
  issueFor,
  issuingCa,
  issuingRootPem,
  newClusterPki,
  pkiOf,
  roleForJoinToken,
  trustBundle,
  withRevokedNode,
  withRotatedToken,
  withRotationFinished,
  withRotationStarted,
} from '../../../src/manager/ca/cluster-ca';
import type { Cluster } from '../../../src/model/types';
import { caDigest, certIdentity, chainsTo, createNodeCsr, isRevoked, parseToken } from '../../../src/pki';

const dataKey = randomBytes(32);

async function cluster(): Promise<Cluster> {
  return { id: 'c1', createdAt: '2026-01-01T00:00:00Z', managerAddr: '127.0.0.1:2377', nextVipIndex: 1, taskHistoryLimit: 5, ...(await newClusterPki(dataKey, 3600_000 * 24)) };
}

async function certFor(c: Cluster, nodeId: string, role: 'manager' | 'worker' = 'worker') {
  const csr = await createNodeCsr();
  return issueFor(c, dataKey, { csrPem: csr.csrPem, nodeId, role });
}

t.test('a new cluster: sealed CA key, tokens naming the root, each token its role', async (t) => {
  const c = await cluster();
  t.notMatch(JSON.stringify(c), /PRIVATE KEY/, 'the CA key is not in the object in clear');
  t.equal(parseToken(c.tokens.worker).caDigest, caDigest(c.ca!.certPem));
  t.equal(roleForJoinToken(c, c.tokens.worker), 'worker');
  t.equal(roleForJoinToken(c, c.tokens.manager), 'manager');
  t.equal(roleForJoinToken(c, 'SWMTKN-1-nope'), null, 'a malformed token');
  const other = await cluster();
  t.equal(roleForJoinToken(c, other.tokens.worker), null, "another cluster's token (other CA digest)");
  const wrongSecret = `${c.tokens.worker.slice(0, -25)}${'0'.repeat(25)}`;
  t.equal(roleForJoinToken(c, wrongSecret), null, 'the right digest with another secret');
  t.throws(() => issuingCa(c, randomBytes(32)), { code: 'SHOAL_ERR_SECRET_KEY_MISMATCH' }, 'another data key cannot open the CA key');
});

t.test('a certificate names the node, its role and the cluster, and lasts the cluster expiry', async (t) => {
  const c = await cluster();
  const issued = await certFor(c, 'node1', 'manager');
  const id = certIdentity(issued.certPem);
  t.match(id, { nodeId: 'node1', role: 'manager', clusterId: 'c1' });
  t.equal(issued.notAfter.getTime() - issued.notBefore.getTime() > 24 * 3600_000 - 1, true);
  t.ok(chainsTo(issued.certPem, [], trustBundle(c)));
});

t.test('rotating one token changes it alone; the old one stops working', async (t) => {
  const c = await cluster();
  const next = withRotatedToken(c, 'worker');
  t.not(next.tokens.worker, c.tokens.worker);
  t.equal(next.tokens.manager, c.tokens.manager, 'the manager token is unchanged');
  t.equal(roleForJoinToken(next, c.tokens.worker), null, 'the old worker token is refused');
  t.equal(roleForJoinToken(next, next.tokens.worker), 'worker');
});

t.test('node rm revokes the node', async (t) => {
  const c = withRevokedNode(await cluster(), 'gone');
  t.ok(isRevoked(pkiOf(c).revocations, { nodeId: 'gone', serial: '01' }));
  t.notOk(isRevoked(pkiOf(c).revocations, { nodeId: 'kept', serial: '02' }));
});

t.test('a root rotation: both roots trusted, the new key signs, the end drops the old root and renames the tokens', async (t) => {
  const c = await cluster();
  const before = await certFor(c, 'n1');
  const r = await withRotationStarted(c, dataKey, new Date());
  t.same(trustBundle(r), [c.ca!.certPem, r.ca!.rotation!.next.certPem]);
  t.equal(issuingRootPem(r), r.ca!.rotation!.next.certPem);
  t.equal(r.tokens.worker, c.tokens.worker, 'tokens keep naming the old root while nodes move');
  t.notOk(allOnIssuingRoot(r, [before.certPem]), 'a certificate of the old root is pending');
  const after = await certFor(r, 'n1');
  t.ok(allOnIssuingRoot(r, [after.certPem]));
  t.ok(chainsTo(after.certPem, [after.chainPem], [c.ca!.certPem]), 'the new certificate verifies at a node that trusts only the old root');
  t.ok(chainsTo(after.certPem, [], [r.ca!.rotation!.next.certPem]), 'and at one that trusts only the new root');
  const done = withRotationFinished(r, dataKey);
  t.equal(done.ca!.rotation, undefined);
  t.equal(done.ca!.certPem, r.ca!.rotation!.next.certPem, 'the new root is the root');
  t.same(trustBundle(done), [done.ca!.certPem]);
  t.not(done.tokens.worker, c.tokens.worker, 'the tokens name the new root');
  t.equal(parseToken(done.tokens.worker).secret, parseToken(c.tokens.worker).secret, 'with the same secrets');
  t.equal(roleForJoinToken(done, c.tokens.worker), null);
  t.equal(roleForJoinToken(done, done.tokens.worker), 'worker');
  const next = await certFor(done, 'n2');
  t.ok(chainsTo(next.certPem, [], trustBundle(done)), 'the finished CA still signs');
  t.equal(withRotationFinished(done, dataKey), done, 'finishing twice changes nothing');
});

t.test('a store from before the CA says so', async (t) => {
  const old = { id: 'c0', createdAt: 'x', managerAddr: 'a:1', nextVipIndex: 1, taskHistoryLimit: 5, tokens: { worker: 'w', manager: 'm' } } as Cluster;
  t.throws(() => pkiOf(old), /no cluster CA/);
});
