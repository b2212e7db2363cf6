import path from 'node:path';
import { ApiClient, parseEndpoint } from '../api/client';
import { InvalidArgumentError } from '../errors';

/** Options every command shares. */
export interface GlobalFlags {
  host?: string;
  token?: string;
}

/** Default local socket of `shoal up` and `shoal daemon`: `./.shoal/shoal.sock`. */
export const DEFAULT_STATE_DIR = '.shoal';

/** The API client for `-H/--host`, `SHOAL_HOST`, or the local state dir's socket. */
export function clientFor(flags: GlobalFlags): ApiClient {
  const host = flags.host ?? process.env.SHOAL_HOST ?? `unix://${path.resolve(DEFAULT_STATE_DIR, 'shoal.sock')}`;
  return new ApiClient(parseEndpoint(host), { token: flags.token ?? process.env.SHOAL_TOKEN });
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
