/**
 * The contract every Dataplane keeps (userspace, nftables, IPVS), checked
 * with real sockets: one suite, run by each implementation's test file with a
 * factory. Kernel dataplanes pass the addresses they can serve and say which
 * userspace-only behaviours they lack.
 */
import type {} from 'tap';
import type { Dataplane, Frontend, LbTable } from '../../../src/mesh/table/table';
import { eventually } from '../../support/eventually';
import { freePort } from '../../support/free-port';
import { asBackend, frontendOf, scriptedBackend, scripts, tcpBackend, udpBackend } from './fixtures/backends';
import { bulkBackend, bulkClient, patternBytes, writePattern } from './fixtures/bulk';
import { askOnce, converse, expectNoService, expectUdpRefused, udpClient } from './fixtures/clients';

/** Bytes a client reads or writes before it or its backend breaks the stream: well past every socket buffer. */
const MID_STREAM_BYTES = 256 * 1024;
/** Bytes sent one way after the other way was half-closed. */
const AFTER_FIN_BYTES = 1024 * 1024;

/** Where the suite listens and which optional behaviours the dataplane has. */
export interface ComplianceOptions<D extends Dataplane = Dataplane> {
  /** Address frontends are put on; default 127.0.0.1. */
  frontendAddress?: string;
  /** Address the backends listen on; default 127.0.0.1. */
  backendAddress?: string;
  /** Whether a refused backend connect is retried on the next backend (userspace: yes; kernel NAT cannot). */
  retriesRefusedConnect?: boolean;
  /** Whether a UDP flow whose backend left or drains moves to another backend (conntrack keeps it pinned). */
  migratesUdpFlows?: boolean;
  /**
   * Whether a connection whose backend closes or resets before its first byte
   * back is replayed to the next backend (userspace: yes; kernel NAT cannot).
   */
  replaysUnansweredConnections?: boolean;
  /**
   * Connections and flows the dataplane holds now (userspace: its frontends'
   * counts; a kernel dataplane: its conntrack entries); checked to come back
   * to 0 once bad peers are gone. Absent: not checked.
   */
  activeConnections?: (dp: D) => number | Promise<number>;
}

/** Makes a fresh dataplane for one subtest; the suite closes it at teardown. */
export type MakeDataplane<D extends Dataplane = Dataplane> = (t: tap.Test) => D | Promise<D>;

/** Run the dataplane contract against the implementation `makeDataplane` builds. */
export function dataplaneCompliance<D extends Dataplane>(
  t: tap.Test,
  makeDataplane: MakeDataplane<D>,
  options: ComplianceOptions<D> = {},
): void {
  const feAddr = options.frontendAddress ?? '127.0.0.1';
  const beAddr = options.backendAddress ?? '127.0.0.1';

  async function setup(t: tap.Test): Promise<{ dp: D; apply: (frontends: Frontend[]) => Promise<void> }> {
    const dp = await makeDataplane(t);
    t.teardown(() => dp.close());
    const apply = async (frontends: Frontend[]) => {
      const table: LbTable = { frontends };
      const result = await dp.apply(table);
      t.same(result.failed, [], 'every frontend applied');
    };
    return { dp, apply };
  }

  /** Waits until the dataplane holds `expected` connections, when it can tell. */
  async function connectionsHeld(t: tap.Test, dp: D, expected: number): Promise<void> {
    const count = options.activeConnections;
    if (!count) return;
    let now = -1;
    await eventually(async () => (now = await count(dp)) === expected, `the dataplane to hold ${expected} connections`).catch(
      () => undefined,
    );
    t.equal(now, expected, `the dataplane holds ${expected} connections`);
  }

  t.test('tcp: new connections go round-robin over all backends', async (t) => {
    const { apply } = await setup(t);
    const backends = await Promise.all(['a', 'b', 'c'].map((n) => tcpBackend(t, n, beAddr)));
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, backends.map((b) => asBackend(b)))]);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 6; i++) {
      const name = await askOnce(t, feAddr, port);
      seen[name] = (seen[name] ?? 0) + 1;
    }
    t.same(seen, { a: 2, b: 2, c: 2 });
  });

  t.test('tcp: bytes flow both ways and a half-close reaches the backend', async (t) => {
    const { apply } = await setup(t);
    const a = await tcpBackend(t, 'a', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a)])]);
    const c = await converse(t, feAddr, port);
    t.equal(await c.ask(), 'a');
    t.equal(await c.ask(), 'a');
    t.equal(await c.finish(), 'bye 8\n', 'the backend saw our FIN after 8 bytes and answered before its own');
  });

  t.test('tcp: a new backend list re-routes new connections and keeps open ones', async (t) => {
    const { apply } = await setup(t);
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => tcpBackend(t, n, beAddr)));
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a), asBackend(b)])]);
    const open = await converse(t, feAddr, port);
    const first = await open.ask();
    await apply([frontendOf('tcp', feAddr, port, [asBackend(c)])]);
    for (let i = 0; i < 3; i++) t.equal(await askOnce(t, feAddr, port), 'c', 'new connections go to the new backend');
    t.equal(await open.ask(), first, 'the open connection still talks to its backend');
  });

  t.test('tcp: a weight 0 backend gets no new connections, its open ones keep working', async (t) => {
    const { apply } = await setup(t);
    const [a, b] = await Promise.all(['a', 'b'].map((n) => tcpBackend(t, n, beAddr)));
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a), asBackend(b)])]);
    const open = await converse(t, feAddr, port);
    const draining = await open.ask();
    const other = draining === 'a' ? 'b' : 'a';
    await apply([frontendOf('tcp', feAddr, port, [a, b].map((x) => asBackend(x, x.name === draining ? 0 : 1)))]);
    for (let i = 0; i < 4; i++) t.equal(await askOnce(t, feAddr, port), other);
    t.equal(await open.ask(), draining, 'the connection through the draining backend still works');
    t.equal(await open.finish(), 'bye 8\n');
  });

  t.test('tcp: a removed frontend stops accepting, the others keep serving', async (t) => {
    const { apply } = await setup(t);
    const a = await tcpBackend(t, 'a', beAddr);
    const kept = await freePort('tcp', feAddr);
    const removed = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, kept, [asBackend(a)]), frontendOf('tcp', feAddr, removed, [asBackend(a)])]);
    t.equal(await askOnce(t, feAddr, removed), 'a');
    await apply([frontendOf('tcp', feAddr, kept, [asBackend(a)])]);
    t.equal(await expectNoService(feAddr, removed), 'refused');
    t.equal(await askOnce(t, feAddr, kept), 'a');
  });

  t.test('tcp: without a backend taking connections the client is turned away', async (t) => {
    const { apply } = await setup(t);
    const a = await tcpBackend(t, 'a', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [])]);
    t.ok(await expectNoService(feAddr, port), 'no backends');
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a, 0)])]);
    t.ok(await expectNoService(feAddr, port), 'only a draining backend');
    t.equal(a.accepted, 0, 'the draining backend saw nothing');
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a)])]);
    t.equal(await askOnce(t, feAddr, port), 'a', 'serves again once a backend is back');
  });

  t.test('tcp: a client that resets mid-stream gets its backend connection reset, the frontend keeps serving', async (t) => {
    for (const direction of ['download', 'upload', 'stall'] as const) {
      t.test(direction, async (t) => {
        const { dp, apply } = await setup(t);
        const backend = await bulkBackend(t, 'bulk', beAddr);
        const port = await freePort('tcp', feAddr);
        await apply([frontendOf('tcp', feAddr, port, [asBackend(backend)])]);
        const bystander = await bulkClient(t, feAddr, port, 'ping');
        await bystander.receivedAtLeast(5);
        const client = await bulkClient(t, feAddr, port, direction);
        if (direction === 'download') {
          await client.receivedAtLeast(MID_STREAM_BYTES);
        } else if (direction === 'upload') {
          await client.receivedAtLeast(3);
          client.socket.write(patternBytes(MID_STREAM_BYTES));
        } else {
          // The backend reads nothing more: every buffer fills, so the client is not read either when it resets.
          await client.receivedAtLeast(3);
          await client.writeUntilStalled();
        }
        client.socket.resetAndDestroy();
        await connectionsHeld(t, dp, 1);
        // A backend that reads nothing cannot notice a reset; once it reads again it must get one, not the rest of a stream.
        if (direction === 'stall') backend.sockets[1].resume();
        await eventually(() => backend.endings.length === 1, 'the backend connection to close');
        t.equal(backend.endings[0].how, 'reset', 'the backend saw a reset, not a FIN that would pass for a complete stream');
        bystander.socket.write('again');
        await bystander.receivedAtLeast(10);
        t.equal(bystander.received().toString(), 'pong\npong\n', 'the other connection goes on');
        bystander.socket.destroy();
        const next = await bulkClient(t, feAddr, port, 'ping');
        await next.receivedAtLeast(5);
        t.equal(next.received().toString(), 'pong\n', 'a new connection is served');
        next.socket.destroy();
        await eventually(() => backend.open === 0, 'every backend connection to close');
        await connectionsHeld(t, dp, 0);
      });
    }
  });

  t.test('tcp: a backend that resets mid-stream resets its client, the frontend keeps serving', async (t) => {
    for (const client of ['reading', 'not reading'] as const) {
      t.test(`client ${client}`, async (t) => {
        const { dp, apply } = await setup(t);
        const backend = await bulkBackend(t, 'bulk', beAddr);
        const port = await freePort('tcp', feAddr);
        await apply([frontendOf('tcp', feAddr, port, [asBackend(backend)])]);
        const bystander = await bulkClient(t, feAddr, port, 'ping');
        await bystander.receivedAtLeast(5);
        const downloader = await bulkClient(t, feAddr, port, 'download');
        await downloader.receivedAtLeast(MID_STREAM_BYTES);
        await eventually(() => backend.sockets.length === 2, 'both connections at the backend');
        const victim = backend.sockets[1];
        if (client === 'not reading') {
          // Every buffer between the backend and the client fills up: whoever reads next finds bytes before the reset.
          downloader.socket.pause();
          await eventually(() => victim.writableNeedDrain, 'the backend to be blocked on the stalled client');
        }
        victim.resetAndDestroy();
        downloader.socket.resume();
        t.equal(await downloader.ending(), 'reset', 'the client sees the stream break, not a clean end');
        bystander.socket.write('again');
        await bystander.receivedAtLeast(10);
        t.equal(bystander.received().toString(), 'pong\npong\n', 'the other connection goes on');
        bystander.socket.destroy();
        const next = await bulkClient(t, feAddr, port, 'ping');
        await next.receivedAtLeast(5);
        t.equal(next.received().toString(), 'pong\n', 'a new connection is served');
        next.socket.destroy();
        await eventually(() => backend.open === 0, 'every backend connection to close');
        await connectionsHeld(t, dp, 0);
      });
    }
  });

  t.test('tcp: after the client half-closes, the backend may keep sending and the client gets every byte', async (t) => {
    const { dp, apply } = await setup(t);
    const backend = await bulkBackend(t, 'bulk', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(backend)])]);
    const client = await bulkClient(t, feAddr, port, `after-fin ${AFTER_FIN_BYTES}`);
    await client.receivedAtLeast(4);
    client.socket.end();
    t.equal(await client.ending(), 'fin', 'the backend ended with a FIN after its data');
    const got = client.received();
    t.equal(got.subarray(0, 4).toString(), 'ack\n');
    t.equal(got.length - 4, AFTER_FIN_BYTES, 'every byte sent after our FIN arrived');
    t.ok(got.subarray(4).equals(patternBytes(AFTER_FIN_BYTES)), 'in order and intact');
    await eventually(() => backend.endings.length === 1, 'the backend connection to close');
    t.same(backend.endings[0], { how: 'fin', received: 0 }, 'the backend saw our FIN');
    await connectionsHeld(t, dp, 0);
  });

  t.test('tcp: after the backend half-closes, the client may keep sending and the backend gets every byte', async (t) => {
    const { dp, apply } = await setup(t);
    const backend = await bulkBackend(t, 'bulk', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(backend)])]);
    const client = await bulkClient(t, feAddr, port, 'fin-first');
    await client.peerEnded();
    t.equal(client.received().toString(), 'hello\n', "the backend's answer, then its FIN");
    t.notOk(client.socket.destroyed, 'our side stays open for writing');
    await new Promise<void>((resolve) => writePattern(client.socket, AFTER_FIN_BYTES, () => client.socket.end(resolve)));
    await eventually(() => backend.endings.length === 1, 'the backend connection to close');
    t.same(backend.endings[0], { how: 'fin', received: AFTER_FIN_BYTES }, 'the backend got every byte, then our FIN');
    t.equal(await client.ending(), 'fin', 'the connection closed cleanly');
    await connectionsHeld(t, dp, 0);
  });

  if (options.retriesRefusedConnect ?? true) {
    t.test('tcp: a refused connect is retried on the next backend', async (t) => {
      const { apply } = await setup(t);
      const live = await tcpBackend(t, 'live', beAddr);
      const deadPort = await freePort('tcp', beAddr);
      const port = await freePort('tcp', feAddr);
      const dead = { id: 'dead', address: beAddr, port: deadPort, weight: 1 };
      await apply([frontendOf('tcp', feAddr, port, [dead, asBackend(live)])]);
      for (let i = 0; i < 4; i++) t.equal(await askOnce(t, feAddr, port), 'live');
    });
  }

  if (options.replaysUnansweredConnections ?? true) {
    const dyingScripts = ['resetOnAccept', 'destroyAfterRequest', 'finAfterRequest'] as const;
    for (const script of dyingScripts) {
      t.test(`tcp: a backend that dies before answering (${script}) costs the client nothing`, async (t) => {
        const { apply } = await setup(t);
        const dying = await scriptedBackend(t, 'dying', scripts[script], beAddr);
        const live = await tcpBackend(t, 'live', beAddr);
        const port = await freePort('tcp', feAddr);
        await apply([frontendOf('tcp', feAddr, port, [asBackend(dying), asBackend(live)])]);
        const c = await converse(t, feAddr, port);
        t.equal(await c.ask(), 'live');
        t.equal(await c.finish(), 'bye 4\n', 'the next backend got the request exactly once');
        t.equal(dying.accepted, 1, 'the first pick was the dying backend');
      });
    }

    // Many at once, so that a client's bytes and its first backend's reset
    // land in one event batch of the relay: the replay must not take the
    // dead socket's late events for its own.
    t.test('tcp: clients at once, half first sent to a backend that resets on accept, all answered', async (t) => {
      const { apply } = await setup(t);
      const dying = await scriptedBackend(t, 'dying', scripts.resetOnAccept, beAddr);
      const live = await tcpBackend(t, 'live', beAddr);
      const port = await freePort('tcp', feAddr);
      await apply([frontendOf('tcp', feAddr, port, [asBackend(dying), asBackend(live)])]);
      const clients = 200;
      const answers = await Promise.all(
        Array.from({ length: clients }, async () => {
          const c = await converse(t, feAddr, port);
          return c.ask().catch((e: Error) => e.message);
        }),
      );
      t.same(answers.filter((a) => a !== 'live'), [], 'every client was answered by the live backend');
      t.ok(dying.accepted > 0, 'some connections went to the dying backend first');
    });
  }

  t.test('udp: replies reach the client that asked, from the frontend address', async (t) => {
    const { apply } = await setup(t);
    const [a, b] = await Promise.all(['a', 'b'].map((n) => udpBackend(t, n, beAddr)));
    const port = await freePort('udp', feAddr);
    await apply([frontendOf('udp', feAddr, port, [asBackend(a), asBackend(b)])]);
    const clients = await Promise.all([0, 1, 2].map(() => udpClient(t, { address: feAddr, port })));
    const replies = await Promise.all(clients.map((c, i) => c.request(`hello-${i}`)));
    replies.forEach((r, i) => t.match(r, new RegExp(`^[ab]:hello-${i}$`), `client ${i} got its own reply`));
    for (const c of clients) t.same(c.sources, [`${feAddr}:${port}`], 'reply comes from the frontend');
  });

  t.test('udp: flows go round-robin over backends and stick to theirs', async (t) => {
    const { apply } = await setup(t);
    const [a, b] = await Promise.all(['a', 'b'].map((n) => udpBackend(t, n, beAddr)));
    const port = await freePort('udp', feAddr);
    await apply([frontendOf('udp', feAddr, port, [asBackend(a), asBackend(b)])]);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 4; i++) {
      const client = await udpClient(t, { address: feAddr, port });
      const name = (await client.request(`first-${i}`)).split(':')[0];
      seen[name] = (seen[name] ?? 0) + 1;
      for (let j = 0; j < 3; j++) {
        t.equal((await client.request(`again-${i}-${j}`)).split(':')[0], name, 'the flow sticks to its backend');
      }
    }
    t.same(seen, { a: 2, b: 2 });
  });

  t.test('udp: tcp and udp frontends on one port number are independent', async (t) => {
    const { apply } = await setup(t);
    const tcpA = await tcpBackend(t, 'tcp-a', beAddr);
    const udpA = await udpBackend(t, 'udp-a', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(tcpA)]), frontendOf('udp', feAddr, port, [asBackend(udpA)])]);
    t.equal(await askOnce(t, feAddr, port), 'tcp-a');
    const client = await udpClient(t, { address: feAddr, port });
    t.equal(await client.request('x'), 'udp-a:x');
  });

  if (options.migratesUdpFlows ?? true) {
    for (const how of ['removed', 'drained'] as const) {
      t.test(`udp: a flow whose backend is ${how} moves to a live backend`, async (t) => {
        const { apply } = await setup(t);
        const [a, b] = await Promise.all(['a', 'b'].map((n) => udpBackend(t, n, beAddr)));
        const port = await freePort('udp', feAddr);
        await apply([frontendOf('udp', feAddr, port, [asBackend(a), asBackend(b)])]);
        const client = await udpClient(t, { address: feAddr, port });
        const before = (await client.request('one')).split(':')[0];
        const [gone, stays] = before === 'a' ? [a, b] : [b, a];
        const next = how === 'removed' ? [asBackend(stays)] : [asBackend(gone, 0), asBackend(stays)];
        await apply([frontendOf('udp', feAddr, port, next)]);
        t.equal(await client.request('two'), `${stays.name}:two`);
        t.equal(await client.request('three'), `${stays.name}:three`);
      });
    }
  }

  t.test('udp: a removed frontend stops answering', async (t) => {
    const { apply } = await setup(t);
    const a = await udpBackend(t, 'a', beAddr);
    const port = await freePort('udp', feAddr);
    await apply([frontendOf('udp', feAddr, port, [asBackend(a)])]);
    const client = await udpClient(t, { address: feAddr, port });
    t.equal(await client.request('one'), 'a:one');
    await apply([]);
    await t.resolves(expectUdpRefused(feAddr, port), 'the port is unreachable');
  });

  t.test('close stops every frontend and is safe twice', async (t) => {
    const { dp, apply } = await setup(t);
    const a = await tcpBackend(t, 'a', beAddr);
    const port = await freePort('tcp', feAddr);
    await apply([frontendOf('tcp', feAddr, port, [asBackend(a)])]);
    t.equal(await askOnce(t, feAddr, port), 'a');
    await dp.close();
    await dp.close();
    t.equal(await expectNoService(feAddr, port), 'refused');
  });
}
