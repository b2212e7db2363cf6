/**
 * Real-socket fixtures for dataplane tests: named TCP and UDP backends on
 * loopback, clients that report which backend answered, and waiting helpers.
 * Everything created here registers its own cleanup on the test passed in.
 */
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
