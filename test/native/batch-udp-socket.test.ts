import * as dgram from 'node:dgram';
import t from 'tap';
import { createBatchUdpSocket, type BatchUdpSocket, type DatagramBatch } from '../../src/native/batch-udp-socket';
import { nativeLoadResult, type NativeAddon } from '../../src/native/native';
import { udpAddressText, udpPeerKey } from '../../src/native/udp-address';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { markerThroughPort } from '../support/udp-barrier';

/**
 * The BatchUdpSocket contract, run against the dgram fallback and, when it
 * is built, the native addon: the UDP frontend and the DNS server rely on
 * exactly this.
 */

const ADDR = '127.0.0.1';

const load = nativeLoadResult();
if (load.status === 'failed') t.fail(`the addon is built but does not load: ${load.reason}`);
const kinds: [BatchUdpSocket['kind'], NativeAddon | null][] = [['dgram', null]];
if (load.addon) kinds.push(['native', load.addon]);
else t.comment(`native addon not available (${load.reason}): only the dgram socket is checked`);

/** Payloads of a batch, copied out while it is valid. */
function texts(batch: DatagramBatch): { text: string; from: string; key: number | string }[] {
  const out = [];
  for (let i = 0; i < batch.count; i++) {
    const at = batch.offset(i);
    out.push({
      text: batch.data.toString('utf8', at, at + batch.length(i)),
      from: `${udpAddressText(batch.address(i))}:${batch.port(i)}`,
      key: udpPeerKey(batch.address(i), batch.port(i)),
    });
  }
  return out;
}

async function dgramPeer(t: tap.Test): Promise<{ socket: dgram.Socket; port: number; got: string[]; sources: string[] }> {
  const socket = dgram.createSocket('udp4');
  const got: string[] = [];
  const sources: string[] = [];
  socket.on('message', (msg, rinfo) => {
    got.push(msg.toString());
    sources.push(`${rinfo.address}:${rinfo.port}`);
  });
  await new Promise<void>((resolve) => socket.bind(0, ADDR, resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, got, sources };
}

for (const [kind, native] of kinds) {
  t.test(`${kind} socket`, async (t) => {
    const make = (t: tap.Test, onBatch: (s: BatchUdpSocket, b: DatagramBatch) => void = () => undefined) => {
      const errors: NodeJS.ErrnoException[] = [];
      const socket: BatchUdpSocket = createBatchUdpSocket('udp4', { onBatch: (b) => onBatch(socket, b), onError: (e) => errors.push(e) }, native);
      t.teardown(() => socket.close());
      return { socket, errors };
    };

    t.test('is the implementation asked for', async (t) => {
      t.equal(make(t).socket.kind, kind);
      t.equal(createBatchUdpSocket('udp6', { onBatch: () => undefined, onError: () => undefined }, native).kind, 'dgram', 'IPv6 is always dgram');
    });

    t.test('binds port 0, receives with the sender, answers it', async (t) => {
      const seen: ReturnType<typeof texts> = [];
      const { socket } = make(t, (s, b) => {
        seen.push(...texts(b));
        for (let i = 0; i < b.count; i++) s.send(b.data, b.offset(i), b.length(i), b.port(i), b.address(i));
      });
      const port = await socket.bind(ADDR, 0);
      t.ok(port > 0, 'the bound port');
      const client = await dgramPeer(t);
      client.socket.send('one', port, ADDR);
      client.socket.send('two', port, ADDR);
      await eventually(() => client.got.length >= 2, 'two echoes');
      t.same(client.got.sort(), ['one', 'two']);
      t.same(client.sources, [`${ADDR}:${port}`, `${ADDR}:${port}`], 'answers come from the bound port');
      t.same(seen.map((s) => s.from), [`${ADDR}:${client.port}`, `${ADDR}:${client.port}`]);
      t.equal(seen[0].key, seen[1].key, 'one peer, one key');
    });

    t.test('a connected socket sends without a port and hears its peer', async (t) => {
      const peer = await dgramPeer(t);
      peer.socket.on('message', (msg, rinfo) => peer.socket.send(`re:${msg.toString()}`, rinfo.port, rinfo.address));
      const replies: string[] = [];
      const { socket, errors } = make(t, (_s, b) => replies.push(...texts(b).map((x) => x.text)));
      socket.connect(ADDR, peer.port);
      const bytes = Buffer.from('xhellox');
      socket.send(bytes, 1, 5);
      await eventually(() => replies.length > 0, 'the reply');
      t.same(peer.got, ['hello'], 'offset and length respected');
      t.same(replies, ['re:hello']);
      t.same(errors, []);
    });

    t.test('a connected socket whose peer is gone gets ECONNREFUSED', async (t) => {
      const deadPort = await freePort('udp');
      const { socket, errors } = make(t);
      socket.connect(ADDR, deadPort);
      const ping = Buffer.from('ping');
      const resend = setInterval(() => errors.length === 0 && socket.send(ping, 0, ping.length), 20);
      t.teardown(() => clearInterval(resend));
      socket.send(ping, 0, ping.length);
      await eventually(() => errors.length > 0, 'the refusal');
      t.equal(errors[0].code, 'ECONNREFUSED');
    });

    t.test('a port in use rejects the bind with EADDRINUSE; close twice is safe', async (t) => {
      const held = await dgramPeer(t);
      const { socket } = make(t);
      await t.rejects(socket.bind(ADDR, held.port), { code: 'EADDRINUSE' });
      socket.close();
      socket.close();
    });

    t.test('close inside the batch callback', async (t) => {
      let calls = 0;
      const { socket } = make(t, (s) => {
        calls++;
        s.close();
      });
      const port = await socket.bind(ADDR, 0);
      const client = await dgramPeer(t);
      for (let i = 0; i < 10; i++) client.socket.send(`d${i}`, port, ADDR);
      await eventually(() => calls > 0, 'a batch');
      // Not a quiet period: a marker through the port the closed socket held shows it has nothing more to deliver.
      await markerThroughPort(t, client.socket, ADDR, port);
      t.equal(calls, 1, 'nothing after close');
    });
  });
}
