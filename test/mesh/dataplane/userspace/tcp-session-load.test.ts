/**
 * A backend dies under load, the way a task's process does: one HTTP request
 * per connection (Connection: close) from several clients at once, and not a
 * single request may fail.
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { Backend } from '../../../../src/mesh/table/table';
import { within } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { frontendOf } from '../fixtures/backends';

const ADDR = '127.0.0.1';
/** Clients sending at once, each one request after another. */
const CLIENTS = 4;
/** Requests each client sends. */
const REQUESTS_PER_CLIENT = 60;
/** How long a backend works on a request before answering, so some are always in flight. */
const PROCESSING_MS = 5;
/** The victim dies on receiving this request. */
const FATAL_REQUEST = 20;

/** The answers of a load run: backend names that answered, and the errors of requests that failed. */
interface LoadResult {
  answeredBy: Record<string, number>;
  failures: string[];
}

/** One GET on a new connection; resolves with the body of a complete 200 answer. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // agent: false = a new connection per request, and Connection: close.
    const req = http.get({ host: ADDR, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 && res.complete ? resolve(body) : reject(new Error(`status ${res.statusCode}, complete ${res.complete}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function load(port: number): Promise<LoadResult> {
  const result: LoadResult = { answeredBy: {}, failures: [] };
  const client = async () => {
    for (let i = 0; i < REQUESTS_PER_CLIENT; i++) {
      try {
        const name = await get(port);
        result.answeredBy[name] = (result.answeredBy[name] ?? 0) + 1;
      } catch (err) {
        result.failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return result;
}

/** An HTTP backend in this process answering its name after PROCESSING_MS; `onRequest` sees each request first. */
async function httpBackend(t: tap.Test, name: string, onRequest?: (n: number) => void) {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const server = http.createServer((_req, res) => {
    onRequest?.(++requests);
    setTimeout(() => res.end(name), PROCESSING_MS);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen({ host: ADDR, port: 0 }, resolve));
  /** Die at once: stop listening and cut every connection, answered or not. */
  const kill = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  t.teardown(kill);
  const backend: Backend = { id: name, address: ADDR, port: (server.address() as net.AddressInfo).port, weight: 1 };
  return { backend, kill, requests: () => requests };
}

async function setup(t: tap.Test, backends: Backend[]) {
  const registry = new Registry();
  const dp = new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry });
  t.teardown(() => dp.close());
  const port = await freePort('tcp');
  t.same((await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, backends)] })).failed, []);
  const replays = async () => (await registry.getSingleMetric('shoal_mesh_replays_total')!.get()).values[0]?.value ?? 0;
  return { port, replays };
}

t.test('a backend cut off mid-load (every socket destroyed, listener closed) costs no request', async (t) => {
  // The victim dies inside the handler of its fatal request: that request, at least, is in flight.
  const victim = await httpBackend(t, 'victim', (n) => n === FATAL_REQUEST && victim.kill());
  const survivor = await httpBackend(t, 'survivor');
  const { port, replays } = await setup(t, [victim.backend, survivor.backend]);
  const result = await within(load(port), 'the load run', 20_000);
  t.same(result.failures, [], 'no request failed');
  t.equal((result.answeredBy.victim ?? 0) + (result.answeredBy.survivor ?? 0), CLIENTS * REQUESTS_PER_CLIENT);
  t.equal(victim.requests(), FATAL_REQUEST, 'the victim died mid-run and took nothing after');
  t.ok((await replays()) >= 1, 'the request the victim died on was replayed');
});

t.test('a backend process killed with SIGKILL under load costs no request', async (t) => {
  // The child answers its name after PROCESSING_MS, except the fatal request,
  // which it reports and keeps: it is surely in flight when the kill lands.
  const script = `
    let n = 0;
    const server = require('node:http').createServer((req, res) => {
      if (++n === ${FATAL_REQUEST}) return process.stdout.write('fatal\\n');
      setTimeout(() => res.end('child'), ${PROCESSING_MS});
    });
    server.listen({ host: '${ADDR}', port: 0 }, () => process.stdout.write(server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(() => {
    child.kill('SIGKILL');
    return exited;
  });
  const lines = (async function* () {
    let buffered = '';
    for await (const chunk of child.stdout) {
      buffered += String(chunk);
      let i: number;
      while ((i = buffered.indexOf('\n')) >= 0) {
        yield buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
      }
    }
  })();
  const first = await within(lines.next(), 'the child to listen');
  const childBackend: Backend = { id: 'child', address: ADDR, port: Number(first.value), weight: 1 };
  const survivor = await httpBackend(t, 'survivor');
  const { port, replays } = await setup(t, [childBackend, survivor.backend]);

  const killed = (async () => {
    const line = await lines.next();
    t.equal(line.value, 'fatal', 'the child got its fatal request');
    child.kill('SIGKILL');
    await exited;
  })();
  const result = await within(load(port), 'the load run', 20_000);
  await within(killed, 'the child to be killed');
  t.same(result.failures, [], 'no request failed');
  t.equal((result.answeredBy.child ?? 0) + (result.answeredBy.survivor ?? 0), CLIENTS * REQUESTS_PER_CLIENT);
  t.ok((result.answeredBy.child ?? 0) >= FATAL_REQUEST - 1 - CLIENTS, 'the child served before it died');
  t.ok((await replays()) >= 1, 'the request the child held was replayed');
});
