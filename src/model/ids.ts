import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
/** Length of object ids, as swarmkit's 25-character ids. */
export const ID_LENGTH = 25;

/** A random lower-case base-36 id like swarmkit's (`docker service ls` shows its first 12 characters). */
export function newId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let s = '';
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
  return s;
}

/** A random secret for join tokens. */
export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('hex');
}
