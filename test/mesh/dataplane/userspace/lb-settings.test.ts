import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { UserspaceDataplaneOptions } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { LbSettings } from '../../../../src/model/types';
import type { Backend } from '../../../../src/mesh/table/table';
import { eventually, within } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, blackHoleBackend, frontendOf, tcpBackend, udpBackend } from '../fixtures/backends';
import { askOnce, converse, expectNoService, udpClient } from '../fixtures/clients';

const ADDR = '127.0.0.1';
const MINUTE_MS = 60_000;
/** A sweep period the real timer never reaches during a test: sweeps run when the test calls them. */
const MANUAL_SWEEP_MS = 3_600_000;

function setup(t: tap.Test, options: UserspaceDataplaneOptions = {}) {
  const registry = new Registry();
  let clock = 0;
  const dp = new UserspaceDataplane(
    { logger: pino({ level: 'silent' }), registry, now: () => clock },
    { idleSweepIntervalMs: MANUAL_SWEEP_MS, ...options },
  );
  t.teardown(() => dp.close());
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const m = registry.getSingleMetric(name);
    if (!m) throw new Error(`metric ${name} not registered`);
    const { values } = await m.get();
    const match = values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
    return match.reduce((sum, v) => sum + v.value, 0);
  };
  const serve = async (protocol: 'tcp' | 'udp', backends: Backend[], lb?: LbSettings) => {
    const port = await freePort(protocol);
    const apply = async (next: Backend[], nextLb = lb) =>
      t.same((await dp.apply({ frontends: [{ ...frontendOf(protocol, ADDR, port, next), lb: nextLb }] })).failed, []);
    await apply(backends);
    return { port, apply };
  };
  return { dp, metric, serve, advance: (ms: number) => (clock += ms) };
}

t.test('idle TCP connections', async (t) => {
  t.test('stay open past 16 minutes without an idle timeout', async (t) => {
    const { dp, serve, advance } = setup(t);
    const a = await tcpBackend(t, 'a');
    const { port } = await serve('tcp', [asBackend(a)]);
    const c = await converse(t, ADDR, port);
    t.equal(await c.ask(), 'a');
    advance(16 * MINUTE_MS);
    dp.sweepIdle();
    t.equal(await c.ask(), 'a', 'still spliced to its backend');
    t.equal(a.accepted, 1, 'the same backend connection');
  });

  t.test('are closed after the idle timeout, counted from the last byte', async (t) => {
    const { dp, serve, advance } = setup(t);
    const a = await tcpBackend(t, 'a');
    const { port } = await serve('tcp', [asBackend(a)], { idleTimeoutMs: MINUTE_MS });
    const c = await converse(t, ADDR, port);
    t.equal(await c.ask(), 'a');
    advance(MINUTE_MS - 1);
    dp.sweepIdle();
    t.equal(await c.ask(), 'a', 'not idle long enough yet; this exchange renews it');
    advance(MINUTE_MS - 1);
    dp.sweepIdle();
    t.equal(await c.ask(), 'a', 'renewed by the last exchange');
    advance(16 * MINUTE_MS);
    dp.sweepIdle();
    await c.hungUp();
    await eventually(() => a.open === 0, 'the backend side to close too');
    await eventually(() => dp.frontends()[0].active === 0, 'nothing left open');
  });
});

t.test('draining keeps existing connections and sends new ones elsewhere, for every policy', async (t) => {
  for (const policy of ['round-robin', 'least-connections', 'source-hash'] as const) {
    t.test(policy, async (t) => {
      const { serve } = setup(t);
      const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
      const { port, apply } = await serve('tcp', [asBackend(a)], { policy });
      const c = await converse(t, ADDR, port);
      t.equal(await c.ask(), 'a');
      await apply([asBackend(a, 0), asBackend(b)], { policy });
      t.equal(await c.ask(), 'a', 'the open connection stays on the draining backend');
      for (let i = 0; i < 3; i++) t.equal(await askOnce(t, ADDR, port), 'b', 'new connections go to the live one');
    });
  }
});

t.test('least-connections over real connections', async (t) => {
  const { serve } = setup(t);
  const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
  const { port } = await serve('tcp', [asBackend(a), asBackend(b)], { policy: 'least-connections' });
  const held = await converse(t, ADDR, port);
  const first = await held.ask();
  const other = first === 'a' ? 'b' : 'a';
  for (let i = 0; i < 3; i++) {
    t.equal(await askOnce(t, ADDR, port), other, 'short connections avoid the busy backend');
    await eventually(() => (other === 'a' ? a : b).open === 0, 'the short connection to be gone');
  }
});

t.test('source-hash over real connections: one client address, one backend', async (t) => {
  const { serve } = setup(t);
  const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
  const { port } = await serve('tcp', [asBackend(a), asBackend(b)], { policy: 'source-hash' });
  const names = new Set<string>();
  for (let i = 0; i < 4; i++) names.add(await askOnce(t, ADDR, port));
  t.equal(names.size, 1, 'every connection from 127.0.0.1 lands on the same backend');
});

t.test('udp flows follow the policy and move when their backend drains', async (t) => {
  const { serve } = setup(t);
  const [a, b] = await Promise.all([udpBackend(t, 'a'), udpBackend(t, 'b')]);
  const { port, apply } = await serve('udp', [asBackend(a), asBackend(b)], { policy: 'source-hash' });
  const clients = await Promise.all([udpClient(t, { address: ADDR, port }), udpClient(t, { address: ADDR, port })]);
  const first = await Promise.all(clients.map((c, i) => c.request(`q${i}`)));
  const owners = new Set(first.map((r) => r.split(':')[0]));
  t.equal(owners.size, 1, 'both flows from 127.0.0.1 hash to one backend');
  const owner = [...owners][0];
  await apply(owner === 'a' ? [asBackend(a, 0), asBackend(b)] : [asBackend(a), asBackend(b, 0)], { policy: 'source-hash' });
  const moved = await clients[0].requestUntilAnswered('again');
  t.not(moved.split(':')[0], owner, 'the flow moved off the draining backend');
});

t.test('max connections per frontend', async (t) => {
  const { dp, metric, serve } = setup(t);
  const a = await tcpBackend(t, 'a');
  const { port } = await serve('tcp', [asBackend(a)], { maxConnections: 2 });
  const held = [await converse(t, ADDR, port), await converse(t, ADDR, port)];
  for (const c of held) t.equal(await c.ask(), 'a');
  t.equal(await expectNoService(ADDR, port), 'closed', 'the third is accepted and closed at once');
  t.equal(await metric('shoal_mesh_limit_rejections_total', { service: 'svc', protocol: 'tcp', limit: 'frontend' }), 1);
  t.equal(a.accepted, 2, 'the backend never saw it');
  held[0].socket.destroy();
  await eventually(() => dp.frontends()[0].active === 1, 'a place to free up');
  t.equal(await askOnce(t, ADDR, port), 'a', 'a new client fits again');
});

t.test('max connections per backend', async (t) => {
  const { metric, serve } = setup(t);
  const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
  const { port } = await serve('tcp', [asBackend(a), asBackend(b)], { maxConnectionsPerBackend: 1 });
  const held = [await converse(t, ADDR, port), await converse(t, ADDR, port)];
  t.same((await Promise.all(held.map((c) => c.ask()))).sort(), ['a', 'b'], 'one on each');
  t.equal(await expectNoService(ADDR, port), 'closed', 'every backend full: the client is closed');
  t.equal(await metric('shoal_mesh_limit_rejections_total', { service: 'svc', protocol: 'tcp', limit: 'backend' }), 1);
  t.same([a.accepted, b.accepted], [1, 1]);
});


/** Open a client that sends nothing; destroyed at teardown. */
async function silentClient(t: tap.Test, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: ADDR, port });
  socket.on('error', () => undefined);
  t.teardown(() => {
    socket.destroy();
  });
  await within(new Promise((resolve) => socket.once('connect', resolve)), 'a silent client to connect');
  return socket;
}

t.test('slowloris: pending connects are bounded, and the connect timeout frees them', async (t) => {
  const { dp, metric, serve } = setup(t, { maxPendingConnections: 3, connectTimeoutMs: 300 });
  const hole = await blackHoleBackend(t);
  const live = await tcpBackend(t, 'live');
  const { port, apply } = await serve('tcp', [hole]);
  const silent = await Promise.all([0, 1, 2].map(() => silentClient(t, port)));
  await eventually(() => dp.frontends()[0].active === 3, 'three connects under way');
  t.equal(await expectNoService(ADDR, port), 'closed', 'a fourth is turned away at once');
  t.equal(await metric('shoal_mesh_limit_rejections_total', { service: 'svc', protocol: 'tcp', limit: 'pending' }), 1);
  await Promise.all(
    silent.map((s) => within(new Promise((resolve) => (s.destroyed ? resolve(undefined) : s.once('close', resolve))), 'the connect timeout')),
  );
  await eventually(() => dp.frontends()[0].active === 0, 'the pending connections to be freed');
  await apply([asBackend(live)]);
  t.equal(await askOnce(t, ADDR, port), 'live', 'the proxy serves again');
  t.equal(await metric('shoal_mesh_limit_rejections_total', { limit: 'pending' }), 1, 'no more rejections');
});

t.test('slowloris against a live backend: silent clients hold no pending slot', async (t) => {
  const { metric, serve } = setup(t, { maxPendingConnections: 2 });
  const live = await tcpBackend(t, 'live');
  const { port } = await serve('tcp', [asBackend(live)]);
  await Promise.all(Array.from({ length: 6 }, () => silentClient(t, port)));
  await eventually(() => live.open === 6, 'every silent client spliced to the backend');
  t.equal(await askOnce(t, ADDR, port), 'live', 'a real client still gets through');
  t.equal(await metric('shoal_mesh_limit_rejections_total', {}), 0);
});

t.test('per-backend metrics and connect latency', async (t) => {
  const { metric, serve } = setup(t);
  const a = await tcpBackend(t, 'a');
  const { port, apply } = await serve('tcp', [asBackend(a), { id: 'gone', address: ADDR, port: await freePort('tcp'), weight: 1 }]);
  t.equal(await askOnce(t, ADDR, port), 'a');
  t.equal(await askOnce(t, ADDR, port), 'a', 'the refused backend is skipped');
  t.equal(await metric('shoal_mesh_backend_connections_total', { service: 'svc', backend: 'a' }), 2);
  t.equal(await metric('shoal_mesh_backend_connect_errors_total', { service: 'svc', backend: 'gone' }), 1);
  t.equal(await metric('shoal_mesh_backend_connect_errors_total', { service: 'svc', backend: 'a' }), 0);
  await eventually(async () => (await metric('shoal_mesh_backend_active_connections', { backend: 'a' })) === 0, 'the gauge back to 0');
  t.equal(await metric('shoal_mesh_backend_connect_seconds', { service: 'svc', le: '+Inf' }), 2, 'two connects timed');
  await apply([asBackend(a)]);
  t.equal(await metric('shoal_mesh_backend_connect_errors_total', { backend: 'gone' }), 0, 'a backend out of the table loses its series');
  t.equal(await metric('shoal_mesh_backend_connections_total', { backend: 'a' }), 2, 'one still in it keeps them');
});
