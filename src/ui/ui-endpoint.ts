/**
 * The visualizer's routes on a node's plain-HTTP metrics port: `/ui/` (the
 * page and its two static files, shipped in `static/` beside this file) and
 * `/ui/events`, a Server-Sent Events stream of snapshots. Only a manager has
 * a feed; elsewhere the routes answer 404 like any unknown path.
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { NotFoundError } from '../errors';
import type { VisualizerFeed } from './visualizer-feed';

/** Where the page's files are: copied next to the compiled file by the build. */
export const STATIC_DIR = path.join(__dirname, 'static');
/** A comment line this often keeps proxies and idle timers from closing the stream. */
export const SSE_KEEPALIVE_MS = 15_000;
/** How soon a browser reconnects after the stream broke. */
const SSE_RETRY_MS = 1_000;

const FILES: Record<string, { file: string; type: string }> = {
  '/ui/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page loads nothing but its own files and its stream. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const cache = new Map<string, Buffer>();

async function staticFile(name: string): Promise<Buffer> {
  let body = cache.get(name);
  if (!body) {
    body = await readFile(path.join(STATIC_DIR, name));
    cache.set(name, body);
  }
  return body;
}

/** Whether `pathname` is one of the visualizer's. */
export function isUiPath(pathname: string): boolean {
  return pathname === '/ui' || pathname.startsWith('/ui/');
}

/**
 * Answer a `/ui` request with the node's feed, or NotFoundError (thrown) on
 * a node that is not a manager now, and for unknown files.
 */
export async function serveUi(feed: VisualizerFeed | undefined, pathname: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!feed) throw new NotFoundError('the visualizer is served by managers only: open /ui/ on a manager node');
  if (pathname === '/ui') {
    res.writeHead(301, { location: '/ui/' });
    return void res.end();
  }
  if (pathname === '/ui/events') return serveEvents(feed, req, res);
  const entry = FILES[pathname];
  if (!entry) throw new NotFoundError(`no file ${pathname}`);
  const body = await staticFile(entry.file);
  res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** `text/event-stream`: a `snapshot` event now and after every change, until the page or the feed goes. */
function serveEvents(feed: VisualizerFeed, req: http.IncomingMessage, res: http.ServerResponse): void {
  req.socket.setTimeout(0);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
  res.write(`retry: ${SSE_RETRY_MS}\n\n`);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
  const unsubscribe = feed.subscribe({
    snapshot: (json) => void res.write(`event: snapshot\ndata: ${json}\n\n`),
    end: () => res.end(),
  });
  res.on('close', () => {
    clearInterval(keepalive);
    unsubscribe();
  });
}
