/**
 * Secret data at rest: AES-256-GCM under the managers' data key, a random
 * 96-bit nonce per object, the object's id as additional data (a ciphertext
 * moved to another secret's key does not open), and the key's id so a wrong
 * key is told apart from damaged data.
 */
import crypto from 'node:crypto';
import { SecretKeyMismatchError } from '../../errors';
import type { SealedData } from '../../model/types';

/** Bytes of a data key (AES-256). */
export const DATA_KEY_BYTES = 32;
/** GCM's recommended nonce length. */
const NONCE_BYTES = 12;

/** A short, non-secret name of a key: the first 8 bytes of its SHA-256, hex. */
export function keyIdOf(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Encrypt `plaintext` for the object `objectId`. */
export function seal(key: Buffer, objectId: string, plaintext: Buffer): SealedData {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(objectId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { alg: 'aes-256-gcm', keyId: keyIdOf(key), nonce: nonce.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

/** Decrypt what seal() made for `objectId`; SecretKeyMismatchError for another key or damaged data. */
export function unseal(key: Buffer, objectId: string, sealed: SealedData): Buffer {
  if (sealed.keyId !== keyIdOf(key)) throw new SecretKeyMismatchError(`secret ${objectId} was sealed with another data key (${sealed.keyId})`);
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(Buffer.from(objectId, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new SecretKeyMismatchError(`secret ${objectId} does not decrypt: its data is damaged`);
  }
}
