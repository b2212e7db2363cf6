import * as dgram from 'node:dgram';
import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { UserspaceDataplaneOptions } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import { eventually } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, frontendOf, tcpBackend, udpBackend } from '../fixtures/backends';
import { askOnce, converse, expectNoService, udpClient } from '../fixtures/clients';

const ADDR = '127.0.0.1';
/** A sweep period the real timer never reaches during a test: sweeps run when the test calls them. */
const MANUAL_SWEEP_MS = 3_600_000;

function setup(t: tap.Test, options: UserspaceDataplaneOptions = {}, now?: () => number) {
  const registry = new Registry();
  const dp = new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry, now }, options);
  t.teardown(() => dp.close());
  /** Current value of a metric for the labels given (0 when never touched). */
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const m = registry.getSingleMetric(name);
    if (!m) throw new Error(`metric ${name} not registered`);
    const { values } = await m.get();
    const hit = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
    return hit?.value ?? 0;
  };
  return { dp, registry, metric };
}

/** Hold address:port with a socket of our own; released at teardown. */
async function holdPort(t: tap.Test, protocol: 'tcp' | 'udp', port: number): Promise<() => Promise<void>> {
  if (protocol === 'tcp') {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: ADDR, port }, resolve));
    const release = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    t.teardown(release);
    return release;
  }
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: ADDR, port }, resolve));
  let closed = false;
  const release = () =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      closed = true;
      socket.close(() => resolve());
    });
  t.teardown(release);
  return release;
}

t.test('a backend change keeps the listener; a re-added frontend gets a new one', async (t) => {
  const { dp } = setup(t);
  const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
  const port = await freePort('tcp');
  await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(a)])] });
  const [before] = dp.frontends();
  await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(b)])] });
  const [after] = dp.frontends();
  t.equal(after.listenerId, before.listenerId, 'not re-bound');
  t.same(after.backends, ['b']);
  t.equal(await askOnce(t, ADDR, port), 'b');
  await dp.apply({ frontends: [] });
  t.same(dp.frontends(), []);
  await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(b)])] });
  t.not(dp.frontends()[0].listenerId, before.listenerId, 'bound again after removal');
});

t.test('a port held by another socket is reported, the other frontends serve, the next apply retries', async (t) => {
  const { dp } = setup(t);
  const tcpA = await tcpBackend(t, 'a');
  const udpA = await udpBackend(t, 'ua');
  const [heldTcp, heldUdp, free] = await Promise.all([freePort('tcp'), freePort('udp'), freePort('tcp')]);
  const releaseTcp = await holdPort(t, 'tcp', heldTcp);
  const releaseUdp = await holdPort(t, 'udp', heldUdp);
  const table = {
    frontends: [
      frontendOf('tcp', ADDR, heldTcp, [asBackend(tcpA)]),
      frontendOf('udp', ADDR, heldUdp, [asBackend(udpA)]),
      frontendOf('tcp', ADDR, free, [asBackend(tcpA)]),
    ],
  };
  const first = await dp.apply(table);
  t.same(
    first.failed.map((f) => f.frontendId).sort(),
    [`ingress/tcp/${ADDR}:${heldTcp}`, `ingress/udp/${ADDR}:${heldUdp}`].sort(),
  );
  for (const f of first.failed) t.match(f.error, /^cannot listen on (tcp|udp) 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)$/);
  t.equal(await askOnce(t, ADDR, free), 'a', 'the free frontend serves');
  t.same(dp.frontends().map((f) => f.id), [`ingress/tcp/${ADDR}:${free}`]);

  await releaseTcp();
  await releaseUdp();
  const second = await dp.apply(table);
  t.same(second.failed, [], 'bound on retry');
  t.equal(await askOnce(t, ADDR, heldTcp), 'a');
  const client = await udpClient(t, { address: ADDR, port: heldUdp });
  t.equal(await client.request('hi'), 'ua:hi');
});

t.test('bad frontends are reported without touching the good ones', async (t) => {
  const { dp } = setup(t);
  const a = await tcpBackend(t, 'a');
  const port = await freePort('tcp');
  const good = frontendOf('tcp', ADDR, port, [asBackend(a)]);
  const result = await dp.apply({ frontends: [good, { ...good }, frontendOf('tcp', ADDR, 0, [])] });
  t.same(result.failed, [
    { frontendId: good.id, error: 'duplicate frontend id in table' },
    { frontendId: `ingress/tcp/${ADDR}:0`, error: 'invalid port 0' },
  ]);
  t.equal(await askOnce(t, ADDR, port), 'a');
});

t.test('applies run one after another', async (t) => {
  const { dp } = setup(t);
  const [a, b] = await Promise.all([tcpBackend(t, 'a'), tcpBackend(t, 'b')]);
  const port = await freePort('tcp');
  // Unserialized, the second apply would not see the first's listener and would bind the port twice.
  const results = await Promise.all([
    dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(a)])] }),
    dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(b)])] }),
  ]);
  t.same(results, [{ failed: [] }, { failed: [] }]);
  t.equal(dp.frontends().length, 1);
  t.equal(await askOnce(t, ADDR, port), 'b', 'the later table wins');
});

t.test('connections through a removed frontend may finish', async (t) => {
  const { dp } = setup(t);
  const a = await tcpBackend(t, 'a');
  const port = await freePort('tcp');
  await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(a)])] });
  const open = await converse(t, ADDR, port);
  t.equal(await open.ask(), 'a');
  await dp.apply({ frontends: [] });
  t.equal(await expectNoService(ADDR, port), 'refused');
  t.equal(await open.ask(), 'a', 'the open connection still works');
  t.equal(await open.finish(), 'bye 8\n');
});

t.test('close ends open connections and UDP flows', async (t) => {
  const { dp, metric } = setup(t);
  const a = await tcpBackend(t, 'a');
  const ua = await udpBackend(t, 'ua');
  const [tcpPort, udpPort] = await Promise.all([freePort('tcp'), freePort('udp')]);
  await dp.apply({
    frontends: [frontendOf('tcp', ADDR, tcpPort, [asBackend(a)]), frontendOf('udp', ADDR, udpPort, [asBackend(ua)])],
  });
  const open = await converse(t, ADDR, tcpPort);
  t.equal(await open.ask(), 'a');
  const client = await udpClient(t, { address: ADDR, port: udpPort });
  t.equal(await client.request('x'), 'ua:x');
  await dp.close();
  await open.hungUp();
  await eventually(() => a.open === 0, 'the backend connection to close');
  await eventually(async () => (await metric('shoal_mesh_active_connections', { protocol: 'tcp' })) === 0, 'tcp gauge back to 0');
  t.equal(await metric('shoal_mesh_active_connections', { protocol: 'udp' }), 0, 'udp flows gone');
  t.same(await dp.apply({ frontends: [frontendOf('tcp', ADDR, tcpPort, [])] }), {
    failed: [{ frontendId: `ingress/tcp/${ADDR}:${tcpPort}`, error: 'dataplane is closed' }],
  });
});

t.test('tcp metrics: connections, active, bytes, connect errors and retries', async (t) => {
  const { dp, metric } = setup(t);
  const live = await tcpBackend(t, 'live');
  const deadPort = await freePort('tcp');
  const port = await freePort('tcp');
  const labels = { service: 'web', protocol: 'tcp' };
  await dp.apply({
    frontends: [frontendOf('tcp', ADDR, port, [{ id: 'dead', address: ADDR, port: deadPort, weight: 1 }, asBackend(live)], 'web')],
  });
  // First connection: 'dead' is picked, refused, retried on 'live'. Second: 'live' directly.
  const c1 = await converse(t, ADDR, port);
  t.equal(await c1.ask(), 'live');
  const c2 = await converse(t, ADDR, port);
  t.equal(await c2.ask(), 'live');
  t.equal(await metric('shoal_mesh_connections_total', labels), 2);
  t.equal(await metric('shoal_mesh_active_connections', labels), 2);
  t.equal(await metric('shoal_mesh_connect_errors_total', labels), 1);
  t.equal(await metric('shoal_mesh_retries_total', labels), 1);
  t.equal(await c1.finish(), 'bye 4\n');
  await eventually(async () => (await metric('shoal_mesh_active_connections', labels)) === 1, 'active back to 1');
  t.equal(await metric('shoal_mesh_bytes_total', { ...labels, direction: 'in' }), 8, 'ping + ping');
  await eventually(
    async () => (await metric('shoal_mesh_bytes_total', { ...labels, direction: 'out' })) === 'live\n'.length * 2 + 'bye 4\n'.length,
    'bytes out to count both replies and the goodbye',
  );
});

t.test('no backend: the client is accepted and reset at once', async (t) => {
  const { dp, metric } = setup(t);
  const port = await freePort('tcp');
  await dp.apply({ frontends: [frontendOf('tcp', ADDR, port, [])] });
  // The reset can beat the client's own connect completion, so 'refused' is as good as 'closed'.
  t.ok(await expectNoService(ADDR, port));
  t.equal(await metric('shoal_mesh_connections_total', { protocol: 'tcp' }), 1, 'it was accepted');
  await eventually(async () => (await metric('shoal_mesh_active_connections', { protocol: 'tcp' })) === 0, 'active back to 0');
});

t.test('udp metrics and idle expiry on the injected clock', async (t) => {
  let clock = 1_000_000;
  // Sweeps run when the test calls dp.sweepIdle(), as the timer would: its period is never reached.
  const { dp, metric } = setup(t, { udpIdleTimeoutMs: 30_000, udpSweepIntervalMs: MANUAL_SWEEP_MS }, () => clock);
  const [a, b] = await Promise.all([udpBackend(t, 'a'), udpBackend(t, 'b')]);
  const port = await freePort('udp');
  const labels = { service: 'dns', protocol: 'udp' };
  await dp.apply({ frontends: [frontendOf('udp', ADDR, port, [asBackend(a), asBackend(b)], 'dns')] });
  const client = await udpClient(t, { address: ADDR, port });
  t.equal(await client.request('one'), 'a:one');
  t.equal(await metric('shoal_mesh_connections_total', labels), 1);
  t.equal(await metric('shoal_mesh_active_connections', labels), 1);

  clock += 29_999;
  t.equal(await client.request('two'), 'a:two', 'not idle yet: same flow, same backend');
  clock += 29_999;
  // A sweep at this time: the flow saw traffic 29.999 s ago and must stay.
  dp.sweepIdle();
  t.equal(await metric('shoal_mesh_active_connections', labels), 1, 'still live');

  clock += 1;
  dp.sweepIdle();
  t.equal(await metric('shoal_mesh_active_connections', labels), 0, 'the flow expired');
  t.equal(await client.request('three'), 'b:three', 'a new flow, next backend in the rotation');
  t.equal(await metric('shoal_mesh_connections_total', labels), 2);
  t.equal(await metric('shoal_mesh_bytes_total', { ...labels, direction: 'in' }), 'onetwothree'.length);
  t.equal(await metric('shoal_mesh_bytes_total', { ...labels, direction: 'out' }), 'a:onea:twob:three'.length);
  t.equal(a.peers.size, 1, 'one flow socket reached a');
});

t.test('udp: a flow whose backend refuses is dropped and the client lands on a live backend', async (t) => {
  const { dp, metric } = setup(t);
  const live = await udpBackend(t, 'live');
  const deadPort = await freePort('udp');
  const port = await freePort('udp');
  const labels = { service: 'dns', protocol: 'udp' };
  await dp.apply({
    frontends: [frontendOf('udp', ADDR, port, [{ id: 'dead', address: ADDR, port: deadPort, weight: 1 }, asBackend(live)], 'dns')],
  });
  const client = await udpClient(t, { address: ADDR, port });
  t.equal(await client.requestUntilAnswered('hello'), 'live:hello');
  t.ok((await metric('shoal_mesh_connect_errors_total', labels)) >= 1, 'the refusal was counted');
  t.equal(await client.request('again'), 'live:again');
});

t.test('udp: a migrated flow keeps its client and count', async (t) => {
  const { dp, metric } = setup(t);
  const [a, b] = await Promise.all([udpBackend(t, 'a'), udpBackend(t, 'b')]);
  const port = await freePort('udp');
  const labels = { service: 'svc', protocol: 'udp' };
  await dp.apply({ frontends: [frontendOf('udp', ADDR, port, [asBackend(a), asBackend(b)])] });
  const client = await udpClient(t, { address: ADDR, port });
  t.equal(await client.request('one'), 'a:one');
  await dp.apply({ frontends: [frontendOf('udp', ADDR, port, [asBackend(b)])] });
  t.equal(await client.request('two'), 'b:two');
  t.equal(await metric('shoal_mesh_connections_total', labels), 1, 'still one flow');
  t.equal(await metric('shoal_mesh_active_connections', labels), 1);
  await dp.apply({ frontends: [frontendOf('udp', ADDR, port, [])] });
  client.send('three');
  await eventually(async () => (await metric('shoal_mesh_active_connections', labels)) === 0, 'the flow to end with no backend left');
});

t.test('a second dataplane on the same registry reuses the metrics', async (t) => {
  const registry = new Registry();
  const logger = pino({ level: 'silent' });
  const first = new UserspaceDataplane({ logger, registry });
  await first.close();
  const second = new UserspaceDataplane({ logger, registry });
  t.teardown(() => second.close());
  const a = await tcpBackend(t, 'a');
  const port = await freePort('tcp');
  await second.apply({ frontends: [frontendOf('tcp', ADDR, port, [asBackend(a)])] });
  t.equal(await askOnce(t, ADDR, port), 'a');
  t.match(await registry.getSingleMetricAsString('shoal_mesh_connections_total'), /service="svc",protocol="tcp"} 1/);
});
