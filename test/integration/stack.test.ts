/**
 * `shoal stack` end to end on a 3-node cluster: the shape of docker's
 * example-voting-app stack (5 services, 2 networks, a secret) deployed from
 * its compose file, every key checked in the stored specs, a changed
 * redeploy that updates only the changed service, rm leaving nothing, and
 * bad files refused with one line and nothing deployed.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Network, Service } from '../../src/model/types';
import { eventually } from '../support/eventually';
import { clusterWait, DEMO_DIR, httpGet, runCli, tempDir, TestCluster, type CliResult } from './cluster-fixture';

/** Address block 127.0.76.x, DNS port 5376 and published ports 18176-18199: no other test uses them. */
const BLOCK = 76;
const DNS = 5376;
const VOTE_PORT = 18176;
const RESULT_PORT = 18177;
const FIXTURE = path.join(__dirname, '..', '..', '..', 'test', 'integration', 'fixtures', 'voting-app', 'docker-stack.yml');
const ENV = { DEMO_DIR, VOTE_PORT: String(VOTE_PORT), RESULT_PORT: String(RESULT_PORT) };
const SERVICES = ['vote_db', 'vote_redis', 'vote_result', 'vote_vote', 'vote_worker'];

interface PayloadRow {
  ID: string;
  Name: string;
}

t.test('stack deploy, redeploy and rm of the voting app', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'stack'), BLOCK, DNS);
  await c.up(3);
  const dir = tempDir(t, 'stack-files');
  const stack = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(['-H', c.host, 'stack', ...args], { ...ENV, ...env }, 120_000);
  const inspect = async (name: string): Promise<Service> => {
    const r = await c.cli('service', 'inspect', name);
    if (r.code !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as Service[])[0];
  };

  await t.test('bad input: one line, exit 1, nothing deployed', async (t) => {
    const file = (name: string, text: string) => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const web = (extra = '') => `  web:\n    command: [node, "${DEMO_DIR}/demo/web.js"]\n${extra}`;
    const cases: { name: string; args: string[]; message: RegExp }[] = [
      { name: 'a YAML error', args: ['-c', file('yaml.yml', `services:\n  web:\n    command: [node, x\n    ports: ["1:2"]\n`), 'bad'], message: /yaml\.yml:\d+:\d+: invalid YAML: / },
      { name: 'a schema error', args: ['-c', file('schema.yml', `services:\n${web('    deploy:\n      replicas: many\n')}`), 'bad'], message: /services\.web\.deploy\.replicas: must be integer/ },
      { name: 'an unknown top-level key', args: ['-c', file('top.yml', `servicez: {}\nservices:\n${web()}`), 'bad'], message: /additional property servicez is not allowed/ },
      { name: 'an unknown service key', args: ['-c', file('key.yml', `services:\n${web('    replica: 2\n')}`), 'bad'], message: /services\.web: additional property replica is not allowed/ },
      {
        name: 'a port conflict between two services',
        args: ['-c', file('ports.yml', `services:\n${web('    ports: ["18190:80"]\n')}  api:\n    command: [node, x]\n    ports: ["18190:8080"]\n`), 'bad'],
        message: /services web and api both publish port 18190\/tcp/,
      },
      { name: 'a missing secret', args: ['-c', file('secret.yml', `services:\n${web('    secrets: [nope]\n')}`), 'bad'], message: /services\.web\.secrets\[0\]: secret "nope" is not declared/ },
      { name: 'a secret whose file is missing', args: ['-c', file('secretfile.yml', `services:\n${web('    secrets: [pw]\n')}secrets:\n  pw:\n    file: ./no-such-file\n`), 'bad'], message: /secrets\.pw: cannot read .*no-such-file: ENOENT/ },
      { name: 'an external network that does not exist', args: ['-c', file('ext.yml', `services:\n${web('    networks: [outside]\n')}networks:\n  outside:\n    external: true\n`), 'bad'], message: /network "outside" is declared as external, but could not be found/ },
      { name: 'an image without a command', args: ['-c', file('image.yml', 'services:\n  db:\n    image: postgres:15\n'), 'bad'], message: /services\.db: image postgres:15 cannot run: .*command:/ },
      { name: 'a required variable not set', args: ['-c', file('var.yml', `services:\n${web('    environment:\n      TOKEN: ${TOKEN:?set TOKEN first}\n')}`), 'bad'], message: /required variable TOKEN is not set: set TOKEN first/ },
      { name: 'a stack name with _', args: ['-c', FIXTURE, 'a_b'], message: /invalid stack name "a_b"/ },
      { name: 'a stack name with a space', args: ['-c', FIXTURE, 'a b'], message: /invalid stack name "a b"/ },
      { name: 'no compose file', args: ['vote'], message: /a compose file is required/ },
      { name: 'a compose file that does not exist', args: ['-c', path.join(dir, 'none.yml'), 'bad'], message: /cannot read compose file .*none\.yml: ENOENT/ },
    ];
    for (const k of cases) {
      const r = await stack(['deploy', ...k.args]);
      t.equal(r.code, 1, `${k.name}: exit 1`);
      t.match(r.stderr, k.message, k.name);
      t.equal(r.stderr.trim().split('\n').length, 1, `${k.name}: one line (${r.stderr.trim()})`);
      t.equal(r.stdout, '', `${k.name}: nothing on stdout`);
    }
    t.same(await c.json<unknown[]>('service', 'ls'), [], 'no service was created');
    t.same((await c.json<Network[]>('network', 'ls')).filter((n) => !(n as unknown as { Builtin: boolean }).Builtin), [], 'no network was created');
    t.same(await c.json<PayloadRow[]>('secret', 'ls'), [], 'no secret was created');
    const rm = await stack(['rm', 'nothing-here']);
    t.equal(rm.code, 1, 'rm of an unknown stack: exit 1');
    t.match(rm.stderr, /^error: nothing found in stack: nothing-here\n$/);
  });

  await t.test('deploy: every key reaches the spec', async (t) => {
    const r = await stack(['deploy', '-c', FIXTURE, 'vote']);
    t.equal(r.code, 0, `deploy exits 0 (${r.stderr})`);
    for (const line of ['Creating network vote_frontend', 'Creating network vote_backend', 'Creating secret vote_db_password', ...SERVICES.map((s) => `Creating service ${s}`)]) {
      t.match(r.stdout, line, line);
    }
    t.match(r.stderr, /warning: services\.db: volumes is not supported by shoal: ignored/, 'volumes warned, naming the service');
    t.match(r.stderr, /warning: services\.vote: depends_on is not supported by shoal: ignored/, 'depends_on warned');

    const networks = await c.json<{ ID: string; Name: string; Labels: Record<string, string> }[]>('network', 'ls');
    const netName = new Map(networks.map((n) => [n.ID, n.Name]));
    for (const n of ['vote_frontend', 'vote_backend']) t.equal(networks.find((x) => x.Name === n)?.Labels['com.docker.stack.namespace'], 'vote', `${n} is labelled with the stack`);
    const names = (s: Service) => (s.spec.networks ?? []).map((id) => netName.get(id) ?? id).sort();

    const vote = await inspect('vote_vote');
    t.equal(vote.spec.replicas, 2, 'vote: replicas from .env (VOTE_REPLICAS=2)');
    t.same(vote.spec.task.command, ['node', path.join(DEMO_DIR, 'demo', 'web.js')], 'vote: command with ${DEMO_DIR} interpolated');
    t.equal(vote.spec.task.env.VERSION, '1', 'vote: ${WEB_VERSION:-1} took its default');
    t.match(vote.spec.endpoint.ports, [{ publishedPort: VOTE_PORT, targetPort: 80, protocol: 'tcp', publishMode: 'ingress' }], 'vote: ports');
    t.same(names(vote), ['vote_frontend'], 'vote: networks');
    t.match(vote.spec.updateConfig, { parallelism: 2, order: 'start-first', monitorMs: 1000 }, 'vote: update_config');
    t.same(vote.spec.task.resources, { limits: { nanoCpus: 0.5e9, memoryBytes: 50 * 1024 ** 2 }, reservations: { nanoCpus: 0.01e9, memoryBytes: 20 * 1024 ** 2 } }, 'vote: resources');
    t.equal(vote.spec.task.restartPolicy.condition, 'on-failure', 'vote: restart_policy');
    t.equal(vote.spec.task.stopGracePeriodMs, 5000, 'vote: stop_grace_period');
    t.match(vote.spec.labels, { 'com.docker.stack.namespace': 'vote', 'com.docker.stack.image': 'dockersamples/examplevotingapp_vote:before' }, 'vote: stack labels');

    const db = await inspect('vote_db');
    t.same(db.spec.task.placement.constraints, ['node.role == manager'], 'db: placement constraints');
    t.match(db.spec.task.healthcheck, { kind: 'cmd', command: ['true'], intervalMs: 2000, timeoutMs: 1000, retries: 3, startPeriodMs: 1000 }, 'db: healthcheck');
    t.match(db.spec.task.secrets, [{ name: 'vote_db_password', file: { target: 'db_password', mode: 0o400 } }], 'db: the secret, its file named after the compose name, mode 0400');
    t.match(db.spec.task.env, { POSTGRES_USER: 'postgres', POSTGRES_PASSWORD_FILE: '/run/secrets/db_password' }, 'db: environment');
    t.same(names(db), ['vote_backend'], 'db: networks');

    const worker = await inspect('vote_worker');
    t.equal(worker.spec.labels.APP, 'VOTING', 'worker: deploy.labels');
    t.same(worker.spec.task.restartPolicy, { condition: 'on-failure', delayMs: 10_000, maxAttempts: 3, windowMs: 120_000 }, 'worker: restart_policy');
    t.same(worker.spec.task.placement, { constraints: ['node.role == manager'], preferences: [{ spread: 'node.labels.zone' }], maxReplicas: 1 }, 'worker: placement');
    t.same(names(worker), ['vote_backend', 'vote_frontend'], 'worker: both networks');

    const redis = await inspect('vote_redis');
    t.match(redis.spec.updateConfig, { parallelism: 2, delayMs: 10_000 }, 'redis: update_config');
    const result = await inspect('vote_result');
    t.match(result.spec.endpoint.ports, [{ publishedPort: RESULT_PORT, targetPort: 80 }], 'result: ports');

    await eventually(async () => {
      const ps = await stack(['ps', 'vote', '--format', 'json', '--filter', 'desired-state=running']);
      const rows = JSON.parse(ps.stdout) as { CurrentState: string }[];
      return rows.length === 6 && rows.every((x) => x.CurrentState.startsWith('Running'));
    }, 'the 6 tasks of the stack run', clusterWait(60_000));
    const answer = JSON.parse((await httpGet(c.address(2), VOTE_PORT)).body) as { service: string; version: string };
    t.match(answer, { service: 'vote_vote', version: '1' }, 'vote answers on its published port on another node');

    const ls = await stack(['ls']);
    t.match(ls.stdout, /NAME\s+SERVICES\nvote\s+5\n/, 'stack ls');
    const services = await stack(['services', 'vote', '--format', 'json']);
    t.same((JSON.parse(services.stdout) as { Name: string }[]).map((s) => s.Name), SERVICES, 'stack services');
  });

  await t.test('redeploy: only the changed service updates', async (t) => {
    const same = await stack(['deploy', '-c', FIXTURE, 'vote']);
    t.equal(same.code, 0);
    for (const s of SERVICES) t.match(same.stdout, `Service ${s} is up to date`, `unchanged file: ${s} is up to date`);
    t.match(same.stdout, 'Secret vote_db_password exists: kept as it is');

    const before = new Map<string, Service>();
    for (const s of SERVICES) before.set(s, await inspect(s));
    const override = path.join(dir, 'override.yml');
    writeFileSync(override, 'services:\n  vote:\n    deploy:\n      replicas: 3\n');
    const r = await stack(['deploy', '-c', FIXTURE, '-c', override, 'vote'], { WEB_VERSION: '2' });
    t.equal(r.code, 0, `redeploy exits 0 (${r.stderr})`);
    t.match(r.stdout, /Updating service vote_vote \(id: [0-9a-z]+\)/, 'vote is updated');
    t.match(r.stdout, /overall progress|verify: Service converged|vote_vote\.\d/, 'with the updater\'s progress');
    for (const s of SERVICES.filter((x) => x !== 'vote_vote')) t.match(r.stdout, `Service ${s} is up to date`, `${s} is not touched`);
    for (const s of SERVICES) {
      const after = await inspect(s);
      if (s === 'vote_vote') {
        t.ok(after.version > before.get(s)!.version, 'vote: a new version');
        t.equal(after.spec.replicas, 3, 'vote: replicas from the second -c file');
        t.equal(after.spec.task.env.VERSION, '2', 'vote: the changed variable');
        t.equal(after.updateStatus?.state, 'completed', 'vote: the rolling update completed');
      } else {
        t.equal(after.version, before.get(s)!.version, `${s}: same version`);
        t.equal(after.updatedAt, before.get(s)!.updatedAt, `${s}: not written`);
      }
    }
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) seen.add((JSON.parse((await httpGet(c.address(3), VOTE_PORT)).body) as { version: string }).version);
      return seen.size === 1 && seen.has('2');
    }, 'every vote task answers version 2', clusterWait(30_000));
  });

  await t.test('rm: nothing left behind', async (t) => {
    const r = await stack(['rm', 'vote']);
    t.equal(r.code, 0, `rm exits 0 (${r.stderr})`);
    for (const line of [...SERVICES.map((s) => `Removing service ${s}`), 'Removing secret vote_db_password', 'Removing network vote_frontend', 'Removing network vote_backend']) t.match(r.stdout, line, line);
    t.same(await c.json<unknown[]>('service', 'ls'), [], 'no service');
    t.same((await c.json<{ Name: string }[]>('network', 'ls')).filter((n) => n.Name.startsWith('vote_')), [], 'no network of the stack');
    t.same(await c.json<PayloadRow[]>('secret', 'ls'), [], 'no secret');
    t.same(await c.json<PayloadRow[]>('config', 'ls'), [], 'no config');
    await eventually(async () => {
      try {
        await httpGet(c.address(1), VOTE_PORT, '/', 500);
        return false;
      } catch {
        return true;
      }
    }, 'the published port is closed on every node', clusterWait());
    const ps = await stack(['ps', 'vote']);
    t.equal(ps.code, 1, 'stack ps of the removed stack: exit 1');
    t.match((await stack(['ls'])).stdout, /^NAME\s+SERVICES\n$/, 'stack ls shows no stack');
  });
});
