import type { Logger } from 'pino';
import type { Frontend } from '../../table/table';
import type { FrontendMetrics } from './mesh-metrics';

/** One bound socket serving one frontend of the table: a TCP server or a UDP socket. */
export interface FrontendListener {
  /** Differs between two binds of the same frontend id; shows whether an apply re-bound. */
  readonly listenerId: number;
  /** Bind address:port; rejects with the socket error (EADDRINUSE, EACCES...) when it cannot. */
  listen(): Promise<void>;
  /** Take a new backend list (and service label) without re-binding. */
  update(frontend: Frontend): void;
  /** Stop serving the frontend: unbind now; what happens to open traffic depends on the protocol. */
  close(): void;
  /** Open TCP connections or live UDP flows. */
  readonly activeCount: number;
  /** Close TCP connections and forget UDP flows idle past the frontend's idle timeout, as the sweep timer would. */
  sweepIdle?(): void;
}

/** What every listener needs from the dataplane that owns it. */
export interface FrontendListenerDeps {
  logger: Logger;
  /** Monotonic milliseconds. */
  now: () => number;
  metricsFor: (service: string, protocol: Frontend['protocol']) => FrontendMetrics;
}

/** One line an operator understands for a bind failure, e.g. `address already in use (EADDRINUSE)`. */
export function describeBindError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = code ? BIND_ERROR_TEXT[code] : undefined;
  if (reason && code) return `${reason} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

const BIND_ERROR_TEXT: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this host',
  EINVAL: 'invalid address or port',
  ERR_SOCKET_BAD_PORT: 'invalid port',
};
