import fs from 'node:fs';
import path from 'node:path';
import { ApiClient, parseEndpoint } from '../api/client';
import { InvalidArgumentError } from '../errors';
import type { NodeCredentials } from '../pki';

/** Options every command shares. */
export interface GlobalFlags {
  host?: string;
  /** Remote (tcp://) access: the swarm's roots, and a client certificate and key (`swarm ca --client-cert`). */
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

/** Files `swarm ca --client-cert DIR` writes, and SHOAL_CERT_PATH names (as Docker's DOCKER_CERT_PATH). */
export const CLIENT_CERT_FILES = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The client certificate for a tcp:// host: the flags, else SHOAL_CERT_PATH's files; none without either. */
function clientTls(flags: GlobalFlags): NodeCredentials | undefined {
  const dir = process.env.SHOAL_CERT_PATH;
  const file = (flag: string | undefined, name: string) => flag ?? (dir ? path.join(dir, name) : undefined);
  const ca = file(flags.tlscacert, CLIENT_CERT_FILES.ca);
  const cert = file(flags.tlscert, CLIENT_CERT_FILES.cert);
  const key = file(flags.tlskey, CLIENT_CERT_FILES.key);
  if (!ca && !cert && !key) return undefined;
  if (!ca || !cert || !key) throw new InvalidArgumentError('a tcp:// host needs --tlscacert, --tlscert and --tlskey together (or SHOAL_CERT_PATH)');
  return { keyPem: readPem(key, 'key'), certPem: readPem(cert, 'certificate'), chainPem: '', trustBundle: readPem(ca, 'CA bundle').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [] };
}

/** Default local socket of `shoal up` and `shoal daemon`: `./.shoal/shoal.sock`. */
export const DEFAULT_STATE_DIR = '.shoal';

/** The API client for `-H/--host`, `SHOAL_HOST`, or the local state dir's socket; a tcp:// host with the client certificate. */
export function clientFor(flags: GlobalFlags): ApiClient {
  const host = flags.host ?? process.env.SHOAL_HOST ?? `unix://${path.resolve(DEFAULT_STATE_DIR, 'shoal.sock')}`;
  const endpoint = parseEndpoint(host);
  if (endpoint.kind === 'unix') return new ApiClient(endpoint);
  const tls = clientTls(flags);
  if (!tls) throw new InvalidArgumentError(`${host} is a manager's TCP API: it needs a client certificate (shoal swarm ca --client-cert DIR on a manager, then SHOAL_CERT_PATH=DIR)`);
  return new ApiClient(endpoint, { tls });
}

/** `--format` accepts `table` (default) or `json`. */
export function outputFormat(v: string | undefined): 'table' | 'json' {
  const f = v ?? 'table';
  if (f !== 'table' && f !== 'json') throw new InvalidArgumentError(`invalid format "${f}": use table or json`);
  return f;
}

/** Print JSON for scripts. */
export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}
