import t from 'tap';
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { eventually } from '../support/eventually';
import { DEMO_DIR, runningTasks, tempDir, TestCluster, clusterWait } from './cluster-fixture';

const PORT = 18082;
const HELD_PORT = 18083;
const HOST_MODE_PORT = 18086;

t.test('bad input: one clear line on stderr, exit 1, nothing changed', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'badinput'), 12);
  await c.up(1);
  const ok = await c.cli('service', 'create', '--name', 'web', '--replicas', '2', '-p', `${PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(ok.code, 0, ok.stderr);
  await eventually(async () => (await runningTasks(c, 'web')).length === 2, '2 running', clusterWait());
  // A global service and a host-mode one, for the cases about them.
  for (const args of [
    ['--name', 'everywhere', '--mode', 'global'],
    ['--name', 'edge', '--replicas-max-per-node', '1', '-p', `mode=host,published=${HOST_MODE_PORT},target=80`],
  ]) {
    const r = await c.cli('service', 'create', '-d', ...args, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
    t.equal(r.code, 0, r.stderr);
  }
  await eventually(async () => (await runningTasks(c, 'everywhere')).length === 1 && (await runningTasks(c, 'edge')).length === 1, 'global and host-mode tasks running', clusterWait());

  // Another process holds a port on the node's address.
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(HELD_PORT, c.address(1), () => r()));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));

  const inspect = async (name: string) => JSON.parse((await c.cli('service', 'inspect', name)).stdout) as unknown;
  const snapshot = async () =>
    JSON.stringify({
      ls: await c.json('service', 'ls'),
      inspect: [await inspect('web'), await inspect('everywhere'), await inspect('edge')],
      nodes: (await c.json<{ role: string; availability: string }[]>('node', 'ls')).map((n) => [n.role, n.availability]),
    });
  const before = await snapshot();

  const cases: { name: string; args: string[]; message: RegExp }[] = [
    { name: 'unknown flag', args: ['service', 'create', '--bogus', 'x', '--name', 'a', '--', 'node', 'x'], message: /unknown option '--bogus'/ },
    { name: 'replicas -1', args: ['service', 'create', '--name', 'a', '--replicas', '-1', '--', 'node', 'x'], message: /invalid replica count -1/ },
    { name: 'port 70000', args: ['service', 'create', '--name', 'a', '-p', '70000:80', '--', 'node', 'x'], message: /port 70000 is out of range/ },
    { name: 'constraint syntax', args: ['service', 'create', '--name', 'a', '--constraint', 'node.role=manager', '--', 'node', 'x'], message: /invalid constraint "node\.role=manager"/ },
    { name: 'constraint unknown key', args: ['service', 'create', '--name', 'a', '--constraint', 'foo==bar', '--', 'node', 'x'], message: /constraint/ },
    { name: 'duplicate name', args: ['service', 'create', '--name', 'web', '--', 'node', 'x'], message: /service web already exists/ },
    { name: 'port published by another service', args: ['service', 'create', '--name', 'b', '-p', `${PORT}:81`, '--', 'node', 'x'], message: new RegExp(`port ${PORT}/tcp is already published by service web`) },
    { name: 'port held by another process', args: ['service', 'create', '--name', 'c', '-p', `${HELD_PORT}:80`, '--', 'node', 'x'], message: new RegExp(`port ${HELD_PORT}/tcp is already in use on node`) },
    { name: 'update to a held port', args: ['service', 'update', '--publish-add', `${HELD_PORT}:80`, 'web'], message: new RegExp(`port ${HELD_PORT}/tcp is already in use`) },
    { name: 'scale to -1', args: ['service', 'scale', 'web=-1'], message: /invalid replica count -1/ },
    { name: 'scale without =', args: ['service', 'scale', 'web'], message: /invalid scale specifier/ },
    { name: 'bad service name', args: ['service', 'create', '--name', 'no_underscores!', '--', 'node', 'x'], message: /invalid service name/ },
    { name: 'no command', args: ['service', 'create', '--name', 'a'], message: /a command to run is required/ },
    { name: 'bad protocol', args: ['service', 'create', '--name', 'a', '-p', '80:80/sctp', '--', 'node', 'x'], message: /protocol "sctp" must be tcp or udp/ },
    { name: 'bad duration', args: ['service', 'create', '--name', 'a', '--restart-delay', '5 parsecs', '--', 'node', 'x'], message: /invalid restart delay/ },
    { name: 'bad restart condition', args: ['service', 'create', '--name', 'a', '--restart-condition', 'sometimes', '--', 'node', 'x'], message: /invalid restart condition/ },
    { name: 'unknown service', args: ['service', 'rm', 'web', 'nope'], message: /service nope not found/ },
    { name: 'bad availability', args: ['node', 'update', '--availability', 'gone', 'node-1'], message: /invalid availability "gone"/ },
    { name: 'unknown node', args: ['node', 'update', '--availability', 'drain', 'node-9'], message: /node node-9 not found/ },
    { name: 'bad format', args: ['service', 'ls', '--format', 'xml'], message: /invalid format "xml"/ },
    { name: 'unknown command', args: ['servise', 'ls'], message: /unknown command 'servise'/ },
    { name: 'replicas abc', args: ['service', 'create', '--name', 'a', '--replicas', 'abc', '--', 'node', 'x'], message: /invalid replica count "abc": must be a whole number/ },
    { name: 'sctp', args: ['service', 'create', '--name', 'a', '-p', '8080:80/sctp', '--', 'node', 'x'], message: /protocol "sctp" must be tcp or udp/ },
    { name: 'name with spaces', args: ['service', 'create', '--name', 'my web', '--', 'node', 'x'], message: /invalid service name "my web"/ },
    { name: 'name of 64 characters', args: ['service', 'create', '--name', 'a'.repeat(64), '--', 'node', 'x'], message: /invalid service name "a{64}": .*at most 63/ },
    { name: 'rm of an unknown service alone', args: ['service', 'rm', 'nope'], message: /^error: service nope not found$/m },
    { name: 'scale a global service', args: ['service', 'scale', 'everywhere=3'], message: /everywhere: scale can only be used with replicated or replicated-job mode/ },
    { name: 'scale a global one after a replicated one', args: ['service', 'scale', 'web=5', 'everywhere=3'], message: /everywhere: scale can only be used/ },
    { name: 'scale web=', args: ['service', 'scale', 'web='], message: /invalid replica count "": must be a whole number/ },
    { name: 'scale =3', args: ['service', 'scale', '=3'], message: /invalid scale specifier "=3": use SERVICE=REPLICAS/ },
    { name: 'host mode without published=', args: ['service', 'create', '--name', 'a', '-p', 'mode=host,target=80', '--', 'node', 'x'], message: /host-mode publish needs published=PORT/ },
    {
      name: 'host mode with --replicas-max-per-node 2',
      args: ['service', 'create', '--name', 'a', '--replicas-max-per-node', '2', '-p', 'mode=host,published=18087,target=80', '--', 'node', 'x'],
      message: /^error: port 18087\/tcp is published in host mode, so at most 1 task per node can bind it: use --replicas-max-per-node 1$/m,
    },
    {
      name: 'update --publish-add host mode onto 2 per node',
      args: ['service', 'update', '--replicas-max-per-node', '2', '--publish-add', 'mode=host,published=18087,target=80', 'web'],
      message: /port 18087\/tcp is published in host mode/,
    },
    { name: 'update a host-mode service to 2 per node', args: ['service', 'update', '--replicas-max-per-node', '2', 'edge'], message: new RegExp(`port ${HOST_MODE_PORT}/tcp is published in host mode`) },
    { name: 'host mode on an ingress port', args: ['service', 'create', '--name', 'a', '-p', `mode=host,published=${PORT},target=80`, '--', 'node', 'x'], message: new RegExp(`port ${PORT}/tcp is already published by service web`) },
    { name: 'ingress on a host-mode port', args: ['service', 'create', '--name', 'a', '-p', `${HOST_MODE_PORT}:80`, '--', 'node', 'x'], message: new RegExp(`port ${HOST_MODE_PORT}/tcp is already published by service edge`) },
    { name: 'bogus publish mode', args: ['service', 'create', '--name', 'a', '-p', 'mode=bogus,published=1,target=2', '--', 'node', 'x'], message: /mode "bogus" must be ingress or host/ },
    { name: 'node promote without a node', args: ['node', 'promote'], message: /missing required argument 'node'/ },
    { name: 'node demote of an unknown node', args: ['node', 'demote', 'nope'], message: /node nope not found/ },
    { name: 'node demote of the only manager', args: ['node', 'demote', 'node-1'], message: /^error: cannot demote node-1: it is the only manager; the cluster would have none$/m },
    { name: 'node update --role worker of the only manager', args: ['node', 'update', '--role', 'worker', 'node-1'], message: /cannot demote node-1: it is the only manager/ },
  ];
  // None of them changes anything, so they run a few at a time; each is checked in order.
  const results: Promise<Awaited<ReturnType<typeof c.cli>>>[] = [];
  let next = 0;
  const lanes = Array.from({ length: 3 }, async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = c.cli(...cases[i].args);
      await results[i];
    }
  });
  await Promise.all(lanes);
  for (const [i, tc] of cases.entries()) {
    const r = await results[i];
    t.equal(r.code, 1, `${tc.name}: exit 1`);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.equal(lines.length, 1, `${tc.name}: one line on stderr (${r.stderr.trim()})`);
    t.match(r.stderr, tc.message, `${tc.name}: says what is wrong`);
    t.equal(r.stdout, '', `${tc.name}: nothing on stdout`);
  }
  t.equal(await snapshot(), before, 'nothing changed: services and the web spec are as before');

  // The manager API on TCP: no client certificate is 401 with a JSON error, and nothing changes (mtls.test.ts tries the other certificates).
  const spec = { name: 'sneaky', task: { command: ['node', 'x'] } };
  const bundle = readFileSync(path.join(c.daemons[0].stateDir, 'certificates', 'ca-bundle.pem'), 'utf8');
  const noCert = new Agent({ connect: { ca: bundle, servername: 'swarm-manager' } });
  t.teardown(() => noCert.close());
  const anon = await request(`https://${c.address(1)}:2377/v1/services`, { method: 'POST', dispatcher: noCert, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec }) });
  t.equal(anon.statusCode, 401, 'POST /v1/services without a client certificate: 401');
  t.equal(((await anon.body.json()) as { error: { code: string } }).error.code, 'SHOAL_ERR_CERTIFICATE_REQUIRED', 'with a stable error code');
  t.equal(await snapshot(), before, 'nothing changed by unauthorised calls');

  // Watch from a revision: NDJSON events replayed from revision 1 include the service's creation.
  const local = new Agent({ connect: { socketPath: path.join(c.daemons[0].stateDir, 'shoal.sock') } });
  t.teardown(() => local.close());
  const ac = new AbortController();
  const res = await request('http://localhost/v1/watch?prefix=/services/&rev=1', { dispatcher: local, signal: ac.signal });
  t.equal(res.headers['content-type'], 'application/x-ndjson');
  let buf = '';
  for await (const chunk of res.body) {
    buf += chunk.toString();
    if (buf.includes('\n')) break;
  }
  ac.abort();
  const first = JSON.parse(buf.split('\n')[0]) as { type: string; events: { type: string; value: { spec: { name: string } } }[] };
  t.equal(first.type, 'events', 'with rev=N the stream starts with changes, not a list');
  t.equal(first.events[0].value.spec.name, 'web', 'the first change is the web service being created');

  // The real client address reaches the task through the mesh: PROXY protocol v1 on a published port.
  const echo = path.join(__dirname, 'fixtures', 'proxy-echo.js');
  const pp = await c.cli('service', 'create', '--name', 'pp', '-p', 'published=18085,target=8000,proxy-protocol=v1', '--', process.execPath, echo);
  t.equal(pp.code, 0, pp.stderr);
  const seen = await new Promise<string>((resolve, reject) => {
    const sock = net.connect({ host: c.address(1), port: 18085, localAddress: '127.0.0.77' });
    let out = '';
    sock.on('connect', () => sock.write('hello\r\n'));
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
  t.match(seen, new RegExp(`^PROXY TCP4 127\\.0\\.0\\.77 ${c.address(1).replace(/\./g, '\\.')} \\d+ 18085\n$`), `the task saw the client's address: ${seen.trim()}`);
  t.equal((await c.cli('service', 'rm', 'pp')).code, 0);

  // A wrong join token (this swarm's CA digest, another secret) is refused and the node does not join.
  const token = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  const bad = c.start(2, `${token.slice(0, -25)}${'0'.repeat(25)}`);
  await bad.exited;
  t.not(bad.child.exitCode, 0, 'a daemon joining with a wrong token exits with an error');
  const nodes = await c.json<unknown[]>('node', 'ls');
  t.equal(nodes.length, 1, 'no node joined with a wrong token');

  // Leaving the swarm (as the manager, forced) and initialising a new one in the same daemon works.
  t.equal((await c.cli('swarm', 'leave')).code, 1, 'the manager needs --force to leave');
  t.equal((await c.cli('swarm', 'leave', '--force')).code, 0, 'swarm leave --force');
  const init = await c.cli('swarm', 'init');
  t.equal(init.code, 0, `swarm init again: ${init.stderr}`);
  t.match(init.stdout, /shoal swarm join --token SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25} /, 'init prints the join command');
  t.equal((await c.json<unknown[]>('service', 'ls')).length, 0, 'a new swarm starts empty');
});
