/**
 * A steady HTTP load through a published port for zero-failed-request tests:
 * every request opens a new TCP connection (`Connection: close`), so each one
 * is a fresh routing decision of the mesh, and any refused, reset or
 * non-200 answer counts as a failure.
 */
import http from 'node:http';

/** What a load run saw. */
export interface LoadReport {
  sent: number;
  ok: number;
  failed: number;
  errors: string[];
  versions: Map<string, number>;
  /** Achieved requests per second. */
  rate: number;
}

/** Target rate: above the floor of 200/s, with room for a loaded machine. */
const TARGET_RPS = 300;
const WORKERS = 6;
const REQUEST_TIMEOUT_MS = 5_000;

function once(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false, headers: { connection: 'close' }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The demo web app's answer is JSON with a `version` field. */
const demoVersion = (body: string) => String(JSON.parse(body).version);

/**
 * Start load against hosts (round robin over them); stop() ends it and reports, answered() counts the
 * requests answered so far. `versionOf` reads the version from a body.
 */
export function startLoad(
  hosts: string[],
  port: number,
  versionOf: (body: string) => string = demoVersion,
): { stop: () => Promise<LoadReport>; answered: () => number } {
  const report: LoadReport = { sent: 0, ok: 0, failed: 0, errors: [], versions: new Map(), rate: 0 };
  let running = true;
  const started = Date.now();
  const perWorkerGapMs = (1000 * WORKERS) / TARGET_RPS;
  const worker = async (w: number) => {
    let i = w;
    while (running) {
      const t0 = Date.now();
      const host = hosts[i++ % hosts.length];
      report.sent++;
      try {
        const r = await once(host, port);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        const v = versionOf(r.body);
        report.versions.set(v, (report.versions.get(v) ?? 0) + 1);
        report.ok++;
      } catch (err) {
        report.failed++;
        if (report.errors.length < 10) report.errors.push(`${host}: ${(err as Error).message}`);
      }
      const wait = perWorkerGapMs - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  const all = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return {
    answered: () => report.ok,
    stop: async () => {
      running = false;
      await all;
      report.rate = report.sent / ((Date.now() - started) / 1000);
      return report;
    },
  };
}
