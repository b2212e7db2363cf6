import type http from 'node:http';
import type net from 'node:net';
import { ListenError } from '../errors';

/** Binds `server` to host:port; rejects with what an operator can act on (`address already in use`). */
export function listenHttp(server: net.Server, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(`cannot listen for ${what} on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
}

/** Stops `server` and drops its open connections (kept-alive clients would hold close() forever). */
export function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
