/**
 * Real-socket fixtures for DNS server tests: the real `dig` client, a DNS
 * server on loopback port 0, raw UDP and TCP exchanges. Everything created
 * here registers its own cleanup on the test passed in.
 */
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { Registry } from 'prom-client';
import type {} from 'tap';
import { DnsServer, type DnsServerOptions } from '../../../src/mesh/dns/server';
import type { DnsView } from '../../../src/mesh/dns/view';
import { within } from '../../support/eventually';
import { connected } from '../../support/tcp';

/** How long dig may take before the test fails instead of hanging. */
const DIG_TIMEOUT_MS = 5000;

/** What dig printed, parsed. */
export interface DigResult {
  status: string;
  flags: string[];
  answers: string[];
}

/** Runs the real dig client; +tries=1 so a lost answer fails the test instead of being retried. */
export function dig(port: number, args: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'dig',
      ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', '+noall', '+comments', '+answer', ...args],
      { timeout: DIG_TIMEOUT_MS },
      (err, stdout) => {
        if (err) return reject(new Error(`dig ${args.join(' ')}: ${err.message}\n${stdout}`));
        const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'none';
        const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
        const answers = stdout
          .split('\n')
          .filter((l) => l && !l.startsWith(';'))
          .map((l) => l.split(/\s+/))
          .filter((f) => f[3] === 'A')
          .map((f) => f[4]);
        resolve({ status, flags, answers });
      },
    );
  });
}

/** A view with one VIP-mode service `web`. */
export const web = (vip: string, tasks: string[]): DnsView['services'] =>
  new Map([['web', { vip, mode: 'vip' as const, taskAddresses: tasks }]]);

/** Starts a DNS server on 127.0.0.1 port 0 with no upstream unless given; closed at teardown. */
export async function startServer(
  t: tap.Test,
  getView: () => DnsView,
  options: Partial<DnsServerOptions> = {},
): Promise<{ server: DnsServer; port: number; registry: Registry }> {
  const registry = new Registry();
  const server = new DnsServer(
    { logger: pino({ level: 'silent' }), registry, getView },
    { address: '127.0.0.1', port: 0, upstreams: [], ...options },
  );
  t.teardown(() => server.close());
  const { port } = await server.listen();
  return { server, port, registry };
}

/** An A query for `name` with ID `id` and RD set. */
export function query(id: number, name: string): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
}

/** `msg` with its two-byte TCP length prefix (RFC 1035 §4.2.2). */
export function tcpFrame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** Sends raw bytes over UDP and resolves with the first datagram back, or null if none comes within `ms`. */
export async function udpExchange(port: number, payload: Buffer, ms: number): Promise<Buffer | null> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(payload, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/**
 * Sends `payloads` in order from one UDP socket, then the `marker` query,
 * and resolves with every datagram back up to and including the marker's
 * answer. The server reads one socket in order and answers local names at
 * once, so a datagram it would answer before the marker's is in the list:
 * "no answer to X" without waiting to see.
 */
export async function udpRepliesUntilMarker(port: number, payloads: Buffer[], marker: Buffer): Promise<Buffer[]> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const markerId = marker.readUInt16BE(0);
    const replies: Buffer[] = [];
    const done = new Promise<Buffer[]>((resolve) => {
      socket.on('message', (msg) => {
        replies.push(msg);
        if (msg.length >= 2 && msg.readUInt16BE(0) === markerId) resolve(replies);
      });
    });
    for (const p of [...payloads, marker]) socket.send(p, port, '127.0.0.1');
    return await within(done, `the answer to marker query ${markerId}`);
  } finally {
    socket.close();
  }
}

/** A raw TCP connection to a DNS server: write any bytes, read the framed messages back, see how it ended. */
export interface DnsTcpClient {
  socket: net.Socket;
  /** Messages received so far, length prefixes removed. */
  messages: Buffer[];
  /** Resolves once `n` messages arrived; rejects if the connection closes first or after the wait. */
  waitForMessages(n: number): Promise<Buffer[]>;
  /** Resolves once the connection is fully closed (by the server, unless the test closed it). */
  closed(): Promise<void>;
}

/** Connects to 127.0.0.1:port; destroyed at teardown. */
export async function dnsTcpClient(t: tap.Test, port: number, options: { allowHalfOpen?: boolean } = {}): Promise<DnsTcpClient> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: options.allowHalfOpen ?? false });
  t.teardown(() => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  await connected(socket, 'the TCP connect');
  const messages: Buffer[] = [];
  let buf = Buffer.alloc(0);
  let isClosed = false;
  const wakers: (() => void)[] = [];
  const wake = (): void => {
    for (const w of wakers.splice(0)) w();
  };
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const length = buf.readUInt16BE(0);
      messages.push(Buffer.from(buf.subarray(2, 2 + length)));
      buf = buf.subarray(2 + length);
    }
    wake();
  });
  socket.on('close', () => {
    isClosed = true;
    wake();
  });
  const until = (ready: () => boolean, failed: () => boolean, what: string): Promise<void> =>
    within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (ready()) resolve();
          else if (failed()) reject(new Error(`connection closed while waiting for ${what}; got ${messages.length} messages`));
          else wakers.push(check);
        };
        check();
      }),
      what,
    );
  return {
    socket,
    messages,
    waitForMessages: async (n) => {
      await until(
        () => messages.length >= n,
        () => isClosed,
        `${n} messages`,
      );
      return messages;
    },
    closed: () =>
      until(
        () => isClosed,
        () => false,
        'the connection to close',
      ),
  };
}

/** A tiny upstream resolver on UDP and TCP of one loopback port: example.test A 192.0.2.1, NXDOMAIN otherwise. */
export async function fakeUpstream(t: tap.Test): Promise<{ host: string; port: number; queries: number }> {
  const state = { host: '127.0.0.1', port: 0, queries: 0 };
  const respond = (msg: Buffer): Buffer => {
    state.queries++;
    const q = dnsPacket.decode(msg);
    const known = q.questions?.[0]?.name.toLowerCase() === 'example.test';
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: q.questions,
      answers: known ? [{ type: 'A', name: 'example.test', ttl: 60, data: '192.0.2.1' }] : [],
    });
  };
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const port = udp.address().port;
    const sockets = new Set<net.Socket>();
    const tcp = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          socket.write(tcpFrame(respond(msg)));
        }
      });
      socket.on('error', () => undefined);
    });
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) {
      udp.close();
      continue;
    }
    udp.on('message', (msg, rinfo) => udp.send(respond(msg), rinfo.port, rinfo.address));
    t.teardown(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          udp.close();
          tcp.close(() => resolve());
        }),
    );
    state.port = port;
    return state;
  }
}
