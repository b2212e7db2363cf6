/**
 * The server side of node TLS (the manager API on :2377, a node's own API).
 * The server asks every client for a certificate but does not refuse the
 * handshake without one (`rejectUnauthorized: false`): the very first join
 * comes from a node that has only a token, so one route (`POST /v1/ca/issue`
 * or the like) must be reachable unauthenticated. Every other route asks
 * `peerIdentity(req)` and answers 401 on null (no certificate, another CA,
 * expired, revoked) or 403 on a role it does not serve (requireRole).
 * OpenSSL checks the client's chain against the trust bundle and validity;
 * this file adds the cluster id and the deny list.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { CertificateRequiredError, ForbiddenError } from '../errors';
import { certIdentity, type CertIdentity, type NodeRole } from './identity';
import { isRevoked, type RevocationList } from './revocation';
import { issuedDirectlyBy } from './chain';
import type { NodeCredentials } from './credentials';
import { splitPemCertificates } from './x509';

/** Options of serverOptions beyond the node's credentials. */
export interface ServerTlsOptions {
  /** The root current join tokens name; sent at the end of the chain so a joining node can match it to its token's digest. Default: the bundle's first root (the old root during a rotation, as rotationTrustBundle orders them). */
  joinRootPem?: string;
}

/** The certificates the server sends: the leaf, the intermediates needed to reach `rootPem` (none when that root signed the leaf), then that root. */
export function presentedChain(certPem: string, chainPem: string, rootPem: string): string {
  const chain = issuedDirectlyBy(certPem, rootPem) ? [] : splitPemCertificates(chainPem);
  return [certPem, ...chain, ...splitPemCertificates(rootPem)].join('');
}

/** node:tls / node:https server options: present our chain, request (not require) a client certificate, verify it against the trust bundle. Also valid for `server.setSecureContext()` after a renewal or a bundle change. */
export function serverOptions(creds: NodeCredentials, options: ServerTlsOptions = {}): TlsOptions {
  const joinRoot = options.joinRootPem ?? creds.trustBundle[0];
  return {
    key: creds.keyPem,
    cert: joinRoot ? presentedChain(creds.certPem, creds.chainPem, joinRoot) : creds.certPem + creds.chainPem,
    ca: creds.trustBundle,
    requestCert: true,
    // The first join has no certificate yet; routes decide (peerIdentity), not the handshake.
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  };
}

/** What the server may check beyond the chain. */
export interface PeerCheckOptions {
  /** Certificates of revoked nodes or serials are refused. */
  revocations?: RevocationList;
  /** Refuse certificates of another cluster (the O field) even when signed by a root we trust. */
  clusterId?: string;
}

/** The outcome of checking a peer: who it is, or why it is nobody. */
export type PeerAuthentication = { identity: CertIdentity; reason?: undefined } | { identity: null; reason: string };

function socketOf(from: IncomingMessage | TLSSocket): TLSSocket | null {
  const socket = ('socket' in from && from.socket ? from.socket : from) as TLSSocket;
  return socket && (socket as { encrypted?: boolean }).encrypted ? socket : null;
}

/** Check the peer of a request (or a TLS socket): its certificate verified against the trust bundle, of this cluster, not revoked; a reason when not. */
export function authenticatePeer(from: IncomingMessage | TLSSocket, options: PeerCheckOptions = {}): PeerAuthentication {
  const socket = socketOf(from);
  if (!socket) return { identity: null, reason: 'the connection is not TLS' };
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.raw) return { identity: null, reason: 'no client certificate' };
  if (!socket.authorized) return { identity: null, reason: `client certificate refused: ${String(socket.authorizationError ?? 'not from the cluster CA')}` };
  let identity: CertIdentity;
  try {
    identity = certIdentity(peer);
  } catch (err) {
    return { identity: null, reason: `client certificate refused: ${(err as Error).message}` };
  }
  if (options.clusterId !== undefined && identity.clusterId !== options.clusterId) return { identity: null, reason: 'client certificate refused: it belongs to another cluster' };
  if (options.revocations && isRevoked(options.revocations, identity)) return { identity: null, reason: 'client certificate refused: revoked' };
  return { identity };
}

/** The authenticated identity of a request's peer, or null (no certificate, untrusted, expired, wrong cluster, revoked). */
export function peerIdentity(from: IncomingMessage | TLSSocket, options: PeerCheckOptions = {}): CertIdentity | null {
  return authenticatePeer(from, options).identity;
}

/** The peer's identity if its role is one of `roles`; CertificateRequiredError (401) without a valid certificate, ForbiddenError (403) for another role. */
export function requireRole(from: IncomingMessage | TLSSocket, roles: readonly NodeRole[], options: PeerCheckOptions = {}): CertIdentity {
  const auth = authenticatePeer(from, options);
  if (!auth.identity) throw new CertificateRequiredError(auth.reason);
  if (!roles.includes(auth.identity.role)) throw new ForbiddenError(`a ${auth.identity.role} certificate may not make this call (needs ${roles.join(' or ')})`);
  return auth.identity;
}
