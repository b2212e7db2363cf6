/**
 * Real-socket fixtures for dataplane tests: named TCP and UDP backends on
 * loopback, clients that report which backend answered, and waiting helpers.
 * Everything created here registers its own cleanup on the test passed in.
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type {} from 'tap';
import type { Backend, Frontend } from '../../../src/mesh/table/table';

/** How long any single wait in these tests may take before it fails the test. */
export const WAIT_MS = 3_000;
/** Pause between two polls of a condition. */
const POLL_MS = 10;

/** Reject if `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Poll `check` until it returns true; reject after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** A port that was free a moment ago on `address` (bind port 0, read it, close). */
export async function freePort(protocol: 'tcp' | 'udp', address = '127.0.0.1'): Promise<number> {
  if (protocol === 'tcp') {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port: 0 }, resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, resolve);
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** A TCP backend: answers every chunk with `<name>\n`, and on the client's FIN with `bye <bytes received>\n` then FIN. */
export interface TcpBackend {
  name: string;
  address: string;
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: number;
  close(): Promise<void>;
}

/** Start a named TCP backend on loopback port 0; closed (with its connections) at teardown. */
export async function tcpBackend(t: tap.Test, name: string, address = '127.0.0.1'): Promise<TcpBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    backend.accepted++;
    backend.open++;
    sockets.add(socket);
    let received = 0;
    socket.on('data', (chunk) => {
      received += chunk.length;
      socket.write(`${name}\n`);
    });
    socket.on('end', () => socket.end(`bye ${received}\n`));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      backend.open--;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, resolve);
  });
  let closing: Promise<void> | undefined;
  const backend: TcpBackend = {
    name,
    address,
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    open: 0,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  };
  t.teardown(() => backend.close());
  return backend;
}

/** What a scripted backend does with each connection it accepts (the test may do more later through the backend). */
export type ConnectionScript = (socket: net.Socket) => void;

/** Scripts for backends that fail in the ways a dying task does. */
export const scripts = {
  /** Reset right after the accept, before reading anything (a process killed with the connection in its backlog). */
  resetOnAccept: ((socket) => socket.resetAndDestroy()) as ConnectionScript,
  /** Read the first chunk, then close without a reply (FIN: nothing is left unread). */
  destroyAfterRequest: ((socket) => socket.once('data', () => socket.destroy())) as ConnectionScript,
  /** Read the first chunk, then half-close without a reply. */
  finAfterRequest: ((socket) => socket.once('data', () => socket.end())) as ConnectionScript,
  /** Wait for the client's FIN, then reset without a reply. */
  resetAfterClientFin: ((socket) => socket.once('end', () => socket.resetAndDestroy())) as ConnectionScript,
  /** Answer the first chunk with `part`, and nothing more. */
  partialReply: ((socket) => socket.once('data', () => socket.write('part'))) as ConnectionScript,
  /** Read and never answer. */
  silent: (() => undefined) as ConnectionScript,
};

/** A TCP backend that runs a script on each connection, and can be killed: every connection cut at once. */
export interface ScriptedBackend {
  name: string;
  address: string;
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Bytes received, over every connection. */
  received: number;
  /** Cut every open connection with a reset or a FIN; the listener keeps accepting. */
  cut(how: 'reset' | 'fin'): void;
  close(): Promise<void>;
}

/**
 * A backend whose connects never complete: a child process listens with a
 * backlog of 1 and blocks its event loop, so it never accepts; two
 * connections fill its accept queue and the kernel drops further SYNs.
 */
export async function blackHoleBackend(t: tap.Test, address = '127.0.0.1'): Promise<Backend> {
  const script = `
    const s = require('node:net').createServer();
    s.listen({ host: '${address}', port: 0, backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`black hole exited with ${code}`)));
    }),
    'the black hole to listen',
  );
  for (let i = 0; i < 2; i++) {
    const filler = net.connect({ host: address, port });
    filler.on('error', () => undefined);
    t.teardown(() => {
      filler.destroy();
    });
    await within(new Promise((resolve) => filler.once('connect', resolve)), 'a filler to connect');
  }
  return { id: 'black-hole', address, port, weight: 1 };
}

/** Start a scripted TCP backend on loopback port 0; closed (with its connections) at teardown. */
export async function scriptedBackend(
  t: tap.Test,
  name: string,
  script: ConnectionScript,
  address = '127.0.0.1',
): Promise<ScriptedBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    backend.accepted++;
    backend.open++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => (backend.received += chunk.length));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      backend.open--;
      sockets.delete(socket);
    });
    script(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, resolve);
  });
  let closing: Promise<void> | undefined;
  const backend: ScriptedBackend = {
    name,
    address,
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    open: 0,
    received: 0,
    cut: (how) => {
      for (const s of sockets) {
        if (s.destroyed) continue;
        if (how === 'reset') s.resetAndDestroy();
        else s.end(() => s.destroy());
      }
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  };
  t.teardown(() => backend.close());
  return backend;
}

/** A UDP backend: answers every datagram with `<name>:<datagram>`. */
export interface UdpBackend {
  name: string;
  address: string;
  port: number;
  /** Source ports (ours) of the datagrams it received, one per flow socket. */
  peers: Set<number>;
  close(): Promise<void>;
}

/** Start a named UDP echo backend on loopback port 0; closed at teardown. */
export async function udpBackend(t: tap.Test, name: string, address = '127.0.0.1'): Promise<UdpBackend> {
  const socket = dgram.createSocket('udp4');
  const peers = new Set<number>();
  socket.on('message', (msg, rinfo) => {
    peers.add(rinfo.port);
    socket.send(`${name}:${msg.toString()}`, rinfo.port, rinfo.address);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, resolve);
  });
  let closing: Promise<void> | undefined;
  const backend: UdpBackend = {
    name,
    address,
    port: socket.address().port,
    peers,
    close: () => (closing ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  };
  t.teardown(() => backend.close());
  return backend;
}

/** The table entry for a backend fixture. */
export function asBackend(b: { name: string; address: string; port: number }, weight = 1): Backend {
  return { id: b.name, address: b.address, port: b.port, weight };
}

/** A frontend of the table on address:port. */
export function frontendOf(
  protocol: 'tcp' | 'udp',
  address: string,
  port: number,
  backends: Backend[],
  service = 'svc',
): Frontend {
  return { id: `ingress/${protocol}/${address}:${port}`, kind: 'ingress', protocol, address, port, service, backends };
}

/** A TCP client connection that can ask several times which backend it is spliced to. */
export interface Conversation {
  /** Send one chunk; resolves with the backend's name. */
  ask(): Promise<string>;
  /** Half-close, then resolve with everything the backend sent until its FIN. */
  finish(): Promise<string>;
  /** Resolves when the other side ends or resets the connection. */
  hungUp(): Promise<void>;
  socket: net.Socket;
}

/** Open a TCP connection to address:port; destroyed at teardown. */
export async function converse(t: tap.Test, address: string, port: number): Promise<Conversation> {
  const socket = net.connect({ host: address, port, allowHalfOpen: true });
  t.teardown(() => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    `connect to ${address}:${port}`,
  );
  let buffer = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  const until = (ready: () => boolean, what: string) =>
    within(
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (ready()) resolve();
          else if (ended) reject(new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(buffer)}`));
          else waiters.push(check);
        };
        check();
      }),
      what,
    );
  return {
    socket,
    ask: async () => {
      socket.write('ping');
      await until(() => buffer.includes('\n'), 'a reply');
      const i = buffer.indexOf('\n');
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      return line;
    },
    hungUp: () =>
      within(
        new Promise<void>((resolve) => {
          const check = () => (ended ? resolve() : waiters.push(check));
          check();
        }),
        'the hang-up',
      ),
    finish: async () => {
      socket.end();
      await within(
        new Promise<void>((resolve) => (ended ? resolve() : socket.once('end', () => resolve()))),
        'the backend FIN',
      );
      return buffer;
    },
  };
}

/** Connect, ask once, close: the name of the backend that answered. */
export async function askOnce(t: tap.Test, address: string, port: number): Promise<string> {
  const c = await converse(t, address, port);
  const name = await c.ask();
  c.socket.destroy();
  return name;
}

/** How a TCP attempt that got no answer ended. */
export type Refusal = 'refused' | 'closed';

/**
 * Connect and send a request expecting no answer: resolves with 'refused' when
 * the connect fails, 'closed' when the connection is closed without a byte.
 * Rejects if a reply arrives or nothing happens within the wait.
 */
export function expectNoService(address: string, port: number): Promise<Refusal> {
  return within(
    new Promise<Refusal>((resolve, reject) => {
      const socket = net.connect({ host: address, port });
      let connected = false;
      socket.once('connect', () => {
        connected = true;
        socket.write('ping');
      });
      socket.on('data', (d: Buffer) => {
        socket.destroy();
        reject(new Error(`unexpected reply ${JSON.stringify(d.toString())}`));
      });
      socket.on('error', () => undefined);
      socket.once('close', () => resolve(connected ? 'closed' : 'refused'));
    }),
    `${address}:${port} to turn the client away`,
  );
}

/** A UDP client socket with a fixed source port, talking to an echo backend through a frontend. */
export interface UdpClient {
  port: number;
  /** Send `payload`, resolve with the first reply that echoes it (`<backend>:<payload>`). */
  request(payload: string): Promise<string>;
  /** Like request, but send again every poll until answered (for when a datagram may be lost). */
  requestUntilAnswered(payload: string): Promise<string>;
  /** Send without waiting for an answer. */
  send(payload: string): void;
  /** Every reply's source, `addr:port`. */
  sources: string[];
}

/** Pause between two sends of the same datagram. */
const RESEND_MS = 50;

/** Open a UDP client on loopback; closed at teardown. */
export async function udpClient(t: tap.Test, target: { address: string; port: number }): Promise<UdpClient> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  socket.on('error', () => undefined);
  const sources: string[] = [];
  const waiters = new Map<string, (reply: string) => void>();
  socket.on('message', (msg, rinfo) => {
    sources.push(`${rinfo.address}:${rinfo.port}`);
    const text = msg.toString();
    const payload = text.slice(text.indexOf(':') + 1);
    const waiter = waiters.get(payload);
    waiters.delete(payload);
    waiter?.(text);
  });
  const send = (payload: string) => socket.send(payload, target.port, target.address);
  const reply = (payload: string) => new Promise<string>((resolve) => waiters.set(payload, resolve));
  return {
    port: socket.address().port,
    sources,
    send,
    request: (payload) => {
      const answered = reply(payload);
      send(payload);
      return within(answered, `a reply to ${payload}`);
    },
    requestUntilAnswered: (payload) => {
      const answered = reply(payload);
      const resend = setInterval(() => send(payload), RESEND_MS);
      send(payload);
      return within(answered, `a reply to ${payload}`).finally(() => clearInterval(resend));
    },
  };
}

/**
 * Send datagrams from a connected socket until the kernel reports the port
 * unreachable (ECONNREFUSED): proof that nothing serves address:port.
 * Rejects if a reply arrives or no refusal comes within the wait.
 */
export async function expectUdpRefused(address: string, port: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  let resend: NodeJS.Timeout | undefined;
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        socket.on('message', (msg) => reject(new Error(`unexpected reply ${JSON.stringify(msg.toString())}`)));
        socket.on('error', (err: NodeJS.ErrnoException) =>
          err.code === 'ECONNREFUSED' ? resolve() : reject(err),
        );
        socket.connect(port, address, () => {
          const send = () => socket.send('anyone?', () => undefined);
          resend = setInterval(send, RESEND_MS);
          send();
        });
      }),
      `${address}:${port}/udp to be refused`,
    );
  } finally {
    clearInterval(resend);
    socket.close();
  }
}

/** How one connection of a bulk backend ended, and what it received. */
export interface BulkEnding {
  /** `reset`: ECONNRESET or EPIPE; `fin`: the client's FIN came; `closed`: neither (we closed it). */
  how: 'reset' | 'fin' | 'closed';
  /** Bytes received after the command line. */
  received: number;
}

/**
 * A TCP backend for streams and half-closes. The first line a client sends is
 * a command:
 * - `download`: stream bytes until the connection goes away;
 * - `upload`: answer `ok\n`, then count what comes;
 * - `stall`: answer `ok\n`, then read nothing more (a backend stuck in its work);
 * - `reset-after <n>`: send `n` pattern bytes, then reset (a backend killed mid-answer);
 * - `ping`: answer `pong\n` to it and to every later chunk;
 * - `after-fin <n>`: answer `ack\n`; on the client's FIN send `n` pattern bytes, then FIN;
 * - `fin-first`: answer `hello\n` with a FIN at once, then count what comes until the client's FIN.
 */
export interface BulkBackend {
  name: string;
  address: string;
  port: number;
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Connections open now, to cut one from the test. */
  sockets: net.Socket[];
  /** One entry per connection closed so far, in closing order. */
  endings: BulkEnding[];
  close(): Promise<void>;
}

/** Byte `i` of the pattern bulk backends and clients send, so corruption or loss shows. */
export function patternBytes(n: number, from = 0): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = ((from + i) * 7 + 3) & 0xff;
  return out;
}

/** Whether a socket error means the peer reset the connection. */
function isReset(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE';
}

/**
 * Tells, on 'end', a FIN from a reset. Linux reports a reset that arrives
 * while bytes wait unread as a plain end of stream once they are read, but a
 * write still fails after it: an empty one asks. When our side already sent
 * its FIN nothing can be asked, and the end is taken as a FIN. A reset also
 * reaches the socket's 'error' handler.
 */
export function endOrReset(socket: net.Socket, then: (reset: boolean) => void): void {
  if (socket.writableEnded || socket.destroyed) return then(false);
  socket.write(Buffer.alloc(0), (err) => then(!!err));
}

/** Chunk size of the streams a bulk backend writes. */
const BULK_CHUNK_BYTES = 16 * 1024;

/** Write `total` pattern bytes to `socket` chunk by chunk, waiting for drain; then `done`. */
export function writePattern(socket: net.Socket, total: number, done: () => void): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < total && !socket.destroyed) {
      const n = Math.min(BULK_CHUNK_BYTES, total - sent);
      const ok = socket.write(patternBytes(n, sent));
      sent += n;
      if (!ok) {
        socket.once('drain', pump);
        return;
      }
    }
    if (!socket.destroyed) done();
  };
  pump();
}

/** Start a bulk backend on loopback port 0; closed (with its connections) at teardown. */
export async function bulkBackend(t: tap.Test, name: string, address = '127.0.0.1'): Promise<BulkBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    backend.accepted++;
    backend.open++;
    sockets.add(socket);
    backend.sockets = [...sockets];
    let how: BulkEnding['how'] = 'closed';
    let received = 0;
    let command: string | undefined;
    let head = '';
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (isReset(err)) how = 'reset';
    });
    socket.on('close', () => {
      backend.open--;
      sockets.delete(socket);
      backend.sockets = [...sockets];
      backend.endings.push({ how, received });
    });
    socket.on('end', () =>
      endOrReset(socket, (reset) => {
        if (reset) return;
        if (how === 'closed') how = 'fin';
        if (command === 'fin-first') socket.destroy();
        else if (command?.startsWith('after-fin ')) writePattern(socket, Number(command.split(' ')[1]), () => socket.end());
        else socket.end();
      }),
    );
    socket.on('data', (chunk: Buffer) => {
      if (command !== undefined) {
        received += chunk.length;
        if (command === 'ping') socket.write('pong\n');
        return;
      }
      head += chunk.toString('latin1');
      const eol = head.indexOf('\n');
      if (eol === -1) return;
      command = head.slice(0, eol);
      received += head.length - eol - 1;
      if (command === 'download') {
        const stream = (): void => writePattern(socket, BULK_CHUNK_BYTES * 64, stream);
        stream();
      } else if (command === 'upload') socket.write('ok\n');
      else if (command.startsWith('reset-after ')) writePattern(socket, Number(command.split(' ')[1]), () => socket.resetAndDestroy());
      else if (command === 'stall') {
        socket.write('ok\n');
        socket.pause();
      }
      else if (command === 'ping') socket.write('pong\n');
      else if (command.startsWith('after-fin ')) socket.write('ack\n');
      else if (command === 'fin-first') socket.end('hello\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, resolve);
  });
  let closing: Promise<void> | undefined;
  const backend: BulkBackend = {
    name,
    address,
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    open: 0,
    sockets: [],
    endings: [],
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  };
  t.teardown(() => backend.close());
  return backend;
}

/** A raw client connection to a bulk backend through a frontend: everything received, and how it ended. */
export interface BulkClient {
  socket: net.Socket;
  /** Bytes received so far. */
  received(): Buffer;
  /** Resolves once at least `n` bytes arrived; rejects if the connection ends first. */
  receivedAtLeast(n: number): Promise<void>;
  /** Resolves with how the peer ended the connection: `reset` (even one Linux shows as an end of stream), `fin` (the socket may stay half-open), or `closed`. */
  ending(): Promise<'reset' | 'fin' | 'closed'>;
  /** Resolves once the peer's FIN (or a reset) came; the socket may stay half-open. */
  peerEnded(): Promise<void>;
  /** Write until the other end stops taking bytes (every buffer on the way is full); resolves with the bytes written. */
  writeUntilStalled(): Promise<number>;
}

/** A write not drained within this long means the receiving end stopped reading. */
const STALL_MS = 300;
/** writeUntilStalled gives up past this many bytes, whatever the buffers hold. */
const MAX_STALL_BYTES = 64 * 1024 * 1024;

/** Connect to address:port (half-open allowed) and send `command` as the first line; destroyed at teardown. */
export async function bulkClient(t: tap.Test, address: string, port: number, command: string): Promise<BulkClient> {
  const socket = net.connect({ host: address, port, allowHalfOpen: true });
  t.teardown(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let length = 0;
  let how: 'reset' | 'fin' | 'closed' | undefined;
  let peerEnded = false;
  let closed = false;
  const wakers: (() => void)[] = [];
  const wake = (): void => {
    for (const w of wakers.splice(0)) w();
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    wake();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    how ??= isReset(err) ? 'reset' : 'closed';
    peerEnded = true;
    wake();
  });
  socket.on('end', () =>
    endOrReset(socket, (reset) => {
      how ??= reset ? 'reset' : 'fin';
      peerEnded = true;
      wake();
    }),
  );
  socket.on('close', () => {
    closed = true;
    peerEnded = true;
    wake();
  });
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    `connect to ${address}:${port}`,
  );
  socket.write(`${command}\n`);
  const until = (ready: () => boolean, failed: () => boolean, what: string): Promise<void> =>
    within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (ready()) resolve();
          else if (failed()) reject(new Error(`connection ended while waiting for ${what}; got ${length} bytes`));
          else wakers.push(check);
        };
        check();
      }),
      what,
    );
  return {
    socket,
    received: () => Buffer.concat(chunks),
    receivedAtLeast: (n) =>
      until(
        () => length >= n,
        () => peerEnded,
        `${n} bytes`,
      ),
    ending: async () => {
      await until(
        () => closed || how === 'fin',
        () => false,
        'the connection to end',
      );
      return how ?? 'closed';
    },
    peerEnded: () =>
      until(
        () => peerEnded,
        () => false,
        "the peer's FIN",
      ),
    writeUntilStalled: async () => {
      const chunk = Buffer.alloc(1024 * 1024, 0x78);
      let written = 0;
      while (written < MAX_STALL_BYTES && !socket.destroyed) {
        written += chunk.length;
        if (socket.write(chunk)) continue;
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            socket.off('drain', onDrain);
            resolve(false);
          }, STALL_MS);
          const onDrain = (): void => {
            clearTimeout(timer);
            resolve(true);
          };
          socket.once('drain', onDrain);
        });
        if (!drained) break;
      }
      return written;
    },
  };
}
