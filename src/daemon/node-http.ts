import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Registry } from 'prom-client';
import { sendJson } from '../api/router';
import { asShoalError, CertificateRequiredError } from '../errors';
import { requireRole, serverOptions, type NodeCredentials } from '../pki';
import { isUiPath, serveUi } from '../ui/ui-endpoint';
import type { VisualizerFeed } from '../ui/visualizer-feed';
import { listenHttp } from './http-listener';
import { serveTaskLogs, type TaskLogSource } from './task-logs-endpoint';

/** The task logs a node serves, and the certificate it serves them with (managers read them over mutual TLS). */
export interface TaskLogAccess {
  source: TaskLogSource;
  tls: NodeCredentials;
  /** Only this cluster's managers may read. */
  clusterId: string;
}

/** What the node's HTTP endpoint reads. */
export interface NodeHttpDeps {
  registry: Registry;
  /** Undefined while the node is in no swarm: task logs then answer 401. */
  taskLogs(): TaskLogAccess | undefined;
  /** The visualizer's feed while this node is a manager; undefined otherwise (`/ui/` answers 404). */
  visualizer(): VisualizerFeed | undefined;
}

/** First byte of a TLS handshake record. */
const TLS_HANDSHAKE = 0x16;

/**
 * The node's endpoint on its address and metrics port: `/metrics`,
 * `/healthz` and, on a manager, the visualizer `/ui/` in plain HTTP (for
 * Prometheus and browsers), and `/v1/tasks/:id/logs` only
 * over mutual TLS with a manager's certificate. One port serves both: the
 * first byte of a connection tells a TLS handshake from an HTTP request.
 */
export class NodeHttp {
  private readonly plain: http.Server;
  private secure: https.Server | undefined;
  /** The credentials the TLS side presents now. */
  private securedWith: NodeCredentials | undefined;
  private readonly listener: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly deps: NodeHttpDeps) {
    this.plain = http.createServer((req, res) => void this.serve(req, res, false));
    this.listener = net.createServer((socket) => this.route(socket));
  }

  private route(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const server = first[0] === TLS_HANDSHAKE ? this.tlsServer() : this.plain;
      if (!server) return void socket.destroy();
      server.emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.on('error', () => socket.destroy());
  }

  /** The TLS side with this node's current certificate; undefined outside a swarm. */
  private tlsServer(): https.Server | undefined {
    const creds = this.deps.taskLogs()?.tls;
    if (!creds) return undefined;
    if (!this.secure) this.secure = https.createServer(serverOptions(creds), (req, res) => void this.serve(req, res, true));
    else if (creds !== this.securedWith) this.secure.setSecureContext(serverOptions(creds));
    this.securedWith = creds;
    return this.secure;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, tls: boolean): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/metrics') {
        const body = await this.deps.registry.metrics();
        res.writeHead(200, { 'content-type': this.deps.registry.contentType });
        return void res.end(body);
      }
      if (url.pathname === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('ok\n');
      }
      if (isUiPath(url.pathname) && !tls) return await serveUi(this.deps.visualizer(), url.pathname, req, res);
      const m = /^\/v1\/tasks\/([a-z0-9]+)\/logs$/.exec(url.pathname);
      if (m) {
        const logs = this.deps.taskLogs();
        if (!logs || !tls) throw new CertificateRequiredError('task logs are served over mutual TLS to the swarm managers only');
        requireRole(req, ['manager'], { clusterId: logs.clusterId });
        return await serveTaskLogs(logs.source, m[1], url.searchParams, req, res);
      }
      sendJson(res, 404, { error: { code: 'SHOAL_ERR_NOT_FOUND', message: 'not found' } });
    } catch (err) {
      const e = asShoalError(err);
      if (res.headersSent) return void res.end();
      sendJson(res, e.status, { error: { code: e.code, message: e.message } });
    }
  }

  /** Bind host:port; a ListenError an operator can act on otherwise. */
  listen(port: number, host: string): Promise<void> {
    return listenHttp(this.listener, port, host, 'metrics');
  }

  /** Stop listening and drop open connections (a following log stream would hold close() forever). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.listener.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}
