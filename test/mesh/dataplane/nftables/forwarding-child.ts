/**
 * The nftables dataplane forwarding real traffic, run by nft-dataplane.test.ts
 * inside a namespace of its topology (SHOAL_NFT_TOPOLOGY): from the client
 * namespace, traffic enters the node through prerouting, as from a task or
 * another host; from the node namespace itself, through output. Backends
 * live in namespaces of their own on the same bridge as the client, so
 * nothing works unless the node masquerades.
 */
import * as dgram from 'node:dgram';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { NftablesDataplane } from '../../../../src/mesh/dataplane/nftables/nft-dataplane';
import { systemNft } from '../../../../src/mesh/dataplane/nftables/nft-runner';
import type { LbSettings } from '../../../../src/model/types';
import type { Backend, Frontend } from '../../../../src/mesh/table/table';
import { within } from '../../../support/eventually';
import { askOnce, converse, expectNoService, expectUdpRefused } from '../fixtures/clients';
import type { Topology } from './netns-topology';

const topo = JSON.parse(process.env.SHOAL_NFT_TOPOLOGY ?? 'null') as Topology | null;
// Picked up on its own by a `tap <dir>` run: nothing to do outside the topology.
if (!topo) t.plan(0, 'run by nft-dataplane.test.ts inside its namespaces');
const [VIP, VIP2] = topo?.vips ?? [];
const INGRESS_PORT = 30080;
const nodeNft = systemNft(topo?.node);

function backend(name: string, weight = 1): Backend {
  const b = topo!.backends.find((x) => x.name === name);
  if (!b) throw new Error(`no backend ${name}`);
  return { id: name, address: b.address, port: b.port, weight };
}

function vip(protocol: 'tcp' | 'udp', backends: Backend[], lb?: LbSettings, address = VIP, port = 80): Frontend {
  return { id: `vip/${protocol}/${address}:${port}`, kind: 'vip', protocol, address, port, service: 'web', backends, ...(lb ? { lb } : {}) };
}

function ingress(protocol: 'tcp' | 'udp', backends: Backend[], extra: Partial<Frontend> = {}): Frontend {
  const address = topo!.nodeAddress;
  return { id: `ingress/${protocol}/${address}:${INGRESS_PORT}`, kind: 'ingress', protocol, address, port: INGRESS_PORT, service: 'web', backends, ...extra };
}

function dataplane(t: tap.Test): NftablesDataplane {
  const dp = new NftablesDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() }, { netns: topo!.node, resyncIntervalMs: 0 });
  t.teardown(() => dp.close());
  return dp;
}

async function applyOk(t: tap.Test, dp: NftablesDataplane, frontends: Frontend[]): Promise<void> {
  t.same((await dp.apply({ frontends })).failed, [], 'every frontend applied');
}

/** A UDP flow: one socket, so one conntrack entry, answered by `<backend>:<payload>:<address the backend saw>`. */
async function udpFlow(t: tap.Test, address: string, port: number) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: '0.0.0.0', port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  socket.on('error', () => undefined);
  return {
    async ask(payload: string): Promise<{ backend: string; seenFrom: string }> {
      const reply = new Promise<string>((resolve) => {
        const onMessage = (msg: Buffer) => {
          const text = msg.toString();
          if (!text.includes(`:${payload}:`)) return;
          socket.off('message', onMessage);
          resolve(text);
        };
        socket.on('message', onMessage);
      });
      socket.send(payload, port, address);
      const [backend, , seenFrom] = (await within(reply, `a reply to ${payload}`)).split(':');
      return { backend, seenFrom };
    },
  };
}

/** t.test, or nothing when there is no topology to run in. */
const test: (name: string, fn: (t: tap.Test) => Promise<void>) => void = (name, fn) => {
  if (topo) void t.test(name, fn);
};

async function tally(n: number, ask: () => Promise<string>): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = await ask();
    seen[name] = (seen[name] ?? 0) + 1;
  }
  return seen;
}

test('tcp and udp round robin through the VIP, replies via the node', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [vip('tcp', [backend('a'), backend('b')]), vip('udp', [backend('a'), backend('b')])]);
  t.same(await tally(4, () => askOnce(t, VIP, 80)), { a: 2, b: 2 }, 'tcp: new connections alternate');
  const seen: Record<string, number> = {};
  for (let i = 0; i < 4; i++) {
    const flow = await udpFlow(t, VIP, 80);
    const first = await flow.ask(`first-${i}`);
    t.equal(first.seenFrom, topo!.nodeAddress, 'the backend sees the node (masquerade), so replies come back through it');
    seen[first.backend] = (seen[first.backend] ?? 0) + 1;
    t.equal((await flow.ask(`again-${i}`)).backend, first.backend, 'udp: a flow sticks to its backend');
  }
  t.same(seen, { a: 2, b: 2 }, 'udp: new flows alternate');
});

test('a published port on the node address', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [ingress('tcp', [backend('a')]), ingress('udp', [backend('b')])]);
  t.equal(await askOnce(t, topo!.nodeAddress, INGRESS_PORT), 'a');
  t.equal((await (await udpFlow(t, topo!.nodeAddress, INGRESS_PORT)).ask('x')).backend, 'b');
  await applyOk(t, dp, [ingress('udp', [backend('b')])]);
  t.equal(await expectNoService(topo!.nodeAddress, INGRESS_PORT), 'refused', 'a removed published port stops accepting');
  t.notOk([...(await dp.kernelView()).frontends.keys()].some((k) => k.endsWith('. tcp . 30080')), 'and is gone from the kernel');
});

test('draining: weight 0 takes new connections away, the established one keeps flowing', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [vip('tcp', [backend('a'), backend('b')])]);
  const open = await converse(t, VIP, 80);
  const draining = await open.ask();
  const other = draining === 'a' ? 'b' : 'a';
  await applyOk(t, dp, [vip('tcp', [backend(draining, 0), backend(other)])]);
  const chain = (await dp.kernelView()).targets.get('fe_tcp_10_99_0_200_80');
  t.same(chain, [`${backend(other).address}:${backend(other).port}`], 'the draining backend left the map at once');
  t.same(await tally(3, () => askOnce(t, VIP, 80)), { [other]: 3 }, 'new connections avoid it');
  t.equal(await open.ask(), draining, 'the established connection still reaches it through conntrack');
  t.equal(await open.finish(), 'bye 8\n');
});

test('scaling shows in the kernel table as soon as apply returns', async (t) => {
  const dp = dataplane(t);
  const targets = async () => (await dp.kernelView()).targets.get('fe_tcp_10_99_0_200_80');
  const addr = (n: string) => `${backend(n).address}:${backend(n).port}`;
  await applyOk(t, dp, [vip('tcp', [backend('a')])]);
  t.same(await targets(), [addr('a')]);
  await applyOk(t, dp, [vip('tcp', [backend('a'), backend('b'), backend('c')])]);
  t.same(await targets(), [addr('a'), addr('b'), addr('c')], 'scaled up');
  t.match(await nodeNft.run(['list', 'table', 'ip', 'shoal']), /numgen inc mod 3 map \{ 0 : 10\.99\.0\.11 \. 8080, 1 : 10\.99\.0\.12 \. 8080, 2 : 10\.99\.0\.13 \. 8080 \}/, 'nft list shows the three');
  t.same(await tally(3, () => askOnce(t, VIP, 80)), { a: 1, b: 1, c: 1 }, 'and each gets a connection');
  await applyOk(t, dp, [vip('tcp', [backend('c')])]);
  t.same(await targets(), [addr('c')], 'scaled down');
  t.same(await tally(2, () => askOnce(t, VIP, 80)), { c: 2 });
});

test('without a serving backend the client is turned away at once', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [vip('tcp', []), vip('udp', [backend('a', 0)])]);
  t.equal(await expectNoService(VIP, 80), 'refused', 'tcp: reset');
  await t.resolves(expectUdpRefused(VIP, 80), 'udp: port unreachable');
  await applyOk(t, dp, [vip('tcp', [backend('b')]), vip('udp', [backend('a')])]);
  t.equal(await askOnce(t, VIP, 80), 'b', 'serves again once a backend is back');
});

test('source hash keeps a client on one backend; random spreads', async (t) => {
  const dp = dataplane(t);
  const all = ['a', 'b', 'c'].map((n) => backend(n));
  await applyOk(t, dp, [vip('tcp', all, { policy: 'source-hash' }), vip('tcp', all, { policy: 'least-connections' }, VIP2)]);
  const first = await askOnce(t, VIP, 80);
  t.same(await tally(5, () => askOnce(t, VIP, 80)), { [first]: 5 }, 'same client, same backend');
  const names = await tally(6, () => askOnce(t, VIP2, 80));
  t.ok(Object.keys(names).every((n) => ['a', 'b', 'c'].includes(n)), 'random picks among the backends');
});

test('a frontend that needs userspace is reported and left out of the kernel', async (t) => {
  const dp = dataplane(t);
  const proxied = ingress('tcp', [backend('a')], { proxyProtocol: 'v1' });
  const result = await dp.apply({ frontends: [proxied, vip('tcp', [backend('a')])] });
  t.same(result.failed.map((f) => f.frontendId), [proxied.id]);
  t.match(result.failed[0]?.error, /PROXY protocol/);
  t.same([...(await dp.kernelView()).frontends.keys()], ['10.99.0.200 . tcp . 80']);
});

test('a rebuild keeps established connections; a table deleted behind our back comes back on resync', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [vip('tcp', [backend('a')])]);
  const open = await converse(t, VIP, 80);
  t.equal(await open.ask(), 'a');
  // A second dataplane (a restarted daemon) starts with a full rebuild: delete and re-create in one transaction.
  const restarted = dataplane(t);
  await applyOk(t, restarted, [vip('tcp', [backend('a')])]);
  t.equal(await open.ask(), 'a', 'the connection survived the rebuild');
  await nodeNft.run(['delete', 'table', 'ip', 'shoal']);
  t.equal(await restarted.resync(), true, 'the drift was noticed and repaired');
  t.equal(await restarted.resync(), false, 'and is gone');
  t.equal(await askOnce(t, VIP, 80), 'a', 'new connections are served again');
  t.equal(await open.ask(), 'a', 'and the old one still flows');
  t.equal(await open.finish(), 'bye 12\n');
});

test('close removes the table and only it', async (t) => {
  const dp = dataplane(t);
  await applyOk(t, dp, [vip('tcp', [backend('a')])]);
  t.match(await nodeNft.run(['list', 'tables']), /table ip shoal/);
  await dp.close();
  await dp.close();
  t.notMatch(await nodeNft.run(['list', 'tables']), /table ip shoal/, 'no shoal table left');
  t.match(await nodeNft.run(['list', 'tables']), /table inet shoaltest_foreign/, 'the foreign table is still there');
  t.same((await dp.apply({ frontends: [vip('tcp', [backend('a')])] })).failed.map((f) => f.error), ['dataplane is closed']);
});
