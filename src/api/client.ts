import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { CaMismatchError, InvalidArgumentError, ShoalError, UnavailableError, errorFromCode } from '../errors';
import type { NodeCredentials } from '../pki';
import type { WatchLine } from './contract';

/** Where an API lives: a unix socket path or a TCP address. */
export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Default manager API port on TCP, as Docker's swarm port. */
export const DEFAULT_API_PORT = 2377;

/** Parse `unix:///path`, `tcp://host:port` or a bare `host:port`. */
export function parseEndpoint(s: string): Endpoint {
  if (s.startsWith('unix://')) {
    const path = s.slice('unix://'.length);
    if (!path) throw new InvalidArgumentError(`invalid host "${s}": empty socket path`);
    return { kind: 'unix', path };
  }
  const rest = s.startsWith('tcp://') ? s.slice('tcp://'.length) : s;
  const m = /^([^:/]+)(?::(\d+))?$/.exec(rest);
  if (!m) throw new InvalidArgumentError(`invalid host "${s}": use unix:///path or tcp://host:port`);
  const port = m[2] ? Number(m[2]) : DEFAULT_API_PORT;
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`invalid host "${s}": port out of range`);
  return { kind: 'tcp', host: m[1], port };
}

/** Options of an API client. */
export interface ApiClientOptions {
  /** A node's (or a client's) certificate: TCP endpoints are https with mutual TLS. */
  tls?: NodeCredentials;
  /** A dispatcher of the caller's own for TCP (the join's, which checks the manager against the token's CA digest). */
  dispatcher?: Dispatcher;
  /** Per-request timeout. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** A small JSON client of the manager API over a unix socket or TCP (undici). */
export class ApiClient {
  private readonly dispatcher: Dispatcher;
  private readonly origin: string;
  private readonly timeoutMs: number;

  constructor(
    readonly endpoint: Endpoint,
    private readonly options: ApiClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (endpoint.kind === 'unix') {
      this.dispatcher = new Agent({ connect: { socketPath: endpoint.path } });
      this.origin = 'http://localhost';
    } else {
      this.dispatcher = options.dispatcher ?? (options.tls ? tlsDispatcher(options.tls) : new Agent());
      this.origin = `${options.tls || options.dispatcher ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'content-type': 'application/json', ...extra };
  }

  private describe(): string {
    return this.endpoint.kind === 'unix' ? this.endpoint.path : `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** Call the API; a 4xx/5xx answer becomes the typed error it carries. */
  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.origin + path, {
        method,
        dispatcher: this.dispatcher,
        headers: this.headers(headers),
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      if (err instanceof ShoalError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (/CERT|SSL|ALTNAME|SIGNATURE|ISSUER/.test(code)) {
        throw new CaMismatchError(`TLS with ${this.describe()} failed: ${(err as Error).message}`);
      }
      throw new UnavailableError(`cannot reach the shoal daemon at ${this.describe()} (${code || (err as Error).message}); is it running?`);
    }
    const text = await res.body.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new UnavailableError(`unexpected answer from ${this.describe()}: ${text.slice(0, 200)}`);
      }
    }
    if (res.statusCode >= 400) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw errorFromCode(e?.code ?? 'SHOAL_ERR_INTERNAL', e?.message ?? `HTTP ${res.statusCode}`);
    }
    return parsed as T;
  }

  /**
   * Open a watch stream: calls onLine for every NDJSON line until the stream
   * ends or `signal` aborts. Resolves when the stream ends.
   */
  watch(prefixes: string[], onLine: (line: WatchLine) => void, signal?: AbortSignal): Promise<void> {
    const qs = prefixes.map((p) => `prefix=${encodeURIComponent(p)}`).join('&');
    return this.stream<WatchLine>(`/v1/watch?${qs}`, onLine, signal);
  }

  /**
   * GET an NDJSON stream (watch, logs): calls onLine for every line until the
   * stream ends or `signal` aborts; an error answer becomes its typed error.
   */
  async stream<T>(path: string, onLine: (line: T) => void, signal?: AbortSignal): Promise<void> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.origin}${path}`, {
        method: 'GET',
        dispatcher: this.dispatcher,
        headers: this.headers(),
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: 0,
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw new UnavailableError(`cannot reach the manager at ${this.describe()}: ${(err as Error).message}`);
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let e: { code?: string; message?: string } | undefined;
      try {
        e = JSON.parse(text).error;
      } catch {
        e = undefined;
      }
      throw errorFromCode(e?.code ?? 'SHOAL_ERR_INTERNAL', e?.message ?? `HTTP ${res.statusCode}`);
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) onLine(JSON.parse(line) as T);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw new UnavailableError(`stream from ${this.describe()} broke: ${(err as Error).message}`);
    }
  }

  /** Release sockets. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * The mTLS dispatcher, with the PKI loaded on first use: a CLI call over the
 * unix socket never needs @peculiar/x509, which takes longer to load than the
 * rest of the client.
 */
function tlsDispatcher(credentials: NodeCredentials): Dispatcher {
  const { mtlsDispatcher } = require('../pki/tls-client') as typeof import('../pki/tls-client');
  return mtlsDispatcher(credentials);
}
