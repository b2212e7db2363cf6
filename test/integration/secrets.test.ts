import t from 'tap';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EtcdCluster } from '../support/etcd-cluster';
import { eventually } from '../support/eventually';
import { CLI, clusterWait, runningTasks, tempDir, TestCluster, type CliResult } from './cluster-fixture';

/** Address block 127.0.72.x and DNS port 5372: no other test uses them. */
const BLOCK = 72;
const DNS = 5372;

/** Every regular file under `dir` (not following links), for the raw-bytes search. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Files under `dirs` whose raw bytes contain any of `needles`. */
function filesContaining(dirs: string[], needles: Buffer[]): string[] {
  return dirs.flatMap(filesUnder).filter((f) => {
    let buf: Buffer;
    try {
      buf = readFileSync(f);
    } catch {
      return false; // A file that went away (a WAL segment rolled) or a socket.
    }
    return needles.some((n) => buf.includes(n));
  });
}

/** Memory-backed dirs a node could write secrets to. */
function tmpfsDirs(): string[] {
  const roots = ['/dev/shm', '/run'].filter(existsSync);
  // Only shoal's own roots under /run: the rest of /run is the host's.
  return roots.flatMap((r) => (r === '/dev/shm' ? [r] : readdirSync(r).filter((n) => n.startsWith('shoal-')).map((n) => path.join(r, n))));
}

/** The tmpfs root of the daemon with this state dir (task-payload-files.ts names it after the dir). */
function nodeTmpfsRoot(stateDir: string): string {
  return path.join('/dev/shm', `shoal-${crypto.createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12)}`);
}

/** Run the CLI with `input` on stdin. */
function cliWithInput(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const oneLine = (s: string) => s.trim().split('\n').length === 1;

t.test('a secret reaches only the node that runs its task, at its target with its mode, and nowhere in clear', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'secrets'), BLOCK, DNS);
  await c.up(3);
  const outside = tempDir(t, 'secrets-input');
  const secret = `s3cret-${crypto.randomBytes(16).toString('hex')}`;
  const needles = [Buffer.from(secret), Buffer.from(Buffer.from(secret).toString('base64'))];
  const secretFile = path.join(outside, 'pw.txt');
  writeFileSync(secretFile, secret);
  const digest = crypto.createHash('sha256').update(secret).digest('hex');

  let r = await c.cli('secret', 'create', 'db-pass', secretFile);
  t.equal(r.code, 0, r.stderr);
  r = await cliWithInput(['-H', c.host, 'config', 'create', 'app-conf', '-'], 'listen=8080\n');
  t.equal(r.code, 0, r.stderr);
  t.notMatch((await c.cli('secret', 'inspect', 'db-pass')).stdout, secret, 'inspect does not show the data');
  t.match((await c.cli('secret', 'ls')).stdout, /db-pass/);

  // The task proves it read the secret by its digest, so its own log does not hold the secret either.
  const script = 'stat -c "mode=%a" "$SHOAL_SECRETS_DIR/pw"; echo "digest=$(sha256sum < "$SHOAL_SECRETS_DIR/pw" | cut -d" " -f1)"; echo "config=$(cat "$SHOAL_CONFIGS_DIR/etc/app.conf")"; exec sleep 600';
  r = await c.cli(
    'service', 'create', '--name', 'reader', '--constraint', 'node.hostname==node-2',
    '--secret', 'source=db-pass,target=pw,mode=0400', '--config', 'source=app-conf,target=/etc/app.conf',
    '--stop-grace-period', '1s', '--', 'sh', '-c', script,
  );
  t.equal(r.code, 0, r.stderr);
  await eventually(async () => (await runningTasks(c, 'reader')).length === 1, 'reader running', clusterWait());
  let logs = '';
  await eventually(async () => {
    logs = (await c.cli('service', 'logs', 'reader')).stdout;
    return logs.includes('config=');
  }, 'the task printed what it read', clusterWait());
  t.match(logs, /mode=400/, 'the secret file has the requested mode');
  t.match(logs, `digest=${digest}`, 'the task read the secret at its target');
  t.match(logs, 'config=listen=8080', 'the task read the config at its target');
  t.notMatch((await c.cli('service', 'inspect', 'reader')).stdout, secret, 'service inspect does not show it');

  const [node1, node2, node3] = [1, 2, 3].map((k) => c.daemons.find((d) => d.index === k)!.stateDir);
  const withSecret = filesContaining(tmpfsDirs(), needles);
  t.same(withSecret.map((f) => f.startsWith(nodeTmpfsRoot(node2) + '/')), [true], `exactly one file holds the secret, on node-2's tmpfs (${withSecret.join(', ')})`);
  t.equal((statSync(withSecret[0]).mode & 0o777).toString(8), '400');
  t.equal((statSync(path.dirname(path.dirname(withSecret[0]))).mode & 0o777).toString(8), '700', 'the task dir is 0700');
  t.notOk(existsSync(nodeTmpfsRoot(node1)) || existsSync(nodeTmpfsRoot(node3)), 'nodes without the task have no payload dir');
  t.same(filesContaining([c.dir], needles), [], 'no state dir, WAL or daemon log holds the secret in clear or base64');
  // The search can fail: the config, which is stored as given, is found in the manager's WAL.
  t.ok(filesContaining([node1], [Buffer.from(Buffer.from('listen=8080\n').toString('base64'))]).some((f) => f.includes(`${path.sep}store${path.sep}`)), 'the same search finds a config in the WAL');

  // Over mutual TLS a node's certificate reaches the dispatcher, which answers only for the caller's own tasks, and never the data key.
  const [task] = await runningTasks(c, 'reader');
  const nodes = await c.json<{ id: string; hostname: string }[]>('node', 'ls');
  for (const n of nodes) {
    const k = Number(n.hostname.replace('node-', ''));
    const res = await c.asNode(k, 'POST', '/v1/dispatcher/payloads', { nodeId: task.NodeID, taskId: task.ID });
    if (n.id === task.NodeID) {
      t.equal(res.status, 200, "the task's own node gets its payloads");
      continue;
    }
    t.equal(res.status, 404, `another node (${n.hostname}) gets nothing for the task, even naming the task's node`);
    t.notMatch(res.text, secret);
  }
  const keyRes = await c.asNode(2, 'GET', '/v1/swarm/secrets-key');
  t.equal(keyRes.status, 403, "a worker's certificate cannot fetch the data key");

  // Bad input: one line, exit 1, nothing changed.
  const big = path.join(outside, 'big');
  writeFileSync(big, Buffer.alloc(600 * 1024, 1));
  const snapshot = async () => JSON.stringify([await c.json('secret', 'ls'), await c.json('config', 'ls'), await c.json('service', 'ls')]);
  const before = await snapshot();
  const cases: { name: string; args: string[]; message: RegExp }[] = [
    { name: 'duplicate secret name', args: ['secret', 'create', 'db-pass', secretFile], message: /secret db-pass already exists/ },
    { name: 'secret over 500 KiB', args: ['secret', 'create', 'huge', big], message: /secret data is 614400 bytes: at most 512000 \(500 KiB\)/ },
    { name: '--secret naming a missing secret', args: ['service', 'create', '--name', 'ghost', '--secret', 'nope', '--', 'sh', '-c', 'true'], message: /secret nope not found/ },
    { name: 'secret rm while in use', args: ['secret', 'rm', 'db-pass'], message: /secret db-pass is in use by service reader/ },
    { name: 'config rm while in use', args: ['config', 'rm', 'app-conf'], message: /config app-conf is in use by service reader/ },
    { name: 'target with ..', args: ['service', 'create', '--name', 'escape', '--secret', 'source=db-pass,target=../../etc/x', '--', 'sh', '-c', 'true'], message: /must not contain "\.\."/ },
    { name: 'relative config target', args: ['service', 'create', '--name', 'rel', '--config', 'source=app-conf,target=app.conf', '--', 'sh', '-c', 'true'], message: /must be an absolute path/ },
    { name: 'bad secret name', args: ['secret', 'create', 'no/slash', secretFile], message: /invalid secret name/ },
    { name: '--secret-rm of an unused secret', args: ['service', 'update', '--secret-rm', 'other', 'reader'], message: /secret other is not used by this service/ },
  ];
  for (const k of cases) {
    const res = await c.cli(...k.args);
    t.equal(res.code, 1, `${k.name}: exit 1`);
    t.match(res.stderr, k.message, `${k.name}: message`);
    t.ok(oneLine(res.stderr), `${k.name}: one line (${res.stderr.trim()})`);
  }
  t.equal(await snapshot(), before, 'nothing changed');

  r = await c.cli('service', 'rm', 'reader');
  t.equal(r.code, 0, r.stderr);
  await eventually(async () => filesContaining(tmpfsDirs(), needles).length === 0 && !existsSync(nodeTmpfsRoot(node2)), 'the secret is gone from node-2', clusterWait());
  r = await c.cli('secret', 'rm', 'db-pass');
  t.equal(r.code, 0, r.stderr);
  t.same(filesContaining([c.dir], needles), [], 'still nowhere in clear after the run');
});

t.test('autolock: a restarted manager is locked until swarm unlock', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'autolock'), BLOCK, DNS);
  c.start(1, undefined, ['--autolock']);
  await eventually(async () => (await c.cli('swarm', 'unlock-key', '-q')).code === 0, 'manager up', clusterWait());
  const key = (await c.cli('swarm', 'unlock-key', '-q')).stdout.trim();
  t.match(key, /^SHOAL-KEY-1-/);
  const keyFile = path.join(c.daemons[0].stateDir, 'manager', 'secrets.key');
  t.equal((statSync(keyFile).mode & 0o777).toString(8), '600', 'the key file is 0600');
  t.notOk('key' in JSON.parse(readFileSync(keyFile, 'utf8')), 'the key file holds the key wrapped only');
  let r = await cliWithInput(['-H', c.host, 'secret', 'create', 'token', '-'], 'abc');
  t.equal(r.code, 0, r.stderr);

  await c.kill(1, 'SIGTERM');
  c.restart(1);
  await eventually(async () => (await c.cli('service', 'ls')).code === 0, 'manager back', clusterWait());
  r = await c.cli('secret', 'ls');
  t.equal(r.code, 1);
  t.match(r.stderr, /this manager is locked: run `shoal swarm unlock`/);
  r = await cliWithInput(['-H', c.host, 'swarm', 'unlock'], 'SHOAL-KEY-1-' + 'A'.repeat(43) + '\n');
  t.equal(r.code, 1);
  t.match(r.stderr, /the unlock key is wrong/);
  t.ok(oneLine(r.stderr));
  r = await cliWithInput(['-H', c.host, 'swarm', 'unlock'], key + '\n');
  t.equal(r.code, 0, r.stderr);
  r = await c.cli('secret', 'ls');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /token/);
  t.equal((await c.cli('swarm', 'unlock-key', '-q')).stdout.trim(), key, 'the same unlock key after unlock');
});

t.test('managers on etcd share the data key: a secret one seals, the other opens; etcd holds no clear bytes', async (t) => {
  const etcd = await EtcdCluster.start(1);
  t.teardown(() => etcd.stop());
  const c = new TestCluster(t, tempDir(t, 'secrets-ha'), BLOCK, DNS);
  const store = ['--store', etcd.url];
  c.start(1, undefined, store);
  await eventually(async () => (await c.cli('swarm', 'join-token', '-q', 'manager')).code === 0, 'the first manager', clusterWait());
  const managerToken = (await c.cli('swarm', 'join-token', '-q', 'manager')).stdout.trim();
  c.start(2, managerToken, store);
  await eventually(async () => {
    const r = await c.cliAt(2, 'node', 'ls', '--format', 'json');
    return r.code === 0 && (JSON.parse(r.stdout) as { status: { state: string } }[]).filter((n) => n.status.state === 'ready').length === 2;
  }, 'both managers ready', clusterWait());
  const keyOf = (k: number) => JSON.parse(readFileSync(path.join(c.dir, `node-${k}`, 'manager', 'secrets.key'), 'utf8')).key as string;
  t.equal(keyOf(2), keyOf(1), 'the joining manager holds the same data key');

  const secret = `ha-${crypto.randomBytes(16).toString('hex')}`;
  // Sealed by the second manager, delivered by whichever leads.
  let r = await cliWithInput(['-H', `unix://${path.join(c.dir, 'node-2', 'shoal.sock')}`, 'secret', 'create', 'ha-pw', '-'], secret);
  t.equal(r.code, 0, r.stderr);
  const script = 'echo "digest=$(sha256sum < "$SHOAL_SECRETS_DIR/ha-pw" | cut -d" " -f1)"; exec sleep 600';
  r = await c.cli('service', 'create', '--name', 'ha-reader', '--constraint', 'node.hostname==node-1', '--secret', 'ha-pw', '--stop-grace-period', '1s', '-d', '--', 'sh', '-c', script);
  t.equal(r.code, 0, r.stderr);
  await eventually(async () => (await c.cli('service', 'logs', 'ha-reader')).stdout.includes(`digest=${crypto.createHash('sha256').update(secret).digest('hex')}`), 'the task read the secret', clusterWait());
  r = await cliWithInput(['-H', c.host, 'config', 'create', 'ha-conf', '-'], 'plain-config-marker');
  t.equal(r.code, 0, r.stderr);
  t.same(filesContaining([etcd.dataRoot, c.dir], [Buffer.from(secret), Buffer.from(Buffer.from(secret).toString('base64'))]), [], "neither etcd's files nor the state dirs hold it in clear");
  await eventually(async () => filesContaining([etcd.dataRoot], [Buffer.from(Buffer.from('plain-config-marker').toString('base64'))]).length > 0, 'the same search finds a config in etcd (it can fail)', clusterWait());
  t.equal((await c.cli('service', 'rm', 'ha-reader')).code, 0);
});
