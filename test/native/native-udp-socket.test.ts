import * as dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import t from 'tap';
import { nativeLoadResult, type NativeAddon } from '../../src/native/native';
import { NativeUdpSocket } from '../../src/native/native-udp-socket';
import type { DatagramBatch } from '../../src/native/batch-udp-socket';
import { ipv4ToNumber, udpAddressText } from '../../src/native/udp-address';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { markerThroughPort } from '../support/udp-barrier';

const ADDR = '127.0.0.1';
/** Datagrams in a burst: more than one batch (64), few enough for the default receive buffer. */
const BURST = 100;

const load = nativeLoadResult();
if (load.status === 'failed') t.fail(`the addon is built but does not load: ${load.reason}`);
if (!load.addon) t.plan(0, `native addon not available: ${load.reason}`);
else run(load.addon);

interface Received {
  payloads: string[];
  sources: string[];
  batchSizes: number[];
}

/** A native socket bound on loopback port 0 that records what it receives; closed at teardown. */
async function nativeReceiver(
  t: tap.Test,
  addon: NativeAddon,
  onBatch?: (socket: NativeUdpSocket, batch: DatagramBatch) => void,
): Promise<{ socket: NativeUdpSocket; port: number; got: Received; errors: NodeJS.ErrnoException[] }> {
  const got: Received = { payloads: [], sources: [], batchSizes: [] };
  const errors: NodeJS.ErrnoException[] = [];
  const socket: NativeUdpSocket = new NativeUdpSocket(addon, {
    onBatch: (batch) => {
      got.batchSizes.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const at = batch.offset(i);
        got.payloads.push(batch.data.toString('utf8', at, at + batch.length(i)));
        got.sources.push(`${udpAddressText(batch.address(i))}:${batch.port(i)}`);
      }
      onBatch?.(socket, batch);
    },
    onError: (err) => errors.push(err),
  });
  t.teardown(() => socket.close());
  const port = await socket.bind(ADDR, 0);
  return { socket, port, got, errors };
}

/** A dgram socket on loopback port 0 that records what it receives; closed at teardown. */
async function dgramPeer(t: tap.Test): Promise<{ socket: dgram.Socket; port: number; got: string[] }> {
  const socket = dgram.createSocket('udp4');
  const got: string[] = [];
  socket.on('message', (msg) => got.push(msg.toString()));
  await new Promise<void>((resolve) => socket.bind(0, ADDR, resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, got };
}

const names = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function run(addon: NativeAddon): void {
  t.test('a burst arrives in batches, each datagram with its sender', async (t) => {
    const rx = await nativeReceiver(t, addon);
    const tx = await dgramPeer(t);
    for (const m of names(BURST)) tx.socket.send(m, rx.port, ADDR);
    await eventually(() => rx.got.payloads.length >= BURST, `${BURST} datagrams`);
    t.same(rx.got.payloads, names(BURST), 'every datagram, in order, intact');
    t.same(new Set(rx.got.sources), new Set([`${ADDR}:${tx.port}`]), 'address and port of the sender');
    t.ok(Math.max(...rx.got.batchSizes) > 1, `several datagrams per callback (${rx.got.batchSizes.join(',')})`);
    t.ok(rx.got.batchSizes.every((n) => n <= addon.maxBatch), 'no batch over the maximum');
    const stats = rx.socket.stats();
    t.equal(stats.received, BURST);
    t.ok(stats.receiveCalls < BURST, `fewer recvmmsg calls (${stats.receiveCalls}) than datagrams`);
  });

  t.test('a burst of sends leaves in a few sendmmsg calls, in order', async (t) => {
    const rx = await dgramPeer(t);
    const tx = await nativeReceiver(t, addon);
    const address = ipv4ToNumber(ADDR)!;
    for (const m of names(BURST)) {
      const bytes = Buffer.from(m);
      tx.socket.send(bytes, 0, bytes.length, rx.port, address);
      bytes.fill(0); // the socket copied it: the caller may reuse its buffer at once
    }
    await eventually(() => rx.got.length >= BURST, `${BURST} datagrams`);
    t.same(rx.got, names(BURST));
    const stats = tx.socket.stats();
    t.equal(stats.sent, BURST);
    t.ok(stats.sendCalls <= Math.ceil(BURST / addon.maxBatch), `${stats.sendCalls} sendmmsg calls for ${BURST} datagrams`);
    t.equal(stats.dropped, 0);
  });

  t.test('answers sent inside the batch callback leave together when it returns', async (t) => {
    const echo = await nativeReceiver(t, addon, (socket, batch) => {
      for (let i = 0; i < batch.count; i++) socket.send(batch.data, batch.offset(i), batch.length(i), batch.port(i), batch.address(i));
    });
    const client = await dgramPeer(t);
    for (const m of names(BURST, 'e')) client.socket.send(m, echo.port, ADDR);
    await eventually(() => client.got.length >= BURST, `${BURST} echoes`);
    t.same(client.got, names(BURST, 'e'));
    const stats = echo.socket.stats();
    t.ok(stats.sendCalls <= echo.got.batchSizes.length, `one sendmmsg per batch at most (${stats.sendCalls} for ${echo.got.batchSizes.length} batches)`);
  });

  t.test('close inside its own callback ends the batch loop; close twice is safe', async (t) => {
    let calls = 0;
    const rx = await nativeReceiver(t, addon, (socket) => {
      calls++;
      socket.close();
      socket.close();
    });
    const tx = await dgramPeer(t);
    for (const m of names(BURST)) tx.socket.send(m, rx.port, ADDR);
    await eventually(() => calls > 0, 'the first batch');
    // Not a quiet period: a marker through the port the closed socket held shows it has nothing more to deliver.
    await markerThroughPort(t, tx.socket, ADDR, rx.port);
    t.equal(calls, 1, 'no callback after close');
    rx.socket.close();
    t.throws(() => rx.socket.send(Buffer.from('x'), 0, 1, tx.port, ipv4ToNumber(ADDR)!), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });

  t.test('bind errors are Node-style system errors', async (t) => {
    const held = await nativeReceiver(t, addon);
    const second = new NativeUdpSocket(addon, { onBatch: () => undefined, onError: () => undefined });
    t.teardown(() => second.close());
    const err = await second.bind(ADDR, held.port).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    t.ok(err instanceof Error, 'rejects with an Error');
    t.match(err, { code: 'EADDRINUSE', errno: -98, syscall: 'bind', message: `bind EADDRINUSE ${ADDR}:${held.port}` });
    await t.rejects(second.bind('no-such-address', 0), { code: 'EINVAL' }, 'an address that is no IPv4 literal');
  });

  t.test('a connected socket hears its peer is gone (ECONNREFUSED) through onError', async (t) => {
    const deadPort = await freePort('udp');
    const errors: NodeJS.ErrnoException[] = [];
    const socket = new NativeUdpSocket(addon, { onBatch: () => undefined, onError: (err) => errors.push(err) });
    t.teardown(() => socket.close());
    socket.connect(ADDR, deadPort);
    const ping = Buffer.from('anyone?');
    const resend = setInterval(() => socket.send(ping, 0, ping.length), 20);
    t.teardown(() => clearInterval(resend));
    socket.send(ping, 0, ping.length);
    await eventually(() => errors.length > 0, 'the refusal');
    t.equal(errors[0].code, 'ECONNREFUSED');
    t.ok(errors[0] instanceof Error);
  });

  t.test('a connected socket exchanges datagrams with its peer only', async (t) => {
    const peer = dgram.createSocket('udp4');
    peer.on('message', (msg, rinfo) => peer.send(`re:${msg.toString()}`, rinfo.port, rinfo.address));
    await new Promise<void>((resolve) => peer.bind(0, ADDR, resolve));
    t.teardown(() => peer.close());
    const got: string[] = [];
    const socket = new NativeUdpSocket(addon, {
      onBatch: (b) => {
        for (let i = 0; i < b.count; i++) got.push(b.data.toString('utf8', b.offset(i), b.offset(i) + b.length(i)));
      },
      onError: (err) => t.fail(String(err)),
    });
    t.teardown(() => socket.close());
    socket.connect(ADDR, peer.address().port);
    const hi = Buffer.from('hi');
    socket.send(hi, 0, hi.length);
    await eventually(() => got.length > 0, 'the reply');
    t.same(got, ['re:hi']);
  });

  t.test('a connect to no IPv4 literal fails through onError, later sends are dropped', async (t) => {
    const errors: NodeJS.ErrnoException[] = [];
    const socket = new NativeUdpSocket(addon, { onBatch: () => undefined, onError: (err) => errors.push(err) });
    t.teardown(() => socket.close());
    socket.connect('not-an-address', 53);
    t.same(errors, [], 'not during the call: the caller is still setting up');
    t.doesNotThrow(() => socket.send(Buffer.from('x'), 0, 1));
    await eventually(() => errors.length > 0, 'the connect error');
    t.equal(errors[0].code, 'EINVAL');
  });

  t.test('bad send arguments throw at once', async (t) => {
    const { socket } = await nativeReceiver(t, addon);
    const big = Buffer.alloc(addon.maxDatagram + 1);
    t.throws(() => socket.send(big, 0, big.length, 9, 1), { code: 'ERR_OUT_OF_RANGE' }, 'over 65507 bytes');
    t.throws(() => socket.send(Buffer.from('x'), 0, 2, 9, 1), { code: 'ERR_OUT_OF_RANGE' }, 'length past the end');
    t.throws(() => socket.send(Buffer.from('x'), 0, 1, 0, 1), { code: 'ERR_SOCKET_BAD_PORT' }, 'no port on an unconnected socket');
    t.throws(() => socket.send(Buffer.from('x'), 0, 1, 9, 'localhost'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  });

  t.test('closed sockets give their descriptors back', async (t) => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let round = 0; round < 5; round++) {
      const sockets = Array.from({ length: 100 }, () => new NativeUdpSocket(addon, { onBatch: () => undefined, onError: () => undefined }));
      await Promise.all(sockets.map((s) => s.bind(ADDR, 0)));
      for (const s of sockets) s.close();
    }
    t.equal(fds(), before, 'as many descriptors open as before 500 sockets came and went');
  });
}

