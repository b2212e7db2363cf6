import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { HostPortReservations, parsePortRange, probeHostPort } from '../../../src/agent/executor/host-ports';
import { InvalidArgumentError, PortsExhaustedError } from '../../../src/errors';
import type { Tap } from './fixtures/harness';

const TCP = { tcp: true, udp: false };
const UDP = { tcp: false, udp: true };

function lockDir(t: Tap): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-port-locks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}


/** A TCP listener on host at a kernel-chosen port, closed when the test ends. */
async function listenTcp(t: Tap, host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host, port: 0 }, resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

t.test('two daemons on one host never get the same port', async (t) => {
  const dir = lockDir(t);
  // The probe says yes to all, so only the reservation files keep the daemons apart.
  const range = { first: 21100, last: 21102 };
  const probe = async () => true;
  const a = new HostPortReservations({ probe }, { dir, range });
  const b = new HostPortReservations({ probe, ownerAlive: () => true }, { dir, range });
  const got = await Promise.all([a.reserve('t1', [TCP]), b.reserve('t2', [TCP]), a.reserve('t3', [TCP])]);
  const all = got.flat();
  t.equal(new Set(all).size, 3, `three distinct ports: ${all.join(', ')}`);
  t.ok(all.every((p) => p >= range.first && p <= range.last));
  await t.rejects(b.reserve('t4', [TCP]), PortsExhaustedError, 'a full range is a clear error');
  await a.release('t1');
  t.same(await b.reserve('t4', [TCP]), got[0], 'a released port is handed out again');
  t.same(fs.readdirSync(dir).map(Number).sort(), [...all].sort());
});

t.test('a reservation whose daemon died is taken over; one of a live daemon is not', async (t) => {
  const dir = lockDir(t);
  const range = { first: 21000, last: 21000 };
  fs.writeFileSync(path.join(dir, '21000'), JSON.stringify({ pid: 999999, startTime: 1, owner: 'old' }));
  const alive = new HostPortReservations({ probe: async () => true, ownerAlive: () => true }, { dir, range });
  await t.rejects(alive.reserve('t1', [TCP]), PortsExhaustedError);
  const r = new HostPortReservations({ probe: async () => true, ownerAlive: () => false }, { dir, range });
  t.same(await r.reserve('t1', [TCP]), [21000]);
  t.match(JSON.parse(fs.readFileSync(path.join(dir, '21000'), 'utf8')), { pid: process.pid, owner: 't1' });
  await r.release('t1');
  t.same(fs.readdirSync(dir), []);
});

t.test('all or nothing: a task needing more ports than are left gets none', async (t) => {
  const dir = lockDir(t);
  const r = new HostPortReservations({ probe: async () => true }, { dir, range: { first: 21010, last: 21011 } });
  await t.rejects(r.reserve('t1', [TCP, TCP, TCP]), PortsExhaustedError);
  t.same(fs.readdirSync(dir), [], 'the two it had claimed were given back');
  t.same(r.heldBy('t1'), []);
});

t.test('a port some listener holds on any address is skipped', async (t) => {
  for (const host of ['127.0.0.1', '127.100.7.7', '::1']) {
    const held = await listenTcp(t, host);
    t.equal(await probeHostPort(held, TCP), false, `TCP listener on ${host}`);
  }
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const udpPort = socket.address().port;
  t.equal(await probeHostPort(udpPort, UDP), false, 'UDP socket on 127.0.0.1');
  t.equal(await probeHostPort(udpPort, TCP), (await canListenEverywhere(udpPort)), 'TCP is probed on its own');
});

t.test('the real probe steers the choice past a taken port', async (t) => {
  const dir = lockDir(t);
  const held = await listenTcp(t, '127.0.0.1');
  const r = new HostPortReservations({ random: () => 0 }, { dir, range: { first: held, last: held + 1 } });
  const [port] = await r.reserve('t1', [TCP]);
  t.equal(port, held + 1);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host: '::', port, ipv6Only: false }, resolve));
  await new Promise((resolve) => server.close(resolve));
  await r.release('t1');
});

t.test('parsePortRange', async (t) => {
  t.same(parsePortRange('20000-32767'), { first: 20000, last: 32767 });
  t.same(parsePortRange('9000-9000'), { first: 9000, last: 9000 });
  for (const bad of ['', '20000', '0-10', '10-70000', '30000-20000', 'a-b', '1-2-3']) {
    t.throws(() => parsePortRange(bad), InvalidArgumentError, JSON.stringify(bad));
  }
});

async function canListenEverywhere(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host: '::', port, ipv6Only: false }, resolve));
    return true;
  } catch {
    return false;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}
