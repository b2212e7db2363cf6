/**
 * Issue 10 through the real CLI on a real `shoal up`: ordinary apps that bind
 * every address at $PORT (node's http, python3 -m http.server, nginx with
 * `listen $PORT;`) run 6 replicas on a 3-node cluster although something else
 * on the host already holds their target port on every address; every node's
 * published port reaches all 6; a rolling update and a rollback under load
 * lose no request; a service that cannot start makes `service create` exit 1
 * with the task's error in its last line.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../support/eventually';
import { CLI, httpGet, runCli, tempDir, clusterWait } from './cluster-fixture';
import { startLoad } from './load-client';

const ADDRS = ['127.0.66.1', '127.0.66.2', '127.0.66.3'];
const DNS_PORT = 5366;
const REPLICAS = 6;
/** The bound `service create` gets to give up on a service that cannot start (the 30 s). */
const GIVE_UP_BOUND_MS = 30_000;

/** An nginx config as an operator writes it for a container: `listen $PORT;`, filled in at start. */
const NGINX_TEMPLATE = `
daemon off;
user root;
worker_processes 1;
pid $DIR/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $DIR/body;
  proxy_temp_path $DIR/proxy;
  fastcgi_temp_path $DIR/fastcgi;
  uwsgi_temp_path $DIR/uwsgi;
  scgi_temp_path $DIR/scgi;
  server {
    listen $PORT;
    location / { return 200 "$SHOAL_TASK_ID\\n"; }
  }
}
`;

function which(cmd: string): Promise<boolean> {
  return new Promise((resolve) => spawn('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).once('exit', (code) => resolve(code === 0)));
}

/** Ask each node's published port until all `want` task ids answered; the ids seen per node. */
async function reachAll(port: number, pathName: string, want: number, idOf: (body: string) => string): Promise<Map<string, Set<string>>> {
  const seen = new Map<string, Set<string>>();
  for (const host of ADDRS) {
    const ids = new Set<string>();
    for (let i = 0; i < want * 10 && ids.size < want; i++) {
      const r = await httpGet(host, port, pathName);
      if (r.status === 200) ids.add(idOf(r.body));
    }
    seen.set(host, ids);
  }
  return seen;
}

t.test('ordinary apps that bind every address at $PORT run as 6 replicas on shoal up', async (t) => {
  const dir = tempDir(t, 'any-app');
  const stateDir = path.join(dir, 'state');
  const sh = (args: string[], timeoutMs?: number) => runCli(['-H', `unix://${path.join(stateDir, 'shoal.sock')}`, ...args], {}, timeoutMs);

  // The target port is held on every address by someone else, as the demo web tasks once held 80 for all.
  const squatter = net.createServer();
  await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen({ host: '::', port: 0, ipv6Only: false }, resolve));
  t.teardown(() => new Promise((resolve) => squatter.close(resolve)));
  const target = (squatter.address() as net.AddressInfo).port;

  const up = spawn(process.execPath, [CLI, 'up', '--nodes', '3', '--addr', ADDRS[0], '--state-dir', stateDir, '--dns-port', String(DNS_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let screen = '';
  up.stdout.on('data', (d) => (screen += d));
  up.stderr.on('data', (d) => (screen += d));
  const upExited = new Promise((resolve) => up.once('exit', resolve));
  t.teardown(async () => {
    up.kill('SIGINT');
    const timer = setTimeout(() => up.kill('SIGKILL'), 30_000);
    await upExited;
    clearTimeout(timer);
  });
  await eventually(() => /cluster is up/.test(screen), 'shoal up', clusterWait(60_000));

  const apps = [
    {
      name: 'roll',
      port: 18080,
      command: ['node', '-e', 'require("http").createServer((q,s)=>s.end("v"+(process.env.VERSION||1)+" "+process.env.SHOAL_TASK_ID)).listen(Number(process.env.PORT))'],
      path: '/',
      idOf: (b: string) => b.split(' ')[1],
    },
    {
      name: 'py',
      port: 18081,
      command: ['sh', '-c', 'cd "$(mktemp -d)" && echo "$SHOAL_TASK_ID" > id && exec python3 -m http.server "$PORT"'],
      path: '/id',
      idOf: (b: string) => b.trim(),
    },
    {
      name: 'nginx',
      port: 18082,
      command: ['sh', '-c', `D="$(mktemp -d)" && sed -e "s|\\$DIR|$D|g" -e "s|\\$PORT|$PORT|g" -e "s|\\$SHOAL_TASK_ID|$SHOAL_TASK_ID|g" "${path.join(dir, 'nginx.conf.template')}" > "$D/nginx.conf" && exec nginx -p "$D" -c "$D/nginx.conf"`],
      path: '/',
      idOf: (b: string) => b.trim(),
      needs: 'nginx',
    },
  ];
  writeFileSync(path.join(dir, 'nginx.conf.template'), NGINX_TEMPLATE);

  for (const app of apps) {
    await t.test(`${app.name}: ${REPLICAS}/${REPLICAS}, every node's ${app.port} reaches all of them`, async (t) => {
      if (app.needs && !(await which(app.needs))) {
        t.fail(`${app.needs} is not installed (.ci/run installs it)`);
        return;
      }
      const r = await sh(['service', 'create', '--name', app.name, '--replicas', String(REPLICAS), '-p', `${app.port}:${target}`,
        '--update-parallelism', '2', '--update-monitor', '1s', '--restart-delay', '1s', '--', ...app.command]);
      t.equal(r.code, 0, `create converges: ${r.stderr.trim()}`);
      t.match(r.stdout, new RegExp(`overall progress: ${REPLICAS} out of ${REPLICAS} tasks`));
      t.match(r.stdout, /verify: Service converged/);
      const ps = JSON.parse((await sh(['service', 'ps', app.name, '--format', 'json'])).stdout) as { ID: string; CurrentState: string; DesiredState: string; Ports: Record<string, number> }[];
      const running = ps.filter((x) => x.DesiredState === 'Running' && x.CurrentState === 'Running');
      t.equal(running.length, REPLICAS, 'six running tasks');
      t.ok(running.every((x) => x.Ports[`tcp/${target}`] !== target), 'none got the held target port');
      t.equal(new Set(running.map((x) => x.Ports[`tcp/${target}`])).size, REPLICAS, 'six different ports on the one host');
      const seen = await reachAll(app.port, app.path, REPLICAS, app.idOf);
      const want = running.map((x) => x.ID).sort();
      for (const [host, ids] of seen) t.same([...ids].sort(), want, `${host}:${app.port} reaches all ${REPLICAS}`);
    });
  }

  await t.test('a rolling update and a rollback of roll under load lose no request', async (t) => {
    const version = (b: string) => b.split(' ')[0];
    let load = startLoad(ADDRS, 18080, version);
    const u = await sh(['service', 'update', '--env-add', 'VERSION=2', 'roll'], 120_000);
    let report = await load.stop();
    t.equal(u.code, 0, `update exits 0: ${u.stderr.trim()}`);
    t.comment(`update: ${report.sent} requests, ${report.failed} failed, versions ${JSON.stringify([...report.versions])}`);
    t.equal(report.failed, 0, `no failed request during the update (${report.errors.join('; ')})`);
    t.ok((report.versions.get('v2') ?? 0) > 0, 'v2 served during the update');
    const after = await reachAll(18080, '/', REPLICAS, (b) => b);
    t.ok([...after.values()].every((bodies) => [...bodies].every((b) => b.startsWith('v2 '))), 'every task runs v2');

    load = startLoad(ADDRS, 18080, version);
    const rb = await sh(['service', 'rollback', 'roll'], 120_000);
    report = await load.stop();
    t.equal(rb.code, 0, `rollback exits 0: ${rb.stderr.trim()}`);
    t.comment(`rollback: ${report.sent} requests, ${report.failed} failed, versions ${JSON.stringify([...report.versions])}`);
    t.equal(report.failed, 0, `no failed request during the rollback (${report.errors.join('; ')})`);
    const back = await reachAll(18080, '/', REPLICAS, (b) => b);
    t.ok([...back.values()].every((bodies) => [...bodies].every((b) => b.startsWith('v1 '))), 'every task runs v1 again');
  });

  for (const bad of [
    { name: 'fails', command: ['false'], error: /task: non-zero exit \(1\)/ },
    { name: 'nopath', command: ['/no/such/bin'], error: /"\/no\/such\/bin": no such file or directory/ },
  ]) {
    await t.test(`service create of ${bad.command[0]} exits 1 with the task's error`, async (t) => {
      const r = await sh(['service', 'create', '--name', bad.name, '--replicas', '2', '--', ...bad.command], GIVE_UP_BOUND_MS);
      t.equal(r.code, 1, `exit 1 before the ${GIVE_UP_BOUND_MS / 1000} s bound (null means it was still waiting)`);
      const lines = r.stderr.trim().split('\n');
      t.equal(lines.length, 1, 'one line on stderr');
      t.match(lines[0], new RegExp(`service ${bad.name} is not converging: each of its 2 tasks failed 3 times or more`));
      t.match(lines[0], bad.error, 'the last line names the task error');
      t.match(r.stdout, new RegExp(`${bad.name}\\.1: failed: .*${bad.error.source}`), 'the progress showed the slot error');
      const ls = JSON.parse((await sh(['service', 'ls', '--format', 'json'])).stdout) as { Name: string }[];
      t.ok(ls.some((s) => s.Name === bad.name), 'the service stays, as in Docker');
      const d = await sh(['service', 'create', '--name', `${bad.name}-d`, '--detach', '--', ...bad.command], 10_000);
      t.equal(d.code, 0, '--detach returns at once');
    });
  }
});
