/**
 * The visualizer in a real browser: headless Chromium (Debian's `chromium`,
 * which .ci/run installs) opens the manager's /ui/, sees every node and task,
 * follows a scale-up within the 2 s, marks a drained node and an
 * update in progress, and leaves a screenshot in the test's temp dir.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { eventually } from '../support/eventually';
import { clusterWait, DEMO_DIR, runningTasks, tempDir, TestCluster } from './cluster-fixture';

/** Address block 127.0.74.x and DNS port 5374: no other test uses them. */
const BLOCK = 74;
const DNS = 5374;
/** Every node's metrics port, where a manager serves /ui/. */
const METRICS_PORT = 9323;
/** The bound: new cards show within 2 s of `service scale` returning. */
const SCALE_SHOWN_MS = 2_000;
/** Waits that are not the bound above: only reached when something is broken. */
const PAGE_WAIT_MS = 30_000;
/** The page's DOM as far as the checks in the page read it: the project compiles without the DOM lib. */
interface PageElement {
  dataset: Record<string, string | undefined>;
  querySelectorAll(selector: string): { length: number };
  closest(selector: string): PageElement | null;
}
declare const document: { querySelectorAll(selector: string): { length: number }; querySelector(selector: string): PageElement | null };
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Debian's chromium on the PATH, or undefined. */
function findChromium(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Status, headers and the first chunk of a GET, then the connection is dropped (the events stream never ends). */
function firstChunk(host: string, pathName: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: METRICS_PORT, path: pathName, timeout: 10_000 }, (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (d: string) => {
        body += d;
        if (res.headers['content-type']?.startsWith('text/event-stream') && !body.includes('event: snapshot')) return;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${pathName}: timed out`)));
    req.on('error', reject);
  });
}

/** Cards the page shows now: every current task, of any state. */
function cards(page: Page, service: string): Promise<{ id: string; state: string; node: string }[]> {
  return page.$$eval(`[data-task-id][data-service="${service}"]`, (els) =>
    els.map((el) => {
      const e = el as unknown as PageElement;
      return { id: e.dataset.taskId!, state: e.dataset.state!, node: e.closest('section')?.dataset.hostname ?? '' };
    }),
  );
}

t.test('the visualizer shows nodes and tasks live in headless Chromium', async (t) => {
  const chromium = findChromium();
  if (!chromium) {
    t.fail("chromium is not installed: this test needs Debian's `chromium` (.ci/run installs it)");
    return;
  }
  const dir = tempDir(t, 'visualizer');
  const c = new TestCluster(t, dir, BLOCK, DNS);
  await c.up(3);
  const manager = c.address(1);

  const create = await c.cli('service', 'create', '--name', 'web', '--replicas', '2', '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(create.code, 0, create.stderr);
  const initial = await eventually(async () => {
    const rows = await runningTasks(c, 'web');
    return rows.length === 2 && rows;
  }, 'two running web tasks', clusterWait(60_000));

  // The HTTP side, without a browser: a worker has no visualizer; the stream is SSE.
  const onWorker = await firstChunk(c.address(2), '/ui/');
  t.equal(onWorker.status, 404, 'a worker answers 404 on /ui/');
  t.match(JSON.parse(onWorker.body), { error: { code: 'SHOAL_ERR_NOT_FOUND' } });
  const events = await firstChunk(manager, '/ui/events');
  t.equal(events.status, 200);
  t.match(events.headers['content-type'], /^text\/event-stream/, 'events are Server-Sent Events');
  t.equal(events.headers['cache-control'], 'no-store');
  t.match(events.body, /^retry: \d+\n\n/, 'the stream says how soon to reconnect');
  t.match(events.body, /event: snapshot\ndata: \{/, 'and starts with a snapshot');
  const pageRes = await firstChunk(manager, '/ui/');
  t.equal(pageRes.status, 200);
  t.match(pageRes.headers['content-security-policy'], /default-src 'self'/);

  let browser: Browser | undefined;
  t.teardown(async () => {
    const proc = browser?.process();
    await browser?.close().catch(() => undefined);
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  browser = await puppeteer.launch({
    executablePath: chromium,
    args: ['--no-sandbox', '--headless=new'],
    // Inside the test's temp dir, so that teardown removes the profile with it.
    userDataDir: path.join(dir, 'chromium-profile'),
  });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(`http://${manager}:${METRICS_PORT}/ui/`, { waitUntil: 'load' });

  await page.waitForFunction(
    () =>
      document.querySelectorAll('[data-node-id]').length === 3 &&
      document.querySelectorAll('[data-task-id][data-service="web"][data-state="running"]').length === 2,
    { timeout: PAGE_WAIT_MS },
  );
  t.equal(await page.$eval('body', (b) => b.dataset.connection), 'live', 'the page follows the stream');
  const hostnames = await page.$$eval('[data-node-id]', (els) => els.map((e) => (e as unknown as PageElement).dataset.hostname));
  t.same(hostnames, ['node-1', 'node-2', 'node-3'], 'one column per node, the manager first');
  const shown = await cards(page, 'web');
  t.same(shown.map((x) => x.id).sort(), initial.map((r) => r.ID).sort(), 'a card for every task');
  for (const row of initial) t.equal(shown.find((x) => x.id === row.ID)?.node, row.Node, `${row.Name} is in the column of ${row.Node}`);

  // The bound of the issue. `--detach`: scale returns once the spec is stored, tasks may still be
  // unassigned or starting; the page shows those too (an "unassigned" column holds the first).
  const scale = await c.cli('service', 'scale', '--detach', 'web=5');
  t.equal(scale.code, 0, scale.stderr);
  const scaled = Date.now();
  await page.waitForFunction((n) => document.querySelectorAll('[data-task-id][data-service="web"]').length >= n, { timeout: SCALE_SHOWN_MS }, 5);
  const took = Date.now() - scaled;
  t.comment(`5 web cards shown ${took} ms after service scale returned`);
  t.ok(took <= SCALE_SHOWN_MS, `the new cards appear within ${SCALE_SHOWN_MS} ms`);
  await page.waitForFunction(() => document.querySelectorAll('[data-task-id][data-service="web"][data-state="running"]').length === 5, { timeout: PAGE_WAIT_MS });

  const drain = await c.cli('node', 'update', '--availability', 'drain', 'node-3');
  t.equal(drain.code, 0, drain.stderr);
  await page.waitForFunction(
    () => {
      const col = document.querySelector('[data-hostname="node-3"]');
      return col?.dataset.availability === 'drain' && col.querySelectorAll('[data-task-id]').length === 0;
    },
    { timeout: PAGE_WAIT_MS },
  );
  const mark = await page.$eval('[data-hostname="node-3"]', (e) => ({ cls: e.className, text: e.textContent ?? '' }));
  t.match(mark.cls, /node--drain/, 'the drained column is marked');
  t.match(mark.text, /drain/, 'and says so');
  await page.waitForFunction(() => document.querySelectorAll('[data-task-id][data-service="web"][data-state="running"]').length === 5, { timeout: PAGE_WAIT_MS });

  // An update in progress shows on the service's legend entry.
  const update = await c.cli('service', 'update', '--detach', '--force', '--update-delay', '2s', 'web');
  t.equal(update.code, 0, update.stderr);
  await page.waitForSelector('[data-service="web"] [data-update-state="updating"]', { timeout: PAGE_WAIT_MS });
  t.match(await page.$eval('[data-update-state="updating"]', (e) => e.textContent), /^updating \d\/5/, 'the update shows its progress');

  const shot = path.join(dir, 'visualizer.png');
  await page.screenshot({ path: shot });
  t.ok(statSync(shot).size > 0, `screenshot saved in ${shot}`);
  t.same(readFileSync(shot).subarray(0, PNG_SIGNATURE.length), PNG_SIGNATURE, 'and it is a PNG');
  t.same(pageErrors, [], 'no error in the page');
});
