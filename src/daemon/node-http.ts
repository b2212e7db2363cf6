import http from 'node:http';
import type { Registry } from 'prom-client';
import { sendJson } from '../api/router';
import { asShoalError, UnauthorizedError } from '../errors';
import { serveTaskLogs, type TaskLogSource } from './task-logs-endpoint';

/** The task logs a node serves, and the token other nodes present to read them. */
export interface TaskLogAccess {
  source: TaskLogSource;
  token: string;
}

/** What the node's HTTP endpoint reads. */
export interface NodeHttpDeps {
  registry: Registry;
  /** Undefined while the node is in no swarm, or has no token yet: task logs then answer 401. */
  taskLogs(): TaskLogAccess | undefined;
}

/** The node's HTTP endpoint on its address: `/metrics`, `/healthz` and `/v1/tasks/:id/logs`. */
export function createNodeHttpServer(deps: NodeHttpDeps): http.Server {
  return http.createServer((req, res) => void serveNodeHttp(deps, req, res));
}

async function serveNodeHttp(deps: NodeHttpDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/metrics') {
      const body = await deps.registry.metrics();
      res.writeHead(200, { 'content-type': deps.registry.contentType });
      return void res.end(body);
    }
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end('ok\n');
    }
    const m = /^\/v1\/tasks\/([a-z0-9]+)\/logs$/.exec(url.pathname);
    if (m) {
      const logs = deps.taskLogs();
      if (!logs || req.headers.authorization !== `Bearer ${logs.token}`) throw new UnauthorizedError('a valid token is required');
      return await serveTaskLogs(logs.source, m[1], url.searchParams, req, res);
    }
    sendJson(res, 404, { error: { code: 'SHOAL_ERR_NOT_FOUND', message: 'not found' } });
  } catch (err) {
    const e = asShoalError(err);
    if (res.headersSent) return void res.end();
    sendJson(res, e.status, { error: { code: e.code, message: e.message } });
  }
}
