import * as http from 'node:http';
import { probeWithin } from './probe-deadline';
import type { ProbeResult } from './probe-types';

/** Lowest and highest HTTP status a health check accepts: 2xx and 3xx, as Kubernetes' httpGet probe does. */
const HEALTHY_STATUS_MIN = 200;
const HEALTHY_STATUS_MAX = 399;

/**
 * GETs `path` on the task's address and port; healthy when the answer's
 * status is 2xx or 3xx (redirects are not followed) within the timeout.
 */
export function httpProbe(address: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return probeWithin(timeoutMs, (settle) => {
    const req = http.request({ host: address, port, path: path.startsWith('/') ? path : `/${path}`, method: 'GET', agent: false });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      settle({ ok: status >= HEALTHY_STATUS_MIN && status <= HEALTHY_STATUS_MAX, output: `HTTP ${status}` });
    });
    req.once('error', (err) => settle({ ok: false, output: err.message }));
    req.end();
    return req;
  });
}
