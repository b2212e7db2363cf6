/**
 * The one door to @peculiar/x509: it loads the `reflect-metadata` polyfill the
 * library's dependency injection (tsyringe) needs, points it at node's
 * WebCrypto, and adds the PEM and key helpers the rest of src/pki shares.
 * node:crypto verifies certificates but cannot issue them, hence the library.
 */
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateInvalidError } from '../errors';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A WebCrypto key (node's type; the DOM's is not in this build's lib). */
export type CryptoKey = webcrypto.CryptoKey;

export { x509 };

/** ECDSA over P-256 with SHA-256: Swarm's choice for the root and every node key. */
export const EC_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** The signature algorithm of every certificate and signing request shoal makes. */
export const EC_SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A private key with its public half, as WebCrypto keys. */
export type KeyPair = webcrypto.CryptoKeyPair;

/** A fresh P-256 key pair; the private key is extractable so it can be saved as PEM. */
export async function generateKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify'])) as KeyPair;
}

/** `der` as PEM with the given label (`CERTIFICATE`, `PRIVATE KEY`, ...). */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text` with its label and DER bytes, in order. */
export function pemBlocks(text: string): { label: string; der: Buffer }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') }));
}

/** The certificates in a PEM bundle, each as its own PEM string (leaf first, as written). */
export function splitPemCertificates(bundle: string): string[] {
  return pemBlocks(bundle)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => toPem(b.der, 'CERTIFICATE'));
}

/** A private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`, which node:tls and openssl read). */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A PKCS#8 PEM P-256 private key as a WebCrypto signing key. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const block = pemBlocks(pem).find((b) => b.label === 'PRIVATE KEY');
  if (!block) throw new CertificateInvalidError('no PKCS#8 "PRIVATE KEY" PEM block in the key');
  try {
    return await webcrypto.subtle.importKey('pkcs8', block.der, EC_KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new CertificateInvalidError(`the private key is not a P-256 ECDSA key: ${(err as Error).message}`);
  }
}

/** Parse one PEM certificate with @peculiar/x509 (to read names and extensions). */
export function parseCertificate(pem: string | Uint8Array): x509.X509Certificate {
  try {
    return new x509.X509Certificate(typeof pem === 'string' ? pem : new Uint8Array(pem));
  } catch (err) {
    throw new CertificateInvalidError(`not an X.509 certificate: ${(err as Error).message}`);
  }
}

/** Parse one PEM certificate with node:crypto (to verify signatures and issuance). */
export function parseNodeCertificate(pem: string | Uint8Array): NodeX509Certificate {
  try {
    return new NodeX509Certificate(typeof pem === 'string' ? pem : Buffer.from(pem));
  } catch (err) {
    throw new CertificateInvalidError(`not an X.509 certificate: ${(err as Error).message}`);
  }
}

/** A fresh certificate serial: 16 random bytes as lowercase hex, positive and without a leading zero byte, so node's and OpenSSL's renderings agree. */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x10;
  return Buffer.from(b).toString('hex');
}

/** A serial number as shoal compares it: lowercase hex, no separators, no leading zeros. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[^0-9a-fA-F]/g, '').toLowerCase().replace(/^0+/, '');
  return hex || '0';
}
