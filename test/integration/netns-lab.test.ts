/**
 * Netns mode end to end (issue 5): three lab hosts, each running a shoal
 * node in its own network namespace; tasks in namespaces of their own on the
 * default overlay; names resolved by the node's DNS through the task's
 * resolv.conf; published ports on every host's underlay address. Runs once
 * per dataplane, and kills a host in the nftables run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { systemIp } from '../../src/net/ip-command';
import { Lab } from '../../src/net/lab';
import { listNetns } from '../../src/net/netns';
import { labTaskNetnsPrefix, ShoalLab } from '../../src/net/shoal-lab';
import { DEMO_DIR } from './cluster-fixture';

const WEB_REPLICAS = 6;
const PUBLISHED = 8080;
const HOST_PUBLISHED = 9000;
/** Requests sent through the VIP: enough that round robin reaches every replica. */
const REQUESTS = 24;

interface PsRow {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Pid: number | null;
  Networks: { networkId: string; address: string }[];
}

/** Runs argv, resolving stdout; rejects with stderr. */
function run(argv: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve(String(stdout)),
    ),
  );
}

/** A script for node that GETs `url` n times on fresh connections and prints the task ids that answered. */
function getter(url: string, n: number): string {
  return `const http = require('http'); const seen = []; let left = ${n};
const one = () => http.get('${url}', { agent: false, timeout: 5000 }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => { seen.push(JSON.parse(b).task); if (--left > 0) one(); else console.log(JSON.stringify(seen)); }); }).on('error', (e) => { console.error(e.message); process.exit(1); });
one();`;
}

async function runningTasks(lab: ShoalLab, service: string): Promise<PsRow[]> {
  const r = await lab.cli(['service', 'ps', service, '--format', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as PsRow[]).filter((row) => row.DesiredState === 'Running' && row.CurrentState === 'Running');
}

async function nftTable(lab: ShoalLab, host: number): Promise<string> {
  return run(['nsenter', `--net=/run/netns/${lab.lab.host(host).netns}`, 'nft', 'list', 'table', 'ip', 'shoal']);
}

/**
 * Host-mode publish: 2 replicas, one per host; each host that runs one
 * answers on its underlay address with its own task, the third refuses; with
 * nftables only the hosts running a task have the frontend in the kernel.
 */
async function hostModeStep(t: Test, lab: ShoalLab, dataplane: 'nftables' | 'userspace'): Promise<void> {
  const r = await lab.cli([
    'service', 'create', '--name', 'edge', '--replicas', '2', '--replicas-max-per-node', '1',
    '-p', `mode=host,published=${HOST_PUBLISHED},target=80`, '-w', DEMO_DIR, '-d', '--', 'node', 'demo/web.js',
  ]);
  t.equal(r.code, 0, `edge created ${r.stderr}`);
  const edge = await lab.waitFor('2 running edge tasks', async () => {
    const rows = await runningTasks(lab, 'edge');
    return rows.length === 2 && rows;
  }, 60_000);
  for (const target of lab.lab.hosts) {
    const local = edge.find((e) => e.Node === `h${target.index}`);
    const from = lab.lab.host((target.index + 1) % 3);
    const get = () => run(['nsenter', `--net=/run/netns/${from.netns}`, process.execPath, '-e', getter(`http://${target.address}:${HOST_PUBLISHED}/`, 3)]);
    if (local) {
      const out = await lab.waitFor(`host-mode port on ${target.address}`, () => get().catch(() => ''));
      t.same([...new Set(JSON.parse(out) as string[])], [local.ID], `host-mode port on ${target.address} reaches its own task only`);
    } else {
      await t.rejects(get(), /ECONNREFUSED/, `host-mode port refused on ${target.address}, which runs no task`);
    }
    if (dataplane === 'nftables') {
      const has = new RegExp(`${target.address.replace(/\./g, '\\.')} \\. tcp \\. ${HOST_PUBLISHED}`).test(await nftTable(lab, target.index));
      t.equal(has, !!local, `nft table of ${target.address} ${local ? 'has the' : 'has no'} host-mode frontend`);
    }
  }
  t.equal((await lab.cli(['service', 'rm', 'edge'])).code, 0, 'edge removed');
}

async function scenario(t: Test, dataplane: 'nftables' | 'userspace'): Promise<void> {
  const stateRoot = mkdtempSync(path.join(os.tmpdir(), `shoal-lab-${dataplane}-`));
  const name = Lab.randomName('shn');
  const lab = await ShoalLab.create({ name, hosts: 3, dataplane, stateRoot, logFile: (k) => path.join(stateRoot, `h${k}.log`) });
  t.teardown(async () => {
    await lab.destroy();
    rmSync(stateRoot, { recursive: true, force: true });
  });
  const info = JSON.parse((await lab.cli(['node', 'inspect', 'self', '--format', 'json'])).stdout || '[]');
  t.comment(`node inspect: ${JSON.stringify(info).slice(0, 200)}`);

  let r = await lab.cli(['service', 'create', '--name', 'web', '--replicas', String(WEB_REPLICAS), '-p', `${PUBLISHED}:80`, '-w', DEMO_DIR, '-d', '--', 'node', 'demo/web.js']);
  t.equal(r.code, 0, `web created ${r.stderr}`);
  r = await lab.cli(['service', 'create', '--name', 'client', '--replicas', '1', '-d', '--', 'sleep', '100000']);
  t.equal(r.code, 0, `client created ${r.stderr}`);
  const web = await lab.waitFor('6 running web tasks', async () => {
    const rows = await runningTasks(lab, 'web');
    return rows.length === WEB_REPLICAS && rows;
  }, 60_000);
  const [client] = await lab.waitFor('the client task', async () => {
    const rows = await runningTasks(lab, 'client');
    return rows.length === 1 && rows;
  }, 30_000);
  t.equal(new Set(web.map((w) => w.Node)).size, 3, 'web spread over the three hosts');
  const webAddrs = web.map((w) => w.Networks[0]?.address).sort();
  t.ok(webAddrs.every((a) => /^10\.0\.0\.\d+$/.test(a)), `web tasks have overlay addresses: ${webAddrs.join(' ')}`);

  const clientNs = `${labTaskNetnsPrefix(name)}${client.ID}`;
  const inClient = (argv: string[], timeoutMs?: number) => run(['ip', 'netns', 'exec', clientNs, ...argv], timeoutMs);
  const hosts = await lab.waitFor('getent hosts web', async () => (await inClient(['getent', 'hosts', 'web'])).trim());
  const vip = hosts.split(/\s+/)[0];
  t.match(vip, /^10\.0\.0\.(19[2-9]|2\d\d)$/, `web resolves to its VIP from the VIP range (${vip})`);
  const tasks = await lab.waitFor('tasks.web lists 6', async () => {
    const out = await inClient(['getent', 'ahostsv4', 'tasks.web']);
    const set = [...new Set(out.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean))].sort();
    return set.length === WEB_REPLICAS && set;
  });
  t.same(tasks, webAddrs, 'tasks.web lists the six overlay addresses');

  const answered = JSON.parse(await inClient([process.execPath, '-e', getter('http://web/', REQUESTS)], 60_000)) as string[];
  t.equal(answered.length, REQUESTS, 'every GET http://web/ answered');
  t.same([...new Set(answered)].sort(), web.map((w) => w.ID).sort(), 'GETs through the VIP spread over all six replicas');

  for (const target of lab.lab.hosts) {
    const from = lab.lab.host((target.index + 1) % 3);
    const out = await run(['nsenter', `--net=/run/netns/${from.netns}`, process.execPath, '-e', getter(`http://${target.address}:${PUBLISHED}/`, 3)]);
    t.equal((JSON.parse(out) as string[]).length, 3, `published port answers on ${target.address} (from ${from.netns})`);
  }

  await hostModeStep(t, lab, dataplane);

  if (dataplane === 'nftables') {
    const table = await nftTable(lab, 0);
    t.match(table, new RegExp(`${vip.replace(/\./g, '\\.')} \\. tcp \\. 80`), 'nft table has the VIP frontend');
    for (const a of webAddrs) t.match(table, new RegExp(`${a.replace(/\./g, '\\.')} \\. 80`), `nft table has backend ${a}`);

    r = await lab.cli(['service', 'scale', 'web=3', '-d']);
    t.equal(r.code, 0, 'scaled to 3');
    const three = await lab.waitFor('3 web tasks', async () => {
      const rows = await runningTasks(lab, 'web');
      return rows.length === 3 && rows;
    }, 30_000);
    const kept = three.map((w) => w.Networks[0].address);
    await lab.waitFor('the nft table to follow the scale-down', async () => {
      const now = await nftTable(lab, 0);
      return webAddrs.every((a) => kept.includes(a) === new RegExp(`${a.replace(/\./g, '\\.')} \\. 80`).test(now));
    }, 1_000);
    t.pass('after scaling to 3 the table holds exactly the 3 backends');

    // Kill a worker host that does not run the client: its tasks come back on
    // the others; DNS and the table drop its backends.
    const victim = client.Node === 'h2' ? 1 : 2;
    r = await lab.cli(['service', 'scale', 'web=6', '-d']);
    await lab.waitFor('6 running web tasks again', async () => (await runningTasks(lab, 'web')).length === WEB_REPLICAS, 60_000);
    const before = await runningTasks(lab, 'web');
    const onH2 = before.filter((w) => w.Node === `h${victim}`).map((w) => w.Networks[0].address);
    t.ok(onH2.length > 0, `host ${victim} runs web tasks (${onH2.join(' ')})`);
    await lab.killNode(victim);
    const after = await lab.waitFor(`web back at 6 without host ${victim}`, async () => {
      const rows = await runningTasks(lab, 'web');
      return rows.length === WEB_REPLICAS && rows.every((w) => w.Node !== `h${victim}`) && rows;
    }, 60_000);
    const afterAddrs = after.map((w) => w.Networks[0].address).sort();
    await lab.waitFor(`tasks.web without host ${victim}`, async () => {
      const out = await inClient(['getent', 'ahostsv4', 'tasks.web']).catch(() => '');
      const set = [...new Set(out.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean))].sort();
      return JSON.stringify(set) === JSON.stringify(afterAddrs);
    });
    t.pass('tasks.web names only the live tasks');
    const table2 = await nftTable(lab, 0);
    for (const a of onH2) if (!afterAddrs.includes(a)) t.notMatch(table2, new RegExp(`${a.replace(/\./g, '\\.')} \\. 80`), `nft table dropped ${a}`);
    const answered2 = JSON.parse(await inClient([process.execPath, '-e', getter('http://web/', REQUESTS)], 60_000)) as string[];
    t.same([...new Set(answered2)].sort(), after.map((w) => w.ID).sort(), 'GETs through the VIP reach every live replica and no dead one');
  }
}

t.test('netns mode with the nftables dataplane', async (t) => {
  t.equal(process.getuid?.(), 0, 'runs as root (network namespaces)');
  await scenario(t, 'nftables');
});

t.test('netns mode with the userspace dataplane', async (t) => {
  await scenario(t, 'userspace');
});

t.test('nothing of shoal is left behind', async (t) => {
  const left = (await listNetns(systemIp)).filter((n) => n.startsWith('shn'));
  t.same(left, [], 'no lab or task namespace');
  const links = await run(['ip', '-o', 'link', 'show']);
  t.notMatch(links, /shb\d|shx\d|shv/, 'no shoal link in the root namespace');
  const tables = await run(['nft', 'list', 'tables']);
  t.notMatch(tables, /table ip shoal/, 'no shoal nftables table in the root namespace');
});
