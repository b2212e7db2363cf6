import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import { InvalidArgumentError } from '../../errors';
import { HEADER_BYTES, isResponsePacket, withId } from './wire';

/** A resolver names outside the cluster domain are forwarded to. */
export interface Upstream {
  host: string;
  port: number;
}

/** Port of a nameserver line in resolv.conf, which has no port syntax. */
export const DNS_PORT = 53;
/** Where the host's resolvers are listed. */
export const DEFAULT_RESOLV_CONF_PATH = '/etc/resolv.conf';
/** How long one upstream gets to answer before the next is tried (glibc's own default is 5 s per try). */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;

/** Reads the `nameserver` lines of resolv.conf text, in order (resolv.conf(5)). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (fields[0] !== 'nameserver' || fields.length < 2) continue;
    // Link-local IPv6 servers carry a zone (`fe80::1%eth0`); net.connect understands it as is.
    const host = fields[1];
    if (net.isIP(host.replace(/%.*$/, '')) === 0) continue;
    out.push({ host, port: DNS_PORT });
  }
  return out;
}

/** Loads the upstreams of the host's resolv.conf; a missing file means none (queries then get SERVFAIL). */
export async function loadResolvConf(path: string = DEFAULT_RESOLV_CONF_PATH): Promise<Upstream[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseResolvConf(text);
}

/** Parses an `--dns-upstream` value: `ip`, `ip:port` or `[ipv6]:port`. */
export function parseUpstream(spec: string): Upstream {
  const s = spec.trim();
  let host = s;
  let port = DNS_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed) {
    host = bracketed[1];
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (net.isIP(s) === 0) {
    const colon = s.lastIndexOf(':');
    if (colon > 0) {
      host = s.slice(0, colon);
      port = Number(s.slice(colon + 1));
    }
  }
  if (net.isIP(host) === 0) throw new InvalidArgumentError(`DNS upstream "${spec}": not an IP address`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`DNS upstream "${spec}": port must be 1-65535`);
  }
  return { host, port };
}

/** Options of the forwarder. */
export interface UpstreamForwarderOptions {
  /** Tried in order; the next one only when the previous timed out or failed. */
  upstreams: Upstream[];
  /** Time each upstream gets. */
  timeoutMs: number;
}

/** Transport a query came in on, and so the one it is forwarded over. */
export type DnsTransport = 'udp' | 'tcp';

/**
 * Forwards raw queries to upstream resolvers without decoding them: one fresh
 * socket per query (a random source port, as RFC 5452 asks) and a random ID,
 * restored to the client's ID in the response.
 */
export class UpstreamForwarder {
  private readonly pending = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: UpstreamForwarderOptions) {}

  /** The upstream's raw response with the query's ID, or null when every upstream failed or timed out. */
  async forward(query: Buffer, transport: DnsTransport): Promise<Buffer | null> {
    if (query.length < HEADER_BYTES) return null;
    const clientId = query.readUInt16BE(0);
    for (const upstream of this.options.upstreams) {
      if (this.closed) return null;
      const id = randomInt(0, 0x10000);
      const attempt = transport === 'udp' ? this.viaUdp.bind(this) : this.viaTcp.bind(this);
      const response = await attempt(withId(query, id), id, upstream);
      if (response) {
        response.writeUInt16BE(clientId, 0);
        return response;
      }
    }
    return null;
  }

  /** Abandons forwards in flight (they resolve to null). Safe twice. */
  close(): void {
    this.closed = true;
    for (const cancel of [...this.pending]) cancel();
  }

  private viaUdp(query: Buffer, id: number, upstream: Upstream): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const socket = dgram.createSocket(net.isIPv6(upstream.host.replace(/%.*$/, '')) ? 'udp6' : 'udp4');
      const finish = this.attempt(resolve, () => {
        try {
          socket.close();
        } catch {
          // already closed after an error
        }
      });
      socket.on('error', () => finish(null));
      socket.on('message', (msg) => {
        // The socket is connected, so the kernel already dropped datagrams from
        // other sources; the ID check catches late answers to nothing we sent.
        if (msg.length >= HEADER_BYTES && msg.readUInt16BE(0) === id && isResponsePacket(msg)) finish(msg);
      });
      socket.connect(upstream.port, upstream.host, () => {
        socket.send(query, (err) => {
          if (err) finish(null);
        });
      });
    });
  }

  private viaTcp(query: Buffer, id: number, upstream: Upstream): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: upstream.host, port: upstream.port, noDelay: true });
      const finish = this.attempt(resolve, () => socket.destroy());
      let buffered = Buffer.alloc(0);
      socket.on('error', () => finish(null));
      socket.on('close', () => finish(null));
      socket.on('data', (chunk) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) return;
        const msg = Buffer.from(buffered.subarray(2, 2 + length));
        finish(msg.length >= HEADER_BYTES && msg.readUInt16BE(0) === id ? msg : null);
      });
      const frame = Buffer.allocUnsafe(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      socket.write(frame);
    });
  }

  /** Wires the timeout and cancellation of one attempt; the returned function settles it once. */
  private attempt(resolve: (r: Buffer | null) => void, cleanup: () => void): (r: Buffer | null) => void {
    let settled = false;
    const finish = (result: Buffer | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.pending.delete(cancel);
      cleanup();
      resolve(result);
    };
    const cancel = (): void => finish(null);
    const timer = setTimeout(cancel, this.options.timeoutMs);
    this.pending.add(cancel);
    return finish;
  }
}
