/**
 * deploy/prometheus.yml works against a real cluster: `shoal up` starts three
 * nodes on 127.0.75.1-3, Debian's `prometheus` (installed by .ci/run) scrapes
 * them with the shipped file, only its targets and interval rewritten, and
 * every node's shoal_ series arrive. Every query of the Grafana dashboard is
 * then run against that Prometheus, so none is a PromQL syntax error.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { eventually, within } from '../support/eventually';
import { freePort } from '../support/free-port';
import { CLI, tempDir, clusterWait } from './cluster-fixture';

const ROOT = path.join(__dirname, '..', '..', '..');
const BASE = '127.0.75.1';
const ADDRS = ['127.0.75.1', '127.0.75.2', '127.0.75.3'];
const METRICS_PORT = 9323;
const DNS_PORT = 5375;
/** Where Prometheus listens: an address of this file's block that no node uses. */
const PROMETHEUS_ADDR = '127.0.75.10';
/** How long a process gets to exit after SIGINT before it is killed. */
const STOP_GRACE_MS = 15_000;

/** A started process with its output so far. */
interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  return { child, output: () => out, exited };
}

/** SIGINT, then SIGKILL if it is still running after the grace period. */
async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGINT');
  await within(p.exited, 'exit after SIGINT', STOP_GRACE_MS).catch(() => {
    p.child.kill('SIGKILL');
    return p.exited;
  });
}

/** GET a Prometheus API path and return its `data`; throws on an HTTP or API error. */
async function api<T>(base: string, pathAndQuery: string): Promise<T> {
  const res = await fetch(`${base}${pathAndQuery}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error ?? res.status}`);
  return body.data;
}

interface ActiveTarget {
  scrapePool: string;
  scrapeUrl: string;
  health: string;
  lastError: string;
  labels: Record<string, string>;
}
interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** The shipped config with the `shoal` job's targets and the scrape interval rewritten for this test. */
function testConfig(shipped: string): { config: string; job: string } {
  const doc = YAML.parse(shipped) as {
    global?: Record<string, unknown>;
    scrape_configs: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[] }[];
  };
  const job = doc.scrape_configs.find((s) => s.job_name === 'shoal');
  if (!job?.static_configs?.length) throw new Error('deploy/prometheus.yml has no shoal job with static_configs');
  job.static_configs = [{ ...job.static_configs[0], targets: ADDRS.map((a) => `${a}:${METRICS_PORT}`) }];
  doc.global = { ...doc.global, scrape_interval: '1s', evaluation_interval: '1s' };
  return { config: YAML.stringify(doc), job: job.job_name };
}

t.test('Prometheus scrapes every node of a cluster with deploy/prometheus.yml', async (t) => {
  const probe = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.fail(`prometheus is not installed or does not run (${probe.error?.message ?? probe.stderr}): apt-get install prometheus; .ci/run installs it`);
    return;
  }
  const dir = tempDir(t, 'prometheus');
  const stateDir = path.join(dir, 'state');

  const shipped = readFileSync(path.join(ROOT, 'deploy', 'prometheus.yml'), 'utf8');
  const shippedTargets = (YAML.parse(shipped).scrape_configs[0].static_configs[0].targets as string[]).sort();
  t.same(shippedTargets, ['127.0.1.1:9323', '127.0.1.2:9323', '127.0.1.3:9323'], "the shipped example names shoal up's default nodes");
  const { config, job } = testConfig(shipped);
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, config);
  const check = spawnSync('promtool', ['check', 'config', configFile], { encoding: 'utf8' });
  if (!check.error) t.equal(check.status, 0, `promtool accepts the config${check.status ? `: ${check.stdout}${check.stderr}` : ''}`);

  const up = start(process.execPath, [CLI, 'up', '--nodes', '3', '--addr', BASE, '--state-dir', stateDir, '--dns-port', String(DNS_PORT)]);
  t.teardown(() => stop(up));
  await eventually(() => /cluster is up/.test(up.output()) || up.child.exitCode !== null, 'shoal up to say "cluster is up"', clusterWait(60_000));
  t.match(up.output(), /cluster is up/, `shoal up started${up.child.exitCode !== null ? `, but exited: ${up.output()}` : ''}`);

  const port = await freePort('tcp', PROMETHEUS_ADDR);
  const base = `http://${PROMETHEUS_ADDR}:${port}`;
  const prometheus = start('prometheus', [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=${PROMETHEUS_ADDR}:${port}`,
    '--log.level=warn',
  ]);
  t.teardown(() => stop(prometheus));

  const wanted = ADDRS.map((a) => `${a}:${METRICS_PORT}`).sort();
  const targets = await eventually(
    async () => {
      if (prometheus.child.exitCode !== null) throw new Error(`prometheus exited: ${prometheus.output()}`);
      const data = await api<{ activeTargets: ActiveTarget[] }>(base, '/api/v1/targets?state=active');
      const ours = data.activeTargets.filter((a) => a.scrapePool === job);
      return ours.length === 3 && ours.every((a) => a.health === 'up') ? ours : undefined;
    },
    'all 3 targets up in Prometheus',
    { ...clusterWait(30_000), retryErrors: true },
  ).catch(async (err: Error) => {
    const now = await api<{ activeTargets: ActiveTarget[] }>(base, '/api/v1/targets').catch(() => undefined);
    throw new Error(`${err.message}; targets: ${JSON.stringify(now?.activeTargets.map((a) => [a.scrapeUrl, a.health, a.lastError]))}`);
  });
  t.same(targets.map((a) => a.labels.instance).sort(), wanted, 'the targets are the three nodes');
  t.same(targets.map((a) => a.scrapeUrl).sort(), wanted.map((w) => `http://${w}/metrics`), 'scraped at http://NODE:9323/metrics');

  const query = (q: string) => api<{ resultType: string; result: VectorSample[] }>(base, `/api/v1/query?query=${encodeURIComponent(q)}`);
  const perInstance = await eventually(
    async () => {
      const r = await query('count by (instance) ({__name__=~"shoal_.+"})');
      return r.result.length === 3 ? r.result : undefined;
    },
    'shoal_ series from every node',
    clusterWait(30_000),
  );
  t.same(perInstance.map((s) => s.metric.instance).sort(), wanted, 'shoal_ series from each of the 3 instances');
  for (const s of perInstance) t.ok(Number(s.value[1]) >= 10, `${s.metric.instance}: ${s.value[1]} shoal_ series`);
  const dns = await query('count by (instance) (shoal_dns_queries_total)');
  t.equal(dns.result.length, 3, 'every node reports its DNS server');

  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'grafana', 'shoal-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ title: p.title, expr: tg.expr })));
  t.ok(exprs.length >= 10, `${exprs.length} dashboard queries`);
  for (const { title, expr } of exprs) {
    // Grafana's variables, as Grafana would fill them in with "All" nodes selected.
    const q = expr.replaceAll('$instance', '.+').replaceAll('$__rate_interval', '1m');
    const res = await query(q).then(
      () => 'ok',
      (err: Error) => err.message,
    );
    t.equal(res, 'ok', `dashboard "${title}": Prometheus accepts ${q}`);
  }
});
