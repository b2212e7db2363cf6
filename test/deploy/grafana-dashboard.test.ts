/**
 * deploy/grafana/shoal-dashboard.json cannot drift from the code: every
 * `shoal_...` metric a panel queries must be one that src/ registers (a
 * quoted `shoal_...` name handed to prom-client), and the dashboard keeps the
 * shape Grafana imports (a Prometheus datasource variable, unique panel ids).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '../../..');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'shoal-dashboard.json');
/** Series a prom-client histogram exposes besides its name. */
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every quoted `shoal_...` literal in src: the names metrics are registered under. */
function registeredNames(): Set<string> {
  const names = new Set<string>();
  for (const f of sources(path.join(ROOT, 'src'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/['"`](shoal_[a-z0-9_]+)['"`]/g)) names.add(m[1]);
  }
  return names;
}

/** Panels at every depth (a collapsed row holds its panels). */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/**
 * A queried series is known if it is a registered name, or one with a
 * histogram suffix (_bucket/_sum/_count) added; the scan sees names, not
 * metric types, so a counter name with _bucket added would pass here.
 */
function known(series: string, registered: Set<string>): boolean {
  if (registered.has(series)) return true;
  return HISTOGRAM_SUFFIXES.some((s) => series.endsWith(s) && registered.has(series.slice(0, -s.length)));
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as {
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
};
const panels = allPanels(dashboard.panels);
const queried = panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr ?? '' })));

t.test('the source scan finds the registrations', async (t) => {
  const registered = registeredNames();
  for (const name of ['shoal_mesh_connections_total', 'shoal_mesh_bytes_total', 'shoal_dns_queries_total', 'shoal_updater_status_changes_total']) {
    t.ok(registered.has(name), `src registers ${name}`);
  }
  t.notOk(known('shoal_mesh_no_such_metric_total', registered), 'a made-up name is not known');
  t.ok(known('shoal_dns_query_duration_seconds_bucket', registered), "a histogram's _bucket series is known");
});

t.test('every shoal_ metric a panel queries is registered in src', async (t) => {
  const registered = registeredNames();
  const used = new Set<string>();
  const unknown: string[] = [];
  for (const { panel, expr } of queried) {
    for (const m of expr.matchAll(/\bshoal_[a-zA-Z0-9_]+/g)) {
      used.add(m[0]);
      if (!known(m[0], registered)) unknown.push(`${panel}: ${m[0]}`);
    }
  }
  t.same(unknown, [], 'no panel queries a metric shoal does not export');
  t.ok(used.size >= 15, `the panels query ${used.size} shoal metrics`);
  for (const part of ['shoal_mesh_', 'shoal_dns_', 'shoal_updater_']) {
    t.ok([...used].some((n) => n.startsWith(part)), `some panel shows ${part}* metrics`);
  }
});

t.test('the dashboard is importable: schema, datasource variable, panels', async (t) => {
  t.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
  t.ok(dashboard.uid && dashboard.title, 'a uid and a title');
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
  t.equal(ds?.query, 'prometheus', 'a Prometheus datasource variable');
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const withQueries = panels.filter((p) => p.type !== 'row');
  t.ok(withQueries.length >= 10, `${withQueries.length} panels`);
  for (const p of withQueries) {
    t.equal(p.datasource?.uid, `\${${ds?.name}}`, `${p.title}: uses the datasource variable`);
    t.ok((p.targets ?? []).length > 0 && (p.targets ?? []).every((tg) => tg.expr), `${p.title}: has queries`);
  }
});
