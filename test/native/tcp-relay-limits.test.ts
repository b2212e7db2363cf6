/**
 * The native relay's connection limits hold with several worker threads:
 * many clients connect at once and stay connected, and neither the relay's
 * own count nor the backends' count of accepted connections ever passes the
 * limit, while it does reach it. Each round ends with every admitted
 * connection still open, so an admission beyond the limit stays visible.
 */
import net from 'node:net';
import t from 'tap';
import { eventually } from '../support/eventually';
import { loadNative, type NativeTcpBackend, type NativeTcpRelayHandle, type NativeTcpSettings } from '../../src/native/native';

/** More threads than cores: admissions on different threads overlap. */
const RELAY_THREADS = 4;
/** Clients that connect at once in each round, far more than the limit lets in. */
const CLIENTS_PER_ROUND = 48;
/**
 * Rounds per case: each crosses the limit once more, and a race shows in
 * only some of them (RELAY_LIMIT_ROUNDS=2000 to stress the relay harder).
 */
const ROUNDS = Number(process.env.RELAY_LIMIT_ROUNDS ?? 300);
/** What a backend writes on accept: a client that reads it was admitted. */
const GREETING = 'hi\n';
const FRONTEND_KEY = 1;

const addon = loadNative();

/** A backend that greets and holds every connection, counting the open ones. */
class HoldingBackend {
  readonly sockets = new Set<net.Socket>();
  maxOpen = 0;
  private readonly server = net.createServer((s) => {
    this.sockets.add(s);
    this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
    s.write(GREETING);
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A client's outcome: let in (read the greeting) or turned away (closed without it). */
function connectClient(port: number, sockets: net.Socket[], onEvent: () => void): Promise<'in' | 'away'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    let settled = false;
    const settle = (outcome: 'in' | 'away') => {
      if (settled) return;
      settled = true;
      onEvent();
      resolve(outcome);
    };
    s.on('error', () => settle('away'));
    s.on('close', () => settle('away'));
    s.on('data', () => settle('in'));
  });
}

/** How often the round's end is looked for; the relay threads need the CPU more than the test does. */
const POLL_MS = 2;

interface Case {
  name: string;
  settings: Partial<NativeTcpSettings>;
  backends: number;
  /** Most connections open at once through the relay. */
  limit: number;
  /** Most connections open at once on one backend, when the case limits that. */
  perBackend?: number;
}

const cases: Case[] = [
  { name: 'frontend --max-connections 10, one backend', settings: { maxConnections: 10 }, backends: 1, limit: 10 },
  { name: 'per-backend limit 5, two backends', settings: { maxConnectionsPerBackend: 5 }, backends: 2, limit: 10, perBackend: 5 },
];

if (!addon) {
  t.test('native relay limits under concurrent admissions', { skip: 'native addon not loaded' }, () => undefined);
} else {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const relay: NativeTcpRelayHandle = new addon.TcpRelay({
        threads: RELAY_THREADS,
        connectTimeoutMs: 5_000,
        replayBufferBytes: 64 * 1024,
        maxPendingConnections: 1024,
        idleSweepIntervalMs: 1_000,
      });
      const backends = Array.from({ length: c.backends }, () => new HoldingBackend());
      const clients: net.Socket[] = [];
      t.teardown(async () => {
        for (const s of clients) s.destroy();
        relay.close();
        await Promise.all(backends.map((b) => b.close()));
      });
      const rows: NativeTcpBackend[] = [];
      for (const [i, b] of backends.entries()) rows.push({ key: i + 1, id: `b${i}`, address: '127.0.0.1', port: await b.start(), weight: 1 });
      relay.configure(
        FRONTEND_KEY,
        { policy: 0, affinityTimeoutMs: 0, maxConnections: 0, maxConnectionsPerBackend: 0, idleTimeoutMs: 0, proxyProtocol: 0, ...c.settings },
        rows,
      );
      const port = relay.listen(FRONTEND_KEY, '127.0.0.1', 0);

      // Highest counts seen: the relay's own (sampled at every client event) and the backends' (exact).
      let relayMax = 0;
      let perBackendMax = 0;
      const sample = () => {
        relayMax = Math.max(relayMax, relay.active(FRONTEND_KEY));
        const s = relay.stats().backends;
        for (let i = 0; i < s.length; i += 5) if (s[i] === FRONTEND_KEY) perBackendMax = Math.max(perBackendMax, s[i + 2]);
      };
      const backendOpen = () => backends.reduce((n, b) => n + b.sockets.size, 0);
      let admittedMax = 0;
      let roundsAtLimit = 0;

      for (let round = 0; round < ROUNDS; round++) {
        const outcomes = await Promise.all(Array.from({ length: CLIENTS_PER_ROUND }, () => connectClient(port, clients, sample)));
        sample();
        const admitted = outcomes.filter((o) => o === 'in').length;
        admittedMax = Math.max(admittedMax, admitted, backendOpen());
        if (admitted === c.limit && backendOpen() === c.limit) roundsAtLimit++;
        // Every admitted connection is still open here; let them all go before the next burst.
        for (const s of clients.splice(0)) s.destroy();
        await eventually(() => relay.active(FRONTEND_KEY) === 0 && backendOpen() === 0, 'every connection of the round closed', { pollMs: POLL_MS });
      }

      t.ok(relayMax <= c.limit, `the relay never counted more than ${c.limit} open (saw ${relayMax})`);
      t.ok(admittedMax <= c.limit, `never more than ${c.limit} clients let in, nor backend connections open (saw ${admittedMax})`);
      t.ok(Math.max(...backends.map((b) => b.maxOpen)) <= (c.perBackend ?? c.limit), 'no backend held more than its share');
      if (c.perBackend !== undefined) t.ok(perBackendMax <= c.perBackend, `the relay never counted more than ${c.perBackend} on a backend (saw ${perBackendMax})`);
      t.equal(relayMax, c.limit, 'the relay reached the limit');
      t.equal(roundsAtLimit, ROUNDS, 'every round filled the limit exactly, on the relay and on the backends');
    });
  }
}
