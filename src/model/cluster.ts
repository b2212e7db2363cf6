/** The cluster object (`/cluster`) and the CA records it and `/certs/` hold. */
import type { SealedData } from './payloads';

/** Cluster-wide settings and secrets, at key `/cluster`. */
export interface Cluster {
  id: string;
  createdAt: string;
  tokens: { worker: string; manager: string };
  /** Address (host:port) nodes use to reach the manager API. */
  managerAddr: string;
  /** Next VIP index to hand out. */
  nextVipIndex: number;
  /** Task history kept per slot (Docker's --task-history-limit, default 5). */
  taskHistoryLimit: number;
  /** The cluster CA that signs every node certificate; absent only in stores written before issue 13. */
  ca?: ClusterCa;
  /** The secret half of each join token (a token is SWMTKN-1-<CA digest>-<secret>); rotating one changes it. */
  tokenSecrets?: { worker: string; manager: string };
  /** Certificates no longer accepted (node rm). */
  revocations?: { readonly nodeIds: readonly string[]; readonly serials: readonly string[] };
  /** Lifetime of node certificates (--cert-expiry), ms. */
  certExpiryMs?: number;
}

/** A CA key pair as the store keeps it: the certificate, the key sealed with the managers' data key. */
export interface StoredCaKey {
  certPem: string;
  key: SealedData;
}

/** The cluster's root CA, and during `swarm ca --rotate` its successor with the cross-signed intermediate. */
export interface ClusterCa extends StoredCaKey {
  rotation?: { next: StoredCaKey; crossSignedPem: string; startedAt: string };
}

/** The certificate a node holds now (as last issued), at `/certs/<nodeId>`: a root rotation ends when every node's comes from the new root. */
export interface IssuedNodeCert {
  nodeId: string;
  certPem: string;
  serial: string;
  notAfter: string;
}
