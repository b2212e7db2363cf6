/** An https server with shoal's node TLS for PKI tests: it answers every request with who the peer is (peerIdentity) or 401/403 as requireRole decides. */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { asShoalError } from '../../src/errors';
import type { NodeCredentials } from '../../src/pki/credentials';
import { peerIdentity, requireRole, serverOptions, type PeerCheckOptions, type ServerTlsOptions } from '../../src/pki/tls-server';

/** A running test server. */
export interface TestTlsServer {
  port: number;
  close(): Promise<void>;
}

/** Serve `GET /whoami` (any peer; answers the identity or null) and `GET /manager-only` (managers; 401/403 otherwise) on 127.0.0.1. */
export async function startTlsServer(creds: NodeCredentials, check: PeerCheckOptions = {}, tls: ServerTlsOptions = {}): Promise<TestTlsServer> {
  const server = https.createServer(serverOptions(creds, tls), (req, res) => {
    let status = 200;
    let body: unknown;
    if (req.url === '/manager-only') {
      try {
        body = requireRole(req, ['manager'], check);
      } catch (err) {
        const e = asShoalError(err);
        status = e.status;
        body = { error: { code: e.code, message: e.message } };
      }
    } else {
      body = { identity: peerIdentity(req, check) };
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

