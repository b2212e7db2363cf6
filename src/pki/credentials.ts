/** What a node holds to speak mTLS: its key and certificate, the chain it presents with it, and the roots it trusts. */
export interface NodeCredentials {
  /** The node's private key, PKCS#8 PEM; it never leaves the node. */
  keyPem: string;
  /** The node's certificate (the leaf alone), PEM. */
  certPem: string;
  /** Intermediates sent after the leaf (the cross-signed root during a rotation); empty otherwise. */
  chainPem: string;
  /** The roots this node trusts, PEM each: one, or old and new during a rotation. */
  trustBundle: string[];
}
