/**
 * Secrets and configs (store keys `/secrets/<id>`, `/configs/<id>`): named
 * blobs a service's tasks see as files. Secrets are sealed under the
 * managers' data key (manager/secrets/); configs are kept as given.
 */

/** A secret or config a task uses (Docker's SecretReference / ConfigReference): which one, and the file it appears as. */
export interface PayloadReference {
  id: string;
  name: string;
  /** `target`: secrets relative to the secrets dir (/run/secrets), configs absolute; uid/gid absent: the daemon's own user. */
  file: { target: string; uid?: number; gid?: number; mode: number };
}

/** Secret bytes as the store holds them: AES-256-GCM under the managers' data key, base64 fields. */
export interface SealedData {
  alg: 'aes-256-gcm';
  /** First bytes of the data key's SHA-256, to tell a wrong key from damaged data. */
  keyId: string;
  nonce: string;
  tag: string;
  ciphertext: string;
}

/** A secret: only its ciphertext is stored; the API never answers with its data. */
export interface Secret {
  id: string;
  name: string;
  labels: Record<string, string>;
  data: SealedData;
  createdAt: string;
  updatedAt: string;
}

/** A config: stored as given (base64), as Docker does; nodes still only get those their tasks use. */
export interface Config {
  id: string;
  name: string;
  labels: Record<string, string>;
  data: string;
  createdAt: string;
  updatedAt: string;
}
