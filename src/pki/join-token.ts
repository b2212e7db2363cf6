/**
 * Join tokens in Swarm's format, `SWMTKN-1-<digest>-<secret>`: the digest is
 * the root CA certificate's SHA-256 in base36, zero-padded to 50 characters,
 * so a joining node can refuse a manager that shows another CA; the secret is
 * 25 random base36 characters, one for workers and one for managers, and is
 * what the manager checks. Rotating a token changes only its secret.
 */
import { randomInt, timingSafeEqual, createHash } from 'node:crypto';
import { InvalidJoinTokenError } from '../errors';
import { caDigest } from './root-ca';

/** The token prefix and the only format version there is. */
export const TOKEN_PREFIX = 'SWMTKN';
export const TOKEN_VERSION = 1;
/** Length of the base36 CA digest: 36^50 > 2^256, as Swarm's. */
export const TOKEN_DIGEST_LENGTH = 50;
/** Length of the base36 secret: 25 characters, about 129 bits. */
export const TOKEN_SECRET_LENGTH = 25;

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';
const TOKEN_FORMAT = new RegExp(`^${TOKEN_PREFIX}-(\\d+)-([0-9a-z]{${TOKEN_DIGEST_LENGTH}})-([0-9a-z]{${TOKEN_SECRET_LENGTH}})$`);

/** What a join token says. */
export interface JoinToken {
  version: number;
  /** The root CA's SHA-256 as lowercase hex (64 characters), ready to compare with caDigest(). */
  caDigest: string;
  /** The base36 secret. */
  secret: string;
}

/** A hex SHA-256 digest in base36, zero-padded to 50 characters. */
export function digestToBase36(hexDigest: string): string {
  return BigInt(`0x${hexDigest}`).toString(36).padStart(TOKEN_DIGEST_LENGTH, '0');
}

/** A base36 token digest back to 64-character lowercase hex; null when it does not fit 256 bits. */
function base36ToDigest(b36: string): string | null {
  let n = 0n;
  for (const c of b36) n = n * 36n + BigInt(BASE36.indexOf(c));
  const hex = n.toString(16);
  return hex.length > 64 ? null : hex.padStart(64, '0');
}

/** A fresh random 25-character base36 secret. */
export function generateTokenSecret(): string {
  let s = '';
  for (let i = 0; i < TOKEN_SECRET_LENGTH; i++) s += BASE36[randomInt(36)];
  return s;
}

/** A join token for the root `caCertPem`, with `secret` or a fresh one. */
export function generateJoinToken(caCertPem: string, secret: string = generateTokenSecret()): string {
  if (!/^[0-9a-z]+$/.test(secret) || secret.length !== TOKEN_SECRET_LENGTH) throw new InvalidJoinTokenError(`a token secret is ${TOKEN_SECRET_LENGTH} base36 characters`);
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${digestToBase36(caDigest(caCertPem))}-${secret}`;
}

/** Read a join token; a token of the wrong shape or version is an InvalidJoinTokenError (the message never echoes the token). */
export function parseToken(token: string): JoinToken {
  const m = TOKEN_FORMAT.exec(token.trim());
  if (!m) throw new InvalidJoinTokenError(`invalid join token: expected ${TOKEN_PREFIX}-${TOKEN_VERSION}-<${TOKEN_DIGEST_LENGTH} base36 characters>-<${TOKEN_SECRET_LENGTH} base36 characters>`);
  const version = Number(m[1]);
  if (version !== TOKEN_VERSION) throw new InvalidJoinTokenError(`invalid join token: version ${version} is not supported (only ${TOKEN_VERSION})`);
  const digest = base36ToDigest(m[2]);
  if (!digest) throw new InvalidJoinTokenError('invalid join token: the CA digest is longer than SHA-256');
  return { version, caDigest: digest, secret: m[3] };
}

/** Whether the token names one of these roots (a trust bundle during rotation holds two); false for a malformed token. */
export function tokenMatchesCa(token: string, caCertPem: string | readonly string[]): boolean {
  let parsed: JoinToken;
  try {
    parsed = parseToken(token);
  } catch {
    return false;
  }
  const roots = typeof caCertPem === 'string' ? [caCertPem] : caCertPem;
  return roots.some((pem) => caDigest(pem) === parsed.caDigest);
}

/** Compare two secrets in constant time (hashing first makes the lengths equal, so the length does not leak either). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Whether `token` is well formed and its secret equals `expectedSecret`, in constant time; the manager's check of a presented token. */
export function tokenSecretMatches(token: string, expectedSecret: string): boolean {
  try {
    return secretsEqual(parseToken(token).secret, expectedSecret);
  } catch {
    return false;
  }
}
