import * as dgram from 'node:dgram';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UdpFrontend } from '../../../../src/mesh/dataplane/userspace/udp-frontend';
import { frontendMetrics, meshMetrics } from '../../../../src/mesh/dataplane/userspace/mesh-metrics';
import { nativeLoadResult, type NativeAddon } from '../../../../src/native/native';
import { eventually } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, frontendOf, udpBackend } from '../fixtures/backends';

/**
 * The UDP frontend built directly, once per socket implementation (the
 * dgram fallback, and the native addon when built), under bursts from many
 * clients at once: the batched paths must keep every datagram with its flow.
 */

const ADDR = '127.0.0.1';
/** Clients sending at once, each from its own port. */
const CLIENTS = 8;
/** Datagrams each client fires without waiting. */
const PER_CLIENT = 25;
/** Never reached during a test: flows do not expire while it runs. */
const IDLE_MS = 3_600_000;

const load = nativeLoadResult();
if (load.status === 'failed') t.fail(`the addon is built but does not load: ${load.reason}`);
const kinds: ['native' | 'dgram', NativeAddon | null][] = [['dgram', null]];
if (load.addon) kinds.push(['native', load.addon]);
else t.comment(`native addon not available (${load.reason}): only the dgram path is checked`);

function frontendFor(t: tap.Test, port: number, backends: Parameters<typeof frontendOf>[3], native: NativeAddon | null) {
  const metrics = meshMetrics(new Registry());
  const fe = new UdpFrontend(
    frontendOf('udp', ADDR, port, backends),
    {
      logger: pino({ level: 'silent' }),
      now: () => 0,
      metricsFor: (service, protocol) => frontendMetrics(metrics, service, protocol),
    },
    { idleTimeoutMs: IDLE_MS, sweepIntervalMs: IDLE_MS, listenerId: 1, native },
  );
  t.teardown(() => fe.close());
  return fe;
}

for (const [kind, native] of kinds) {
  t.test(`${kind}: bursts from many clients keep every datagram with its flow`, async (t) => {
    const [a, b] = await Promise.all([udpBackend(t, 'a'), udpBackend(t, 'b')]);
    const port = await freePort('udp');
    const fe = frontendFor(t, port, [asBackend(a), asBackend(b)], native);
    t.equal(fe.socketKind, kind);
    await fe.listen();

    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const socket = dgram.createSocket('udp4');
        const replies: string[] = [];
        const sources = new Set<string>();
        socket.on('message', (msg, rinfo) => {
          replies.push(msg.toString());
          sources.add(`${rinfo.address}:${rinfo.port}`);
        });
        await new Promise<void>((resolve) => socket.bind(0, ADDR, resolve));
        t.teardown(() => socket.close());
        return { c, socket, replies, sources };
      }),
    );
    for (let i = 0; i < PER_CLIENT; i++) {
      for (const { c, socket } of clients) socket.send(`c${c}-${i}`, port, ADDR);
    }
    await eventually(() => clients.every((x) => x.replies.length >= PER_CLIENT), `${CLIENTS * PER_CLIENT} replies`);
    for (const { c, replies, sources } of clients) {
      const backend = replies[0].split(':')[0];
      t.same(
        replies,
        Array.from({ length: PER_CLIENT }, (_, i) => `${backend}:c${c}-${i}`),
        `client ${c}: its own datagrams, in order, all through backend ${backend}`,
      );
      t.same([...sources], [`${ADDR}:${port}`], `client ${c}: replies come from the frontend`);
    }
    t.equal(fe.activeCount, CLIENTS, 'one flow per client');
    t.equal(a.peers.size + b.peers.size, CLIENTS, 'one backend socket per flow');
  });

  t.test(`${kind}: a refused backend ends the flow; the next datagram goes to a live one`, async (t) => {
    const live = await udpBackend(t, 'live');
    const deadPort = await freePort('udp');
    const port = await freePort('udp');
    const fe = frontendFor(t, port, [{ id: 'dead', address: ADDR, port: deadPort, weight: 1 }, asBackend(live)], native);
    await fe.listen();
    const client = dgram.createSocket('udp4');
    const replies: string[] = [];
    client.on('message', (msg) => replies.push(msg.toString()));
    await new Promise<void>((resolve) => client.bind(0, ADDR, resolve));
    t.teardown(() => client.close());
    // The first flow lands on the dead backend; its refusal ends it, and a resend opens a flow on `live`.
    const resend = setInterval(() => client.send('x', port, ADDR), 20);
    t.teardown(() => clearInterval(resend));
    await eventually(() => replies.length > 0, 'a reply from the live backend');
    t.equal(replies[0], 'live:x');
  });

  t.test(`${kind}: a port in use fails listen with EADDRINUSE`, async (t) => {
    const held = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => held.bind(0, ADDR, resolve));
    t.teardown(() => held.close());
    const fe = frontendFor(t, held.address().port, [], native);
    await t.rejects(fe.listen(), { code: 'EADDRINUSE' });
    fe.close();
  });
}
