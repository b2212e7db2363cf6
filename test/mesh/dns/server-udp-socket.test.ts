import * as dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DnsServer } from '../../../src/mesh/dns/server';
import type { DnsView } from '../../../src/mesh/dns/view';
import { nativeLoadResult, type NativeAddon } from '../../../src/native/native';
import { eventually } from '../../support/eventually';

/**
 * The DNS server's UDP listener on each socket implementation (dgram, and
 * the native addon when built): a burst of queries from one client, sent
 * without waiting, gets one answer per query with the query's ID.
 */

/** Queries in the burst: several receive batches. */
const BURST = 150;

const load = nativeLoadResult();
if (load.status === 'failed') t.fail(`the addon is built but does not load: ${load.reason}`);
const kinds: ['native' | 'dgram', NativeAddon | null][] = [['dgram', null]];
if (load.addon) kinds.push(['native', load.addon]);
else t.comment(`native addon not available (${load.reason}): only the dgram path is checked`);

const view: DnsView = {
  services: new Map([
    ['web', { vip: '127.21.0.1', mode: 'vip' as const, taskAddresses: ['127.100.0.1'] }],
    ['db', { vip: '127.21.0.2', mode: 'vip' as const, taskAddresses: ['127.100.0.2'] }],
  ]),
};

t.test('the default is the addon when it loads, dgram when SHOAL_NATIVE=0 or it is missing', async (t) => {
  const server = new DnsServer({ logger: pino({ level: 'silent' }), registry: new Registry(), getView: () => view }, { address: '127.0.0.1', port: 0, upstreams: [] });
  t.teardown(() => server.close());
  t.equal(server.udpSocketKind, null, 'nothing before listen');
  await server.listen();
  t.equal(server.udpSocketKind, load.addon ? 'native' : 'dgram');
});

for (const [kind, native] of kinds) {
  t.test(`${kind}: a burst of queries gets every answer, each with its ID`, async (t) => {
    const server = new DnsServer(
      { logger: pino({ level: 'silent' }), registry: new Registry(), getView: () => view },
      { address: '127.0.0.1', port: 0, upstreams: [], native },
    );
    t.teardown(() => server.close());
    const { port } = await server.listen();
    t.equal(server.udpSocketKind, kind);

    const client = dgram.createSocket('udp4');
    const answers = new Map<number, string[]>();
    client.on('message', (msg) => {
      const r = dnsPacket.decode(msg);
      answers.set(r.id ?? -1, (r.answers ?? []).map((a) => `${a.name} ${String((a as { data?: unknown }).data)}`));
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    t.teardown(() => client.close());
    for (let id = 1; id <= BURST; id++) {
      const name = id % 2 ? 'web.shoal' : 'db.shoal';
      client.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
    }
    await eventually(() => answers.size >= BURST, `${BURST} answers`);
    for (let id = 1; id <= BURST; id++) {
      const want = id % 2 ? ['web.shoal 127.21.0.1'] : ['db.shoal 127.21.0.2'];
      if (JSON.stringify(answers.get(id)) !== JSON.stringify(want)) t.fail(`query ${id}: ${JSON.stringify(answers.get(id))}`);
    }
    t.equal(answers.size, BURST, 'one answer per query');
  });
}
