/**
 * The cluster CA's routes (issue 13):
 * - `POST /v1/ca/issue { csrPem, token }`: the one route reachable without a
 *   certificate. The join token names the role; the node gets a new id and
 *   its first certificate (CN = id, OU = role, O = cluster).
 * - `POST /v1/ca/renew { csrPem }`: a node's new certificate, its id from
 *   the certificate it calls with, its role from the node record (so a
 *   promoted node renews into a manager certificate).
 * - `GET /v1/swarm/ca`, `POST /v1/swarm/ca/rotate` (`swarm ca [--rotate]`),
 *   `POST /v1/swarm/ca/client-cert { csrPem }` (a manager-role certificate
 *   for a remote CLI).
 * The leader ends a root rotation once every node holds a certificate from
 * the new root (`finishRotationIfDone`, from the manager's tick).
 */
import type { CaInfoResponse, IssueCertificateResponse } from '../../api/contract';
import type { RequestContext, Router } from '../../api/router';
import { ForbiddenError, InvalidArgumentError, UnauthorizedError } from '../../errors';
import { KEYS, type Cluster, type IssuedNodeCert, type Node, type NodeRole } from '../../model/types';
import { parseToken, type IssuedCertificate } from '../../pki';
import type { Store } from '../../store/store';
import type { SecretsKeyring } from '../secrets/keyring';
import { allOnIssuingRoot, clientCertId, issueFor, pkiOf, roleForJoinToken, trustBundle, withRotationFinished, withRotationStarted } from '../ca/cluster-ca';
import type { SwarmApi } from './swarm';

/** What the CA routes need. */
export interface CaApiDeps {
  store: Store;
  swarm: SwarmApi;
  keyring: SecretsKeyring;
  now: () => number;
  newId: () => string;
}

function csrOf(body: unknown): { csrPem: string; ipAddresses?: string[] } {
  const b = body as { csrPem?: unknown; ipAddresses?: unknown } | undefined;
  if (typeof b?.csrPem !== 'string' || !b.csrPem.includes('CERTIFICATE REQUEST')) throw new InvalidArgumentError('a certificate signing request (csrPem, PEM) is required');
  const ips = Array.isArray(b.ipAddresses) ? b.ipAddresses.filter((a): a is string => typeof a === 'string' && /^[0-9a-fA-F.:]+$/.test(a)).slice(0, 4) : undefined;
  return { csrPem: b.csrPem, ...(ips?.length && { ipAddresses: ips }) };
}

/** The node-certificate resource of the control API. */
export class CaApi {
  constructor(private readonly deps: CaApiDeps) {}

  routes(router: Router): void {
    router
      .on('POST', '/v1/ca/issue', (c) => this.issue(c.body))
      .on('POST', '/v1/ca/renew', (c) => this.renew(c))
      .on('GET', '/v1/swarm/ca', (c) => this.info(c))
      .on('POST', '/v1/swarm/ca/rotate', (c) => this.rotate(c))
      .on('POST', '/v1/swarm/ca/client-cert', (c) => this.clientCert(c));
  }

  private async issue(body: unknown): Promise<IssueCertificateResponse> {
    const token = (body as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || !token) throw new UnauthorizedError('a join token is required');
    parseToken(token);
    const csr = csrOf(body);
    const cluster = await this.deps.swarm.refresh();
    const role = roleForJoinToken(cluster, token);
    if (!role) throw new UnauthorizedError('invalid join token: it is not (or no longer) a token of this swarm');
    return this.certify(cluster, { ...csr, nodeId: this.deps.newId(), role });
  }

  private async renew(c: RequestContext): Promise<IssueCertificateResponse> {
    const peer = c.peer;
    if (!peer) throw new UnauthorizedError('renewing needs the certificate being renewed');
    const csr = csrOf(c.body);
    const node = await this.deps.store.get<Node>(KEYS.node(peer.nodeId));
    // A client certificate (no node record) keeps its role; a node's follows its record (node promote/demote).
    return this.certify(await this.deps.swarm.refresh(), { ...csr, nodeId: peer.nodeId, role: node?.value.role ?? peer.role });
  }

  /** A certificate signed here, without the API: a new manager's own at swarm init. */
  async issueLocal(req: { csrPem: string; nodeId: string; role: NodeRole; ipAddresses?: string[] }): Promise<IssueCertificateResponse> {
    return this.certify(await this.deps.swarm.refresh(), req);
  }

  private async certify(cluster: Cluster, req: { csrPem: string; nodeId: string; role: NodeRole; ipAddresses?: string[] }): Promise<IssueCertificateResponse> {
    const issued: IssuedCertificate = await issueFor(cluster, this.deps.keyring.dataKey(), { ...req, now: new Date(this.deps.now()) });
    const record: IssuedNodeCert = { nodeId: req.nodeId, certPem: issued.certPem, serial: issued.serial, notAfter: issued.notAfter.toISOString() };
    if (!req.nodeId.startsWith('client-')) await this.deps.store.put(KEYS.cert(req.nodeId), record);
    return { nodeId: req.nodeId, role: req.role, certPem: issued.certPem, chainPem: issued.chainPem, trustBundle: trustBundle(cluster) };
  }

  private managerOnly(c: RequestContext, what: string): void {
    if (this.deps.swarm.callerRole(c) !== 'manager') throw new ForbiddenError(`only a manager may ${what}`);
  }

  private async info(c: RequestContext): Promise<CaInfoResponse> {
    this.managerOnly(c, 'read the CA');
    const cluster = await this.deps.swarm.refresh();
    const pki = pkiOf(cluster);
    return {
      rootPem: pki.ca.certPem,
      ...(pki.ca.rotation && { rotation: { nextRootPem: pki.ca.rotation.next.certPem, startedAt: pki.ca.rotation.startedAt, pendingNodes: await this.nodesNotOnIssuingRoot(cluster) } }),
      certExpiryMs: pki.certExpiryMs,
    };
  }

  private async rotate(c: RequestContext): Promise<CaInfoResponse> {
    this.managerOnly(c, 'rotate the CA');
    await this.deps.swarm.update(async (cluster) => (pkiOf(cluster).ca.rotation ? cluster : withRotationStarted(cluster, this.deps.keyring.dataKey(), new Date(this.deps.now()))));
    return this.info(c);
  }

  private async clientCert(c: RequestContext): Promise<IssueCertificateResponse> {
    this.managerOnly(c, 'issue a client certificate');
    return this.certify(await this.deps.swarm.refresh(), { ...csrOf(c.body), nodeId: clientCertId(), role: 'manager' });
  }

  /** Nodes in the swarm whose certificate on record is not from the issuing root (or who have none). */
  private async nodesNotOnIssuingRoot(cluster: Cluster): Promise<string[]> {
    const [{ kvs: nodes }, { kvs: certs }] = await Promise.all([this.deps.store.range<Node>(KEYS.nodes), this.deps.store.range<IssuedNodeCert>(KEYS.certs)]);
    const byNode = new Map(certs.map((kv) => [kv.value.nodeId, kv.value.certPem]));
    return nodes.filter((n) => {
      const pem = byNode.get(n.value.id);
      return !pem || !allOnIssuingRoot(cluster, [pem]);
    }).map((n) => n.value.id);
  }

  /** Leader only: end a rotation when no node is left on the old root. */
  async finishRotationIfDone(): Promise<boolean> {
    const cluster = await this.deps.swarm.refresh();
    if (!cluster.ca?.rotation || this.deps.keyring.locked()) return false;
    if ((await this.nodesNotOnIssuingRoot(cluster)).length > 0) return false;
    await this.deps.swarm.update((cl) => withRotationFinished(cl, this.deps.keyring.dataKey()));
    return true;
  }

}
