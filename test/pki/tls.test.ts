/**
 * Node TLS on real sockets (127.0.0.1): the server asks for a client
 * certificate but never fails the handshake over it; peerIdentity names a
 * peer with a certificate from the cluster CA and is null for no
 * certificate, another CA, an expired or a revoked one (the routes answer
 * 401 then, 403 for a worker on a manager-only route). The client side
 * verifies a manager by its token's CA digest before joining, and by the
 * trust bundle plus the swarm-manager name after.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { request, type Dispatcher } from 'undici';
import { CaMismatchError } from '../../src/errors';
import { generateJoinToken } from '../../src/pki/join-token';
import { revokeNode, revokeSerial, EMPTY_REVOCATIONS } from '../../src/pki/revocation';
import { certIdentity } from '../../src/pki/identity';
import { joinClientOptions, joinDispatcher, mtlsDispatcher, verifyServerByDigest } from '../../src/pki/tls-client';
import type { NodeCredentials } from '../../src/pki/credentials';
import { OPENSSL } from '../support/pki';
import { testCa } from '../support/pki';
import { startTlsServer } from '../support/pki-server';

const HOUR = 3600_000;

async function get(dispatcher: Dispatcher, port: number, p: string): Promise<{ status: number; body: any }> {
  const res = await request(`https://127.0.0.1:${port}${p}`, { dispatcher });
  return { status: res.statusCode, body: await res.body.json() };
}

function agent(t: { teardown(fn: () => unknown): void }, d: Dispatcher & { close(): Promise<void> }) {
  t.teardown(() => d.close());
  return d;
}

t.test('peers with a cluster certificate are identified; the others are nobody, without failing the handshake', async (t) => {
  const ca = await testCa('c1');
  const other = await testCa('c1');
  const manager = await ca.node('mgr1', 'manager');
  const server = await startTlsServer(manager, { clusterId: 'c1', revocations: revokeNode(EMPTY_REVOCATIONS, 'gone') });
  t.teardown(() => server.close());
  const creds = async (name: string): Promise<NodeCredentials> => {
    switch (name) {
      case 'worker':
        return ca.node('w1', 'worker');
      case 'manager':
        return ca.node('m2', 'manager');
      case 'another CA':
        return { ...(await other.node('w1', 'worker')), trustBundle: [ca.root.certPem] };
      case 'expired':
        return ca.node('w1', 'worker', { now: new Date(Date.now() - 3 * HOUR), validityMs: HOUR });
      case 'revoked node':
        return ca.node('gone', 'worker');
      default:
        return ca.node('w1', 'worker', { clusterId: 'c2' });
    }
  };
  const cases: [string, string | null, number][] = [
    ['worker', 'w1/worker', 403],
    ['manager', 'm2/manager', 200],
    ['another CA', null, 401],
    ['expired', null, 401],
    ['revoked node', null, 401],
    ['another cluster', null, 401],
  ];
  for (const [name, who, managerOnly] of cases) {
    const d = agent(t, mtlsDispatcher(await creds(name)));
    const res = await get(d, server.port, '/whoami');
    t.equal(res.status, 200, `${name}: the handshake and the unauthenticated route work`);
    t.equal(res.body.identity ? `${res.body.identity.nodeId}/${res.body.identity.role}` : null, who, `${name}: identity`);
    const guarded = await get(d, server.port, '/manager-only');
    t.equal(guarded.status, managerOnly, `${name}: manager-only route`);
    if (managerOnly !== 200) t.match(guarded.body.error.code, managerOnly === 401 ? 'SHOAL_ERR_CERTIFICATE_REQUIRED' : 'SHOAL_ERR_FORBIDDEN');
  }
});

t.test('a revoked serial is refused while another certificate of the same node is not', async (t) => {
  const ca = await testCa();
  const first = await ca.node('w1', 'worker');
  const second = await ca.node('w1', 'worker');
  const server = await startTlsServer(await ca.node('m1', 'manager'), { revocations: revokeSerial(EMPTY_REVOCATIONS, certIdentity(first.certPem).serial) });
  t.teardown(() => server.close());
  t.equal((await get(agent(t, mtlsDispatcher(first)), server.port, '/whoami')).body.identity, null, 'the revoked serial');
  t.equal((await get(agent(t, mtlsDispatcher(second)), server.port, '/whoami')).body.identity?.nodeId, 'w1', 'a renewed certificate');
});

t.test('the first join: no client certificate, the server checked by the token digest', async (t) => {
  const ca = await testCa();
  const server = await startTlsServer(await ca.node('m1', 'manager'));
  t.teardown(() => server.close());
  const token = generateJoinToken(ca.root.certPem);
  const res = await get(agent(t, joinDispatcher(token)), server.port, '/whoami');
  t.same(res, { status: 200, body: { identity: null } }, 'reached, and anonymous');
  t.equal((await get(agent(t, joinDispatcher(token)), server.port, '/manager-only')).status, 401, 'no certificate, no manager route');

  const foreign = generateJoinToken((await testCa()).root.certPem);
  await t.rejects(get(agent(t, joinDispatcher(foreign)), server.port, '/whoami'), CaMismatchError, "a token of another CA refuses the manager before sending anything");

  const socket = tls.connect({ ...joinClientOptions(), host: '127.0.0.1', port: server.port });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  t.equal(verifyServerByDigest(socket, token).nodeId, 'm1', 'node:tls: the right CA, identity of the manager');
  t.throws(() => verifyServerByDigest(socket, foreign), CaMismatchError, 'node:tls: another CA');
  t.throws(() => verifyServerByDigest(socket, token, { role: 'worker' }), CaMismatchError, 'a role it does not have');
});

t.test('a worker cannot pose as a manager, nor a server of another CA', async (t) => {
  const ca = await testCa();
  const worker = await startTlsServer(await ca.node('w9', 'worker'));
  t.teardown(() => worker.close());
  const me = await ca.node('w1', 'worker');
  await t.rejects(get(agent(t, mtlsDispatcher(me)), worker.port, '/whoami'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'the worker lacks the swarm-manager name');
  t.equal((await get(agent(t, mtlsDispatcher(me, { serverName: 'w9' })), worker.port, '/whoami')).status, 200, 'asked for that node by id, it answers');
  await t.rejects(get(agent(t, joinDispatcher(generateJoinToken(ca.root.certPem))), worker.port, '/whoami'), CaMismatchError, 'join refuses a worker');
  const other = await testCa();
  const impostor = await startTlsServer(await other.node('m1', 'manager'));
  t.teardown(() => impostor.close());
  await t.rejects(get(agent(t, mtlsDispatcher(me)), impostor.port, '/whoami'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'another CA (its own root is in the chain it sends, and we do not trust it)');
});

t.test('openssl s_client sees a chain to the cluster CA', { skip: !OPENSSL && 'no openssl' }, async (t) => {
  const ca = await testCa();
  const server = await startTlsServer(await ca.node('m1', 'manager'));
  t.teardown(() => server.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'shoal-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'ca.pem'), ca.root.certPem);
  const out = await new Promise<string>((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', path.join(dir, 'ca.pem'), '-verify_ip', '127.0.0.1', '-verify_return_error', '-showcerts'], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
    child.stdin?.end();
  });
  t.match(out, /Verify return code: 0 \(ok\)/);
  t.match(out, /CN = m1, OU = swarm-manager, O = cluster1/);
  t.match(out, /Acceptable client certificate CA names\n\/?CN ?= ?swarm-ca/, 'the server asks for a client certificate from the cluster CA');
});
