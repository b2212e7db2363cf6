import { chmod, unlink } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Info, SwarmInitRequest, SwarmInitResponse, SwarmJoinRequest } from '../api/contract';
import { Router, sendJson } from '../api/router';
import { DaemonRunningError, NotManagerError, ShoalError } from '../errors';

/** What the local control socket answers itself; everything else goes to the manager's routes. */
export interface LocalSocketHandlers {
  info(): Info;
  swarmInit(req: SwarmInitRequest): Promise<SwarmInitResponse>;
  swarmJoin(req: SwarmJoinRequest): Promise<Info>;
  swarmLeave(force: boolean): Promise<Record<string, never>>;
  /** The manager API's routes while this node is a manager. */
  managerRouter(): Router | undefined;
}

/** `/v1/swarm/` routes the manager part answers, not the daemon itself. */
const MANAGER_SWARM_ROUTES = ['/v1/swarm/join-token', '/v1/swarm/unlock', '/v1/swarm/secrets-key', '/v1/swarm/ca'];

/**
 * The daemon's local control socket: `/v1/info` and `/v1/swarm/*` (not
 * join-token) from the node itself, the rest from the manager API when this
 * node is a manager. Callers on the socket are trusted (caller 'local').
 */
export function createLocalSocketServer(logger: Logger, handlers: LocalSocketHandlers): http.Server {
  const router = new Router(logger);
  router
    .on('GET', '/v1/info', () => handlers.info())
    .on('POST', '/v1/swarm/init', (c) => handlers.swarmInit((c.body ?? {}) as SwarmInitRequest))
    .on('POST', '/v1/swarm/join', (c) => handlers.swarmJoin(c.body as SwarmJoinRequest))
    .on('POST', '/v1/swarm/leave', (c) => handlers.swarmLeave(!!(c.body as { force?: boolean } | undefined)?.force));
  return http.createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0];
    if (p === '/v1/info' || (p.startsWith('/v1/swarm/') && !MANAGER_SWARM_ROUTES.some((r) => p.startsWith(r)))) return void router.handle(req, res, 'local');
    const managerRouter = handlers.managerRouter();
    if (!managerRouter) {
      const e = new NotManagerError('this node is not a swarm manager: run the command on a manager, or `shoal swarm init` first');
      return sendJson(res, e.status, { error: { code: e.code, message: e.message } });
    }
    void managerRouter.handle(req, res, 'local');
  });
}

/** Listens on `socketPath`, taking it over from a dead daemon; refuses one a live daemon still answers on. */
export async function listenLocalSocket(server: http.Server, socketPath: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new DaemonRunningError(`another shoal daemon is already using ${socketPath}`);
  await unlink(socketPath).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  // Whoever can open the socket is the node's operator: only the daemon's user may.
  await chmod(socketPath, 0o600);
}
