/**
 * Issue 13's trust model on real daemons (127.0.73.k), through the real CLI,
 * openssl and https: the manager API on :2377 shows a chain to the cluster
 * CA, refuses plain HTTP, certificates of another CA and expired ones, and
 * gives a worker's certificate 403 on manager routes. Rotating the worker
 * token refuses the old one and admits the new; running nodes go on. Rotating
 * the CA under load loses no request and ends with every node on the new
 * root. node rm revokes; a client certificate drives the CLI over TCP. Bad
 * input gets one line and exit 1.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import pino from 'pino';
import { Agent, request } from 'undici';
import { Registry } from 'prom-client';
import { unseal } from '../../src/manager/secrets/sealing';
import { KEYS, type Cluster } from '../../src/model/types';
import { certIdentity, createNodeCsr, issuedDirectlyBy, issueNodeCertificate, loadNodeCredentials, mtlsDispatcher } from '../../src/pki';
import { LOCK_FILE } from '../../src/store/dir-lock';
import { WalStore } from '../../src/store/wal-store';
import { eventually } from '../support/eventually';
import { openssl, testCa } from '../support/pki';
import { clusterWait, DEMO_DIR, nodesAt, runCli, tempDir, TestCluster } from './cluster-fixture';
import { startLoad } from './load-client';

const BLOCK = 73;
const DNS_PORT = 5373;
const PORT = 18173;

/** What a plain-HTTP request to the TLS port gets: no HTTP answer at all. */
function plainHttp(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/v1/info', timeout: 3_000 }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

/** A client-certificate directory (ca.pem, cert.pem, key.pem) with these PEMs. */
function certDir(dir: string, files: { ca: string; cert: string; key: string }): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'ca.pem'), files.ca);
  writeFileSync(path.join(dir, 'cert.pem'), files.cert);
  writeFileSync(path.join(dir, 'key.pem'), files.key, { mode: 0o600 });
  return dir;
}

/** The cluster CA's key, as only a manager holds it: read from a copy of node-1's store, opened with its data key. */
async function clusterCaKey(c: TestCluster, scratch: string): Promise<{ certPem: string; keyPem: string; clusterId: string }> {
  const copy = path.join(scratch, 'store-copy');
  cpSync(path.join(c.dir, 'node-1', 'store'), copy, { recursive: true });
  // The copy is not the running store: its lock file is the daemon's.
  rmSync(path.join(copy, LOCK_FILE), { force: true });
  const store = await WalStore.open(copy, {}, { logger: pino({ level: 'silent' }), registry: new Registry() });
  try {
    const cluster = (await store.get<Cluster>(KEYS.cluster))!.value;
    const dataKey = Buffer.from(JSON.parse(readFileSync(path.join(c.dir, 'node-1', 'manager', 'secrets.key'), 'utf8')).key, 'base64');
    return { certPem: cluster.ca!.certPem, keyPem: unseal(dataKey, 'cluster-ca', cluster.ca!.key).toString('utf8'), clusterId: cluster.id };
  } finally {
    await store.close();
  }
}

const oneLine = (s: string) => s.trim().split('\n').length === 1;

t.test('every node call is mutual TLS from the cluster CA; tokens and the CA rotate with nothing dropped', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'mtls'), BLOCK, DNS_PORT);
  const scratch = tempDir(t, 'mtls-scratch');
  await c.up(3);
  const node = (k: number, file: string) => path.join(c.dir, `node-${k}`, 'certificates', file);
  const bundle = node(1, 'ca-bundle.pem');
  const api = `${c.address(1)}:2377`;

  // The chain on :2377, as openssl sees it: the manager's certificate, issued by the cluster root, verified.
  const s = openssl(['s_client', '-connect', api, '-servername', 'swarm-manager', '-CAfile', bundle, '-verify_return_error', '-brief'], '');
  t.equal(s.status, 0, `openssl s_client verifies the chain: ${s.stderr.slice(0, 300)}`);
  t.match(s.stderr, /Verification: OK/);
  t.match(s.stderr, /Peer certificate: CN = [a-z0-9]+, OU = swarm-manager, O = [a-z0-9]+/);
  const noCa = openssl(['s_client', '-connect', api, '-servername', 'swarm-manager', '-verify_return_error', '-brief'], '');
  t.not(noCa.status, 0, 'without the cluster CA the chain does not verify');

  t.match(await plainHttp(c.address(1), 2377), /^error: /, 'plain HTTP gets no answer');
  t.equal(await fetchWith(undefined), 401, 'https without a client certificate: 401');
  const other = await testCa();
  const foreign = await other.node('intruder', 'manager', { ipAddresses: [c.address(1)] });
  const foreignDir = certDir(path.join(scratch, 'foreign'), { ca: readFileSync(bundle, 'utf8'), cert: foreign.certPem, key: foreign.keyPem });
  t.equal(await fetchWith(foreignDir), 401, "a manager certificate of another CA: 401");
  t.equal((await c.asNode(2, 'GET', '/v1/nodes')).status, 403, "a worker's certificate on a manager route: 403");
  t.equal((await c.asNode(2, 'GET', '/v1/info')).status, 200, "and 200 on a node route");
  t.equal((await c.asNode(1, 'GET', '/v1/nodes')).status, 200, "a manager's certificate: 200");

  // Task logs on a node's metrics port: /metrics is plain HTTP, the logs only mutual TLS with a manager's certificate.
  const metricsPlain = await new Promise<number>((resolve) => http.get({ host: c.address(2), port: 9323, path: '/metrics' }, (res) => resolve(res.statusCode ?? 0)).on('error', () => resolve(0)));
  t.equal(metricsPlain, 200, '/metrics answers plain HTTP (Prometheus)');
  const logsPlain = await new Promise<number>((resolve) => http.get({ host: c.address(2), port: 9323, path: '/v1/tasks/abc/logs' }, (res) => resolve(res.statusCode ?? 0)).on('error', () => resolve(0)));
  t.equal(logsPlain, 401, 'task logs over plain HTTP: 401');
  t.equal(await nodeLogs(3, 2), 403, "a worker's certificate asking another node for logs: 403");
  t.equal(await nodeLogs(1, 2), 404, "a manager's certificate gets through (404: no such task there)");

  // An expired certificate from the cluster CA itself.
  const ca = await clusterCaKey(c, scratch);
  const csr = await createNodeCsr();
  const expired = await issueNodeCertificate(ca, { csrPem: csr.csrPem, nodeId: 'old-client', role: 'manager', clusterId: ca.clusterId, validityMs: 3600_000, now: new Date(Date.now() - 3 * 3600_000) });
  const expiredDir = certDir(path.join(scratch, 'expired'), { ca: readFileSync(bundle, 'utf8'), cert: expired.certPem, key: csr.keyPem });
  t.equal(await fetchWith(expiredDir), 401, 'an expired certificate of the cluster CA: 401');

  // A client certificate for the remote CLI.
  const cliDir = path.join(scratch, 'cli');
  const issued = await c.cli('swarm', 'ca', '--client-cert', cliDir);
  t.equal(issued.code, 0, issued.stderr);
  const remote = await runCli(['-H', `tcp://${api}`, 'node', 'ls'], { SHOAL_CERT_PATH: cliDir });
  t.equal(remote.code, 0, `node ls over TCP with the client certificate: ${remote.stderr}`);
  t.match(remote.stdout, /node-3/);
  t.equal((statSync(path.join(cliDir, 'key.pem')).mode & 0o777).toString(8), '600', 'the key is 0600');

  // Bad input: one line on stderr, exit 1.
  const cases: { name: string; args: string[]; env?: Record<string, string>; message: RegExp }[] = [
    { name: 'a tcp:// host without a certificate', args: ['-H', `tcp://${api}`, 'node', 'ls'], message: /needs a client certificate/ },
    { name: 'a certificate of another CA', args: ['-H', `tcp://${api}`, 'node', 'ls'], env: { SHOAL_CERT_PATH: foreignDir }, message: /certificate/ },
    { name: 'an expired certificate', args: ['-H', `tcp://${api}`, 'node', 'ls'], env: { SHOAL_CERT_PATH: expiredDir }, message: /certificate/ },
    { name: 'half of the TLS flags', args: ['-H', `tcp://${api}`, '--tlscert', path.join(cliDir, 'cert.pem'), 'node', 'ls'], message: /--tlscacert, --tlscert and --tlskey together/ },
    { name: 'rotate an unknown role', args: ['-H', c.host, 'swarm', 'join-token', '--rotate', 'admin'], message: /invalid role "admin"/ },
    { name: 'rotate and client-cert at once', args: ['-H', c.host, 'swarm', 'ca', '--rotate', '--client-cert', cliDir], message: /one at a time/ },
    { name: 'a malformed join token', args: ['-H', c.host, 'swarm', 'join', '--token', 'SWMTKN-1-nope', api], message: /invalid join token/ },
  ];
  for (const k of cases) {
    const r = await runCli(k.args, k.env ?? {});
    t.equal(r.code, 1, `${k.name}: exit 1`);
    t.ok(oneLine(r.stderr), `${k.name}: one line (${r.stderr.trim()})`);
    t.match(r.stderr, k.message, k.name);
  }

  // Rotating the worker token: the old one is refused, the new one joins, running nodes go on.
  const create = await c.cli('service', 'create', '--name', 'web', '--replicas', '3', '-p', `${PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(create.code, 0, create.stderr);
  const oldToken = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  const rotated = await c.cli('swarm', 'join-token', '--rotate', 'worker');
  t.equal(rotated.code, 0, rotated.stderr);
  t.match(rotated.stdout, /Successfully rotated worker join token/);
  const newToken = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  t.not(newToken, oldToken);
  t.equal(newToken.split('-')[2], oldToken.split('-')[2], 'same CA digest, new secret');
  const refused = c.start(4, oldToken);
  await refused.exited;
  t.not(refused.child.exitCode, 0, 'a daemon joining with the old token exits');
  t.match(readFileSync(path.join(c.dir, 'node-4', 'daemon.log'), 'utf8'), /invalid join token/, 'and says why');
  const managerToken = (await c.cli('swarm', 'join-token', '-q', 'manager')).stdout.trim();
  const noStore = c.start(6, managerToken);
  await noStore.exited;
  t.not(noStore.child.exitCode, 0, 'a manager token on the embedded store is refused');
  t.match(readFileSync(path.join(c.dir, 'node-6', 'daemon.log'), 'utf8'), /joining as a manager needs the managers' etcd/, 'and says why');
  c.start(5, newToken);
  await eventually(async () => (await nodesAt(c, 1))?.filter((n) => n.status.state === 'ready').length === 4, '4 ready nodes (node-5 joined with the new token)', clusterWait(30_000));
  t.equal((await c.cli('service', 'scale', 'web=4')).code, 0, 'the running nodes work on');

  // Rotating the CA under load.
  const load = startLoad([c.address(2), c.address(3)], PORT);
  t.teardown(() => load.stop());
  await eventually(() => load.answered() > 100, 'the load is flowing', clusterWait(30_000));
  const oldRoot = readFileSync(bundle, 'utf8');
  const rot = await c.cli('swarm', 'ca', '--rotate');
  t.equal(rot.code, 0, rot.stderr);
  t.match(rot.stdout, /rotation in progress/);
  const newRoot = await eventually(async () => {
    const r = await c.cli('swarm', 'ca');
    return r.code === 0 && !/rotation in progress/.test(r.stdout) && r.stdout.trim() !== oldRoot.trim() ? r.stdout : undefined;
  }, 'the rotation to finish', clusterWait(60_000));
  for (const k of [1, 2, 3, 5]) {
    await eventually(() => readFileSync(node(k, 'ca-bundle.pem'), 'utf8').trim() === newRoot.trim() || undefined, `node-${k} trusting only the new root`, clusterWait());
    t.ok(issuedDirectlyBy(readFileSync(node(k, 'node-cert.pem'), 'utf8'), newRoot), `node-${k}'s certificate comes from the new root`);
  }
  await eventually(async () => (await c.cli('service', 'scale', 'web=3')).code === 0 || undefined, 'the cluster works after the rotation', clusterWait());
  const report = await load.stop();
  t.ok(report.ok > 200, `the load ran through the rotation (${report.ok} answered)`);
  t.equal(report.failed, 0, `no request failed during the CA rotation (${report.failed} of ${report.sent}: ${report.errors.slice(0, 3).join('; ')})`);
  const joinAfter = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  t.not(joinAfter.split('-')[2], newToken.split('-')[2], 'the join token names the new root');

  // node rm revokes the node's certificate.
  const n5 = certIdentity(readFileSync(node(5, 'node-cert.pem'), 'utf8')).nodeId;
  const rm = await c.cli('node', 'rm', '--force', 'node-5');
  t.equal(rm.code, 0, rm.stderr);
  await eventually(async () => (await c.asNode(5, 'POST', '/v1/dispatcher/heartbeat', {})).status === 401 || undefined, "node-5's certificate refused after node rm", clusterWait());
  const hb = await c.asNode(5, 'POST', '/v1/dispatcher/heartbeat', {});
  t.match(hb.text, /revoked/, `the answer says revoked (${n5})`);

  async function nodeLogs(fromK: number, toK: number): Promise<number | string> {
    const creds = (await loadNodeCredentials(path.join(c.dir, `node-${fromK}`, 'certificates')))!;
    const target = certIdentity(readFileSync(node(toK, 'node-cert.pem'), 'utf8')).nodeId;
    const dispatcher = mtlsDispatcher(creds, { serverName: target });
    try {
      const res = await request(`https://${c.address(toK)}:9323/v1/tasks/abc/logs`, { dispatcher });
      await res.body.dump();
      return res.statusCode;
    } catch (err) {
      return `error: ${(err as Error).message}`;
    } finally {
      await dispatcher.close();
    }
  }

  async function fetchWith(dir: string | undefined): Promise<number | string> {
    const opts = dir
      ? { ca: readFileSync(path.join(dir, 'ca.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') }
      : { ca: readFileSync(bundle, 'utf8') };
    const agent = new Agent({ connect: { ...opts, servername: 'swarm-manager' } });
    try {
      const res = await request(`https://${api}/v1/nodes`, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    } catch (err) {
      return `error: ${(err as Error).message}`;
    } finally {
      await agent.close();
    }
  }
});
