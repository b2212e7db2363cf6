import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { InvalidArgumentError, NotFoundError, ShoalError } from '../errors';

/** What a handler sees of a request. */
export interface RequestContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  req: IncomingMessage;
  res: ServerResponse;
  /** Unix socket callers are local; TCP callers are nodes, named by their certificate. */
  caller: 'local' | 'node';
  /** Who a TCP caller is, from its client certificate (checked by the server); absent on the local socket and on the join route. */
  peer?: Peer;
}

/** A TCP caller as its certificate names it. */
export interface Peer {
  nodeId: string;
  role: 'manager' | 'worker';
}

/**
 * A handler returns the JSON answer, or `STREAMING` when it wrote the
 * response itself (watch streams).
 */
export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

/** Returned by handlers that took over the response. */
export const STREAMING = Symbol('streaming');

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** A tiny method+path router with JSON bodies and typed errors mapped to statuses. */
export class Router {
  private routes: Route[] = [];

  constructor(private readonly logger: Logger) {}

  /** Register a route; `:name` segments become params. */
  on(method: 'GET' | 'POST' | 'DELETE', path: string, handler: Handler): this {
    this.routes.push({ method, parts: path.split('/').filter(Boolean), handler });
    return this;
  }

  private match(method: string, pathname: string): { route: Route; params: Record<string, string> } | undefined {
    const segs = pathname.split('/').filter(Boolean);
    for (const route of this.routes) {
      if (route.method !== method || route.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = route.parts[i];
        if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(segs[i]);
        else if (p !== segs[i]) {
          ok = false;
          break;
        }
      }
      if (ok) return { route, params };
    }
    return undefined;
  }

  /** Serve one request. */
  async handle(req: IncomingMessage, res: ServerResponse, caller: 'local' | 'node', peer?: Peer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      const m = this.match(req.method ?? 'GET', url.pathname);
      if (!m) throw new NotFoundError(`no such endpoint: ${req.method} ${url.pathname}`);
      const body = await readJson(req);
      const out = await m.route.handler({ params: m.params, query: url.searchParams, body, req, res, caller, ...(peer && { peer }) });
      if (out === STREAMING) return;
      sendJson(res, 200, out ?? {});
    } catch (err) {
      const e = err instanceof ShoalError ? err : undefined;
      if (!e) this.logger.error({ err, path: url.pathname }, 'api handler failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, e?.status ?? 500, {
        error: { code: e?.code ?? 'SHOAL_ERR_INTERNAL', message: e?.message ?? (err as Error).message },
      });
    }
  }
}

/** Write a JSON answer. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new InvalidArgumentError('request body too large');
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new InvalidArgumentError('request body is not valid JSON');
  }
}
