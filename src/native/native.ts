import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The N-API addon built from native/ (batched UDP I/O with recvmmsg and
 * sendmmsg on libuv's loop; the TCP relay on its own epoll threads), and the loader that falls back to null when it
 * is not built, cannot load, or SHOAL_NATIVE=0 turns it off.
 * SHOAL_NATIVE_PATH names another build of it (a sanitizer build, a package's).
 */

/** The addon's interface version this code speaks; native/src/addon.cc carries the same number. */
export const NATIVE_ABI_VERSION = 2;

/** Where node-gyp puts the addon, relative to the repository root. */
const ADDON_RELATIVE_PATH = join('native', 'build', 'Release', 'shoal_native.node');
/** How many directories up from this file the repository root is looked for (dist/src/native, .build/x/src/native). */
const MAX_ROOT_DEPTH = 6;

/** One IPv4 datagram socket of the addon; every method throws Node-style errors (`code`, `errno`, `syscall`). */
export interface NativeUdpSocketHandle {
  /** Bind; port 0 lets the kernel pick. Returns the bound port. */
  bind(address: string, port: number): number;
  /** Fix the peer: datagrams go to and come only from it, and its ICMP errors reach onError. */
  connect(address: string, port: number): void;
  /**
   * Queue a copy of bytes[offset, offset+length) to port:address (IPv4 as a
   * 32-bit number); port 0 sends to the connected peer. False when the queue
   * is full and the kernel takes nothing: the datagram is dropped.
   */
  send(bytes: Uint8Array, offset: number, length: number, port: number, address: number): boolean;
  /** Send what is queued now instead of at the next flush point. */
  flush(): void;
  /** Send what is queued, then release the socket; safe twice and inside callbacks. */
  close(): void;
  /** The bound port, 0 when neither bound nor connected. */
  localPort(): number;
  /** What the socket did so far. */
  stats(): NativeUdpSocketStats;
}

/** Counters of one native socket: syscalls and the datagrams they moved, to see batching at work. */
export interface NativeUdpSocketStats {
  receiveCalls: number;
  received: number;
  sendCalls: number;
  sent: number;
  /** Datagrams the kernel refused (the error went to onError) or that found the send queue full. */
  dropped: number;
}

/** Settings of one native TCP frontend; 0 means none/unlimited. */
export interface NativeTcpSettings {
  /** 0 round-robin, 1 least-connections, 2 source-hash. */
  policy: number;
  affinityTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerBackend: number;
  idleTimeoutMs: number;
  /** 0 none, 1 PROXY v1, 2 PROXY v2. */
  proxyProtocol: number;
}

/** One backend of a native TCP frontend; `key` is unique per task id, address and port. */
export interface NativeTcpBackend {
  key: number;
  id: string;
  address: string;
  port: number;
  weight: number;
}

/**
 * Cumulative counters of the native TCP relay, as fixed-width rows:
 * frontends [key, active, opened, bytesIn, bytesOut, connectErrors, retries,
 * replays, limitFrontend, limitBackend, limitPending], backends [frontend
 * key, backend key, active, opened, connectErrors], latencies [frontend key,
 * connect seconds] (each latency reported once). A frontend closed with
 * nothing open, or a backend gone with nothing open, is reported one last
 * time and then left out.
 */
export interface NativeTcpRelayStats {
  frontends: Float64Array;
  backends: Float64Array;
  latencies: Float64Array;
}

/** The addon's TCP relay: epoll worker threads that accept, connect and relay with no JS per connection. */
export interface NativeTcpRelayHandle {
  /** Set (or replace) frontend `key`'s settings and backends; the first call creates it. */
  configure(key: number, settings: NativeTcpSettings, backends: NativeTcpBackend[]): void;
  /** Bind and listen for frontend `key`; returns the port. Throws Node-style errors (`listen EADDRINUSE 127.0.0.1:80`). */
  listen(key: number, address: string, port: number): number;
  /** Stop accepting for `key` at once; its open connections run on. */
  unlisten(key: number): void;
  /** Open connections of `key`. */
  active(key: number): number;
  /**
   * Run the idle sweep now, idleness measured on `idleNowMs` from here on
   * (tests drive a fake clock through it; until the first call the relay
   * measures idleness on `clock()`).
   */
  sweepIdle(idleNowMs: number): void;
  /** The monotonic milliseconds the relay measures idleness on. */
  clock(): number;
  stats(): NativeTcpRelayStats;
  /** Close every connection and listener and stop the threads; safe twice. */
  close(): void;
}

/** Options of a native TCP relay. */
export interface NativeTcpRelayOptions {
  threads: number;
  connectTimeoutMs: number;
  replayBufferBytes: number;
  maxPendingConnections: number;
  idleSweepIntervalMs: number;
}

/** What `require` of the addon gives. */
export interface NativeAddon {
  readonly abiVersion: number;
  /** Datagrams per receive batch at most. */
  readonly maxBatch: number;
  /** Bytes between two datagrams in `arena`. */
  readonly slotBytes: number;
  /** Numbers per datagram in `meta`: length, IPv4 address, port. */
  readonly metaFields: number;
  /** Largest datagram `send` takes. */
  readonly maxDatagram: number;
  /** Received bytes of the current batch: datagram i starts at i * slotBytes. Valid during onBatch only. */
  readonly arena: Buffer;
  /** Length, address and port of each datagram of the current batch. */
  readonly meta: Uint32Array;
  /** A new unbound socket; onBatch(count) is called once per received batch, onError with async errors. */
  readonly UdpSocket: new (
    onBatch: (count: number) => void,
    onError: (err: NodeJS.ErrnoException) => void,
  ) => NativeUdpSocketHandle;
  /** A TCP relay with its threads started. */
  readonly TcpRelay: new (options: NativeTcpRelayOptions) => NativeTcpRelayHandle;
}

/** Why the addon is or is not used; bounded, for a metric label. */
export type NativeStatus = 'loaded' | 'disabled' | 'missing' | 'failed';

/** The outcome of one load attempt. */
export interface NativeLoadResult {
  addon: NativeAddon | null;
  status: NativeStatus;
  /** One line for the logs, e.g. `SHOAL_NATIVE=0` or `not built: /repo/native/build/Release/shoal_native.node`. */
  reason: string;
}

/** Where to look and what to obey; defaults are the process's. */
export interface NativeLoadOptions {
  env?: NodeJS.ProcessEnv;
  /** The addon file; default: env SHOAL_NATIVE_PATH, else native/build/Release/shoal_native.node under the repository root. */
  path?: string;
}

/** Values of SHOAL_NATIVE that turn the addon off. */
const DISABLED_VALUES = new Set(['0', 'false', 'no', 'off']);

/** Load the addon, or say why not. Never throws. */
export function tryLoadNative(options: NativeLoadOptions = {}): NativeLoadResult {
  const env = options.env ?? process.env;
  const setting = env.SHOAL_NATIVE?.trim().toLowerCase();
  if (setting !== undefined && DISABLED_VALUES.has(setting)) {
    return { addon: null, status: 'disabled', reason: `SHOAL_NATIVE=${env.SHOAL_NATIVE}` };
  }
  const path = options.path ?? (env.SHOAL_NATIVE_PATH || findAddon());
  if (!path || !existsSync(path)) {
    return { addon: null, status: 'missing', reason: `not built: ${path ?? ADDON_RELATIVE_PATH} (run npx node-gyp rebuild in native/)` };
  }
  let addon: NativeAddon;
  try {
    // A compiled addon can only be loaded through require.
    addon = require(path) as NativeAddon;
  } catch (err) {
    return { addon: null, status: 'failed', reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (addon.abiVersion !== NATIVE_ABI_VERSION) {
    return {
      addon: null,
      status: 'failed',
      reason: `${path} speaks interface ${String(addon.abiVersion)}, this build needs ${NATIVE_ABI_VERSION} (rebuild native/)`,
    };
  }
  return { addon, status: 'loaded', reason: `loaded ${path}` };
}

let defaultLoad: NativeLoadResult | undefined;

/** The process's addon load (made once), re-checked against SHOAL_NATIVE on every call. */
export function nativeLoadResult(): NativeLoadResult {
  const setting = process.env.SHOAL_NATIVE?.trim().toLowerCase();
  if (setting !== undefined && DISABLED_VALUES.has(setting)) return tryLoadNative();
  defaultLoad ??= tryLoadNative();
  return defaultLoad;
}

/** The addon, or null when it is missing, broken or turned off (nativeLoadResult() says why). */
export function loadNative(): NativeAddon | null {
  return nativeLoadResult().addon;
}

/** native/build/Release/shoal_native.node under the nearest ancestor that has native/binding.gyp. */
function findAddon(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < MAX_ROOT_DEPTH; i++) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return join(dir, ADDON_RELATIVE_PATH);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}
