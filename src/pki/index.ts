/**
 * The cluster PKI (issue 13): root CA, join tokens, node certificates,
 * renewal, revocation, root rotation, TLS options and credential files.
 * Import from here; src/pki/x509.ts is the only file that loads @peculiar/x509.
 */
export { createRootCa, caDigest, ROOT_CA_VALIDITY_MS, CERT_BACKDATE_MS, type RootCa, type RootCaOptions } from './root-ca';
export { generateJoinToken, generateTokenSecret, parseToken, tokenMatchesCa, tokenSecretMatches, secretsEqual, type JoinToken } from './join-token';
export { createNodeCsr, type NodeCsr, type NodeCsrOptions } from './node-csr';
export { issueNodeCertificate, readCsr, DEFAULT_CERT_EXPIRY_MS, MIN_CERT_EXPIRY_MS, type IssuingCa, type IssueRequest, type IssuedCertificate } from './signer';
export { certIdentity, roleFromOu, ROLE_OU, MANAGER_SERVER_NAME, type CertIdentity, type CertificateInput, type NodeRole } from './identity';
export { renewAt, renewDelayMs, RENEW_WINDOW_START, RENEW_WINDOW_END } from './renewal';
export { EMPTY_REVOCATIONS, revokeNode, revokeSerial, isRevoked, pruneSerials, type RevocationList } from './revocation';
export { verifyChain, chainsTo, issuedDirectlyBy } from './chain';
export { startRootRotation, crossSignRoot, rotationIssuingCa, rotationTrustBundle, nodesNotOnRoot, finishRootRotation, type RootRotation } from './rotation';
export type { NodeCredentials } from './credentials';
export { serverOptions, presentedChain, authenticatePeer, peerIdentity, requireRole, type ServerTlsOptions, type PeerCheckOptions, type PeerAuthentication } from './tls-server';
export { clientOptions, mtlsDispatcher, verifyServerByDigest, joinClientOptions, joinDispatcher, type ClientTlsOptions, type ServerByDigestOptions } from './tls-client';
export { saveNodeCredentials, loadNodeCredentials, saveRootCa, loadRootCa, keyMatchesCertificate, writeFileAtomic, CREDENTIAL_FILES } from './credentials-files';
export { splitPemCertificates } from './x509';
