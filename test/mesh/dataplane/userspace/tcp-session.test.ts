import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { UserspaceDataplaneOptions } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { Backend } from '../../../../src/mesh/table/table';
import { eventually, within } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, blackHoleBackend, frontendOf, scriptedBackend, scripts, tcpBackend } from '../fixtures/backends';
import { askOnce, converse, expectNoService } from '../fixtures/clients';

const ADDR = '127.0.0.1';
const LABELS = { service: 'svc', protocol: 'tcp' };

function setup(t: tap.Test, options: UserspaceDataplaneOptions = {}) {
  const registry = new Registry();
  const dp = new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry }, options);
  t.teardown(() => dp.close());
  const metric = async (name: string): Promise<number> => {
    const m = registry.getSingleMetric(name);
    if (!m) throw new Error(`metric ${name} not registered`);
    const { values } = await m.get();
    return values.find((v) => v.labels.service === LABELS.service && v.labels.protocol === LABELS.protocol)?.value ?? 0;
  };
  /** Serve `backends` on a fresh port; resolves with a function that swaps them in place. */
  const serve = async (backends: Backend[]) => {
    const port = await freePort('tcp');
    const apply = async (next: Backend[]) => t.same((await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, next)] })).failed, []);
    await apply(backends);
    return { port, apply };
  };
  return { dp, metric, serve };
}

/** How a raw client connection ended. */
interface Ending {
  data: string;
  how: 'reset' | 'fin' | 'closed';
}

/** A client that sends `payload` (then half-closes if asked) and reports everything it got and how the connection ended. */
async function rawClient(t: tap.Test, port: number) {
  const socket = net.connect({ host: ADDR, port, allowHalfOpen: true });
  t.teardown(() => {
    socket.destroy();
  });
  let data = '';
  let how: Ending['how'] | undefined;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
  socket.on('error', (err: NodeJS.ErrnoException) => (how ??= err.code === 'ECONNRESET' ? 'reset' : 'closed'));
  socket.on('end', () => (how ??= 'fin'));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await within(new Promise((resolve) => socket.once('connect', resolve)), 'the client connect');
  return {
    socket,
    received: () => data,
    ending: async (): Promise<Ending> => {
      await within(closed, 'the client connection to close');
      return { data, how: how ?? 'closed' };
    },
    /** Resolves once the first FIN or reset arrived (the socket may stay half-open after a FIN). */
    hungUp: async (): Promise<Ending> => {
      await eventually(() => how !== undefined, 'the hang-up');
      return { data, how: how ?? 'closed' };
    },
  };
}

for (const script of ['resetOnAccept', 'destroyAfterRequest', 'finAfterRequest'] as const) {
  t.test(`a backend that dies before answering (${script}): the next backend answers, counted as a replay`, async (t) => {
    const { metric, serve } = setup(t);
    const dying = await scriptedBackend(t, 'dying', scripts[script]);
    const live = await tcpBackend(t, 'live');
    const { port } = await serve([asBackend(dying), asBackend(live)]);
    const c = await converse(t, ADDR, port);
    t.equal(await c.ask(), 'live');
    t.equal(await c.finish(), 'bye 4\n', 'the request reached the live backend once');
    t.equal(dying.accepted, 1);
    const [replays, retries] = [await metric('shoal_mesh_replays_total'), await metric('shoal_mesh_retries_total')];
    if (script === 'resetOnAccept') {
      // The reset can reach our socket before libuv reports the connect done: then it is a failed connect.
      t.equal(replays + retries, 1, 'moved on once');
    } else {
      t.same({ replays, retries }, { replays: 1, retries: 0 }, 'a replay, not a connect retry');
      t.equal(await metric('shoal_mesh_connect_errors_total'), 0);
    }
  });
}

t.test('a half-closed client is replayed with its FIN', async (t) => {
  const { metric, serve } = setup(t);
  const dying = await scriptedBackend(t, 'dying', scripts.resetAfterClientFin);
  const live = await tcpBackend(t, 'live');
  const { port } = await serve([asBackend(dying), asBackend(live)]);
  const client = await rawClient(t, port);
  client.socket.end('ping');
  const ending = await client.ending();
  t.same(ending, { data: 'live\nbye 4\n', how: 'fin' }, 'the live backend saw ping then our FIN, and answered both');
  t.equal(dying.received, 4, 'the dying backend had read the request');
  t.equal(await metric('shoal_mesh_replays_total'), 1);
});

t.test('a backend that answered is committed: its death reaches the client, nothing is replayed', async (t) => {
  for (const how of ['reset', 'fin'] as const) {
    t.test(how, async (t) => {
      const { metric, serve } = setup(t);
      const dying = await scriptedBackend(t, 'dying', scripts.partialReply);
      const live = await tcpBackend(t, 'live');
      const { port } = await serve([asBackend(dying), asBackend(live)]);
      const client = await rawClient(t, port);
      client.socket.write('ping');
      await eventually(() => client.received() === 'part', 'the partial reply');
      dying.cut(how);
      t.same(await client.hungUp(), { data: 'part', how }, `the client sees the ${how}`);
      t.equal(live.accepted, 0, 'no replay');
      t.equal(await metric('shoal_mesh_replays_total'), 0);
    });
  }
});

t.test('the replay buffer limit', async (t) => {
  const limit = 8;
  for (const { sent, replayed } of [
    { sent: 'x'.repeat(limit), replayed: true },
    { sent: 'x'.repeat(limit + 1), replayed: false },
  ]) {
    t.test(`${sent.length} bytes sent with a ${limit}-byte buffer: ${replayed ? 'replayed' : 'committed'}`, async (t) => {
      const { metric, serve } = setup(t, { replayBufferBytes: limit });
      const silent = await scriptedBackend(t, 'silent', scripts.silent);
      const live = await tcpBackend(t, 'live');
      const { port } = await serve([asBackend(silent), asBackend(live)]);
      const client = await rawClient(t, port);
      client.socket.write(sent);
      await eventually(() => silent.received === sent.length, 'the request to reach the first backend');
      silent.cut('reset');
      if (replayed) {
        await eventually(() => client.received() === 'live\n', 'the answer of the next backend');
        t.equal(await metric('shoal_mesh_replays_total'), 1);
      } else {
        t.same(await client.ending(), { data: '', how: 'reset' }, 'the reset reaches the client');
        t.equal(live.accepted, 0, 'no replay');
        t.equal(await metric('shoal_mesh_replays_total'), 0);
      }
    });
  }
});

t.test('when every backend dies before answering, each is tried once and the client is closed', async (t) => {
  for (const [script, how] of [
    ['finAfterRequest', 'fin'],
    ['resetOnAccept', 'reset'],
  ] as const) {
    t.test(script, async (t) => {
      const { metric, serve } = setup(t);
      const a = await scriptedBackend(t, 'a', scripts[script]);
      const b = await scriptedBackend(t, 'b', scripts[script]);
      const { port } = await serve([asBackend(a), asBackend(b)]);
      const client = await rawClient(t, port);
      client.socket.write('ping');
      t.same(await client.hungUp(), { data: '', how }, 'closed the way the last backend closed');
      t.equal(a.accepted, 1);
      t.equal(b.accepted, 1);
      const moves = (await metric('shoal_mesh_replays_total')) + (await metric('shoal_mesh_retries_total'));
      t.equal(moves, 1, 'moved on once: a to b');
    });
  }
});

t.test('a replay goes only to backends live now: drained ones are skipped, new ones used', async (t) => {
  t.test('drained since the accept', async (t) => {
    const { serve } = setup(t);
    const silent = await scriptedBackend(t, 'silent', scripts.silent);
    const [drained, live] = await Promise.all([tcpBackend(t, 'drained'), tcpBackend(t, 'live')]);
    const { port, apply } = await serve([asBackend(silent), asBackend(drained), asBackend(live)]);
    const client = await rawClient(t, port);
    client.socket.write('ping');
    await eventually(() => silent.received === 4, 'the request to reach the first backend');
    await apply([asBackend(silent), asBackend(drained, 0), asBackend(live)]);
    silent.cut('reset');
    await eventually(() => client.received() === 'live\n', 'the answer of the live backend');
    t.equal(drained.accepted, 0, 'the drained backend got nothing');
  });

  t.test('only a drained backend left', async (t) => {
    const { serve } = setup(t);
    const silent = await scriptedBackend(t, 'silent', scripts.silent);
    const drained = await tcpBackend(t, 'drained');
    const { port, apply } = await serve([asBackend(silent), asBackend(drained)]);
    const client = await rawClient(t, port);
    client.socket.write('ping');
    await eventually(() => silent.received === 4, 'the request to reach the first backend');
    await apply([asBackend(silent), asBackend(drained, 0)]);
    silent.cut('reset');
    t.same(await client.ending(), { data: '', how: 'reset' });
    t.equal(drained.accepted, 0, 'the drained backend got nothing');
  });

  t.test('added since the accept', async (t) => {
    const { serve } = setup(t);
    const silent = await scriptedBackend(t, 'silent', scripts.silent);
    const added = await tcpBackend(t, 'added');
    const { port, apply } = await serve([asBackend(silent)]);
    const client = await rawClient(t, port);
    client.socket.write('ping');
    await eventually(() => silent.received === 4, 'the request to reach the first backend');
    await apply([asBackend(silent), asBackend(added)]);
    silent.cut('fin');
    await eventually(() => client.received() === 'added\n', 'the answer of the added backend');
  });
});


t.test('a connect that times out moves on to the next backend', async (t) => {
  const { dp, metric, serve } = setup(t, { connectTimeoutMs: 100 });
  const hole = await blackHoleBackend(t);
  const live = await tcpBackend(t, 'live');
  const { port, apply } = await serve([hole, asBackend(live)]);
  t.equal(await askOnce(t, ADDR, port), 'live');
  t.equal(await metric('shoal_mesh_connect_errors_total'), 1);
  t.equal(await metric('shoal_mesh_retries_total'), 1);
  t.equal(await metric('shoal_mesh_replays_total'), 0);

  await apply([hole]);
  t.equal(await expectNoService(ADDR, port), 'closed', 'with nothing else to try the client is reset after the timeout');
  t.equal(await metric('shoal_mesh_connect_errors_total'), 2);
  await eventually(() => dp.frontends()[0].active === 0, 'no connection left behind');
});

t.test('a client that leaves while its connect is pending leaves nothing behind', async (t) => {
  const { dp, metric, serve } = setup(t, { connectTimeoutMs: 60_000 });
  const hole = await blackHoleBackend(t);
  const { port } = await serve([hole]);
  const client = await rawClient(t, port);
  client.socket.resetAndDestroy();
  await eventually(() => dp.frontends()[0].active === 0, 'the connection to be gone');
  t.equal(await metric('shoal_mesh_connect_errors_total'), 0, 'giving up on a connect is not a backend error');
});

t.test('a client reset while unanswered resets the backend side', async (t) => {
  const { dp, serve } = setup(t);
  const silent = await scriptedBackend(t, 'silent', scripts.silent);
  const { port } = await serve([asBackend(silent)]);
  const client = await rawClient(t, port);
  client.socket.write('ping');
  await eventually(() => silent.received === 4, 'the request to reach the backend');
  client.socket.resetAndDestroy();
  await eventually(() => silent.open === 0, 'the backend connection to close');
  await eventually(() => dp.frontends()[0].active === 0, 'the connection to be gone');
});

t.test('a backend with a port no socket can use is skipped like a refused one', async (t) => {
  const { metric, serve } = setup(t);
  const live = await tcpBackend(t, 'live');
  const { port } = await serve([{ id: 'bad', address: ADDR, port: 70_000, weight: 1 }, asBackend(live)]);
  t.equal(await askOnce(t, ADDR, port), 'live');
  t.equal(await metric('shoal_mesh_connect_errors_total'), 1);
});
