/**
 * The client side of node TLS. After joining, a node calls managers with its
 * certificate and trusts only the cluster roots; it asks for the server name
 * `swarm-manager`, which only manager certificates carry (a worker's says
 * `swarm-worker`), so a worker cannot pose as a manager. Before joining it
 * has only a token: verifyServerByDigest checks the manager's chain against
 * the root whose SHA-256 the token carries.
 */
import type { ConnectionOptions, TLSSocket, PeerCertificate } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { CaMismatchError } from '../errors';
import { verifyChain } from './chain';
import { certIdentity, MANAGER_SERVER_NAME, type CertIdentity, type NodeRole } from './identity';
import { parseToken } from './join-token';
import { caDigest } from './root-ca';
import type { NodeCredentials } from './credentials';
import { parseNodeCertificate, toPem } from './x509';

/** Options of clientOptions. */
export interface ClientTlsOptions {
  /** The name the server's certificate must carry: MANAGER_SERVER_NAME (default) for any manager, a node id for one node. */
  serverName?: string;
}

/** node:tls / node:https client options: present our certificate, verify the server against the trust bundle and the server name. */
export function clientOptions(creds: NodeCredentials, options: ClientTlsOptions = {}): ConnectionOptions {
  return {
    key: creds.keyPem,
    cert: creds.certPem + creds.chainPem,
    ca: creds.trustBundle,
    servername: options.serverName ?? MANAGER_SERVER_NAME,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}

/** An undici Agent for `https://` calls with the node's certificate (ApiClient's dispatcher); the server name is forced, as undici would otherwise send the URL's host. */
export function mtlsDispatcher(creds: NodeCredentials, options: ClientTlsOptions & { connectTimeoutMs?: number } = {}): Agent {
  const tls = clientOptions(creds, options);
  const connect = buildConnector({ ...tls, ...(options.connectTimeoutMs ? { timeout: options.connectTimeoutMs } : {}) });
  return new Agent({ connect: (opts, callback) => connect({ ...opts, servername: tls.servername }, callback) });
}

/** Every certificate the peer sent, leaf first, as PEM (node links them issuer by issuer). */
function peerChainPems(socket: TLSSocket): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(toPem(c.raw, 'CERTIFICATE'));
    c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

/** Options of verifyServerByDigest. */
export interface ServerByDigestOptions {
  /** The role the server must have; default manager. */
  role?: NodeRole;
  /** The time validity is checked at; default now. */
  now?: Date;
}

/**
 * Check a TLS connection made without a trust store (`rejectUnauthorized:
 * false`): the server must present a root whose SHA-256 is `tokenOrDigest`'s
 * (a join token or a hex digest), its leaf must chain to that root and carry
 * `role`. Returns the server's identity; CaMismatchError otherwise (destroy
 * the socket then). Call after `secureConnect`.
 */
export function verifyServerByDigest(socket: TLSSocket, tokenOrDigest: string, options: ServerByDigestOptions = {}): CertIdentity {
  const digest = tokenOrDigest.startsWith('SWMTKN-') ? parseToken(tokenOrDigest).caDigest : tokenOrDigest.toLowerCase();
  const [leaf, ...rest] = peerChainPems(socket);
  if (!leaf) throw new CaMismatchError('the manager presented no certificate');
  const roots = rest.filter((pem) => {
    const c = parseNodeCertificate(pem);
    return c.ca && c.subject === c.issuer && caDigest(pem) === digest;
  });
  if (roots.length === 0) throw new CaMismatchError("the manager's certificate chain has no root CA with the join token's digest: it is not a manager of that swarm");
  let identity: CertIdentity;
  try {
    verifyChain(leaf, rest, roots, options.now);
    identity = certIdentity(leaf);
  } catch (err) {
    throw new CaMismatchError(`the manager's certificate does not verify against the join token's CA: ${(err as Error).message}`);
  }
  const role = options.role ?? 'manager';
  if (identity.role !== role) throw new CaMismatchError(`the server's certificate is a ${identity.role}'s, not a ${role}'s`);
  return identity;
}

/** node:tls / node:https options for the first join: no client certificate, no trust store; call verifyServerByDigest on the socket before sending the token. */
export function joinClientOptions(): ConnectionOptions {
  return { rejectUnauthorized: false, minVersion: 'TLSv1.2', servername: MANAGER_SERVER_NAME };
}

/** An undici Agent for the first join: every connection is checked with verifyServerByDigest against the token before any request is written on it. */
export function joinDispatcher(token: string, options: ServerByDigestOptions & { connectTimeoutMs?: number } = {}): Agent {
  const digest = parseToken(token).caDigest;
  // No session cache: a resumed session may come without the peer's chain to check.
  const connect = buildConnector({ ...joinClientOptions(), maxCachedSessions: 0, ...(options.connectTimeoutMs ? { timeout: options.connectTimeoutMs } : {}) });
  return new Agent({
    connect: (opts, callback) =>
      connect({ ...opts, servername: MANAGER_SERVER_NAME }, (err, socket) => {
        if (err || !socket) return callback(err ?? new CaMismatchError('no connection'), null);
        try {
          verifyServerByDigest(socket as TLSSocket, digest, options);
        } catch (e) {
          socket.destroy();
          return callback(e as Error, null);
        }
        callback(null, socket);
      }),
  });
}
