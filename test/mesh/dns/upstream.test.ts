import t from 'tap';
import * as dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { InvalidArgumentError } from '../../../src/errors';
import { loadResolvConf, parseResolvConf, parseUpstream, UpstreamForwarder } from '../../../src/mesh/dns/upstream';

t.test('parseResolvConf', async (t) => {
  const text = [
    '# generated',
    'search example.org',
    'nameserver 10.0.0.2',
    'nameserver   192.0.2.53  # trailing comment',
    '; nameserver 10.9.9.9',
    'nameserver not-an-ip',
    'nameserver ::1',
    'options ndots:5',
    'nameserver',
  ].join('\n');
  t.same(parseResolvConf(text), [
    { host: '10.0.0.2', port: 53 },
    { host: '192.0.2.53', port: 53 },
    { host: '::1', port: 53 },
  ]);
  t.same(parseResolvConf(''), []);
});

t.test('loadResolvConf', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-dns-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'resolv.conf');
  await writeFile(path, 'nameserver 127.0.0.53\n');
  t.same(await loadResolvConf(path), [{ host: '127.0.0.53', port: 53 }]);
  t.same(await loadResolvConf(join(dir, 'missing')), [], 'missing file: no upstreams');
});

t.test('parseUpstream', async (t) => {
  const ok: [string, { host: string; port: number }][] = [
    ['10.0.0.2', { host: '10.0.0.2', port: 53 }],
    ['10.0.0.2:5300', { host: '10.0.0.2', port: 5300 }],
    ['::1', { host: '::1', port: 53 }],
    ['[::1]:5300', { host: '::1', port: 5300 }],
    ['[fd00::1]', { host: 'fd00::1', port: 53 }],
  ];
  for (const [spec, want] of ok) t.same(parseUpstream(spec), want, spec);
  for (const bad of ['', 'dns.example', '10.0.0.2:0', '10.0.0.2:70000', '10.0.0.2:x', '[::1]:']) {
    t.throws(() => parseUpstream(bad), InvalidArgumentError, bad);
  }
});

t.test('forwarder restores the client ID and gives null when every upstream is silent', async (t) => {
  const fake = dgram.createSocket('udp4');
  const seenIds: number[] = [];
  fake.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    seenIds.push(q.id!);
    const r = dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: q.questions, answers: [{ type: 'A', name: 'x.test', data: '192.0.2.1' }] });
    fake.send(r, rinfo.port, rinfo.address);
  });
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => fake.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  t.teardown(() => {
    fake.close();
    silent.close();
  });

  const query = dnsPacket.encode({ type: 'query', id: 0xbeef, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'x.test' }] });
  const upstream = { host: '127.0.0.1', port: fake.address().port };
  const blackhole = { host: '127.0.0.1', port: silent.address().port };

  const forwarder = new UpstreamForwarder({ upstreams: [blackhole, upstream], timeoutMs: 150 });
  t.teardown(() => forwarder.close());
  const response = await forwarder.forward(query, 'udp');
  t.ok(response, 'second upstream answered after the first timed out');
  const decoded = dnsPacket.decode(response!);
  t.equal(decoded.id, 0xbeef, 'client ID restored');
  t.same(decoded.answers?.map((a) => (a.type === 'A' ? a.data : a.type)), ['192.0.2.1']);
  t.equal(seenIds.length, 1);

  const gone = dgram.createSocket('udp4');
  await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
  const closedPort = { host: '127.0.0.1', port: gone.address().port };
  await new Promise<void>((r) => gone.close(r));
  const refused = new UpstreamForwarder({ upstreams: [closedPort, upstream], timeoutMs: 150 });
  t.ok(await refused.forward(query, 'udp'), 'an upstream with nothing listening is skipped');

  const onlySilent = new UpstreamForwarder({ upstreams: [blackhole], timeoutMs: 100 });
  t.equal(await onlySilent.forward(query, 'udp'), null, 'all silent: null');

  const none = new UpstreamForwarder({ upstreams: [], timeoutMs: 100 });
  t.equal(await none.forward(query, 'udp'), null, 'no upstreams: null');

  const closing = new UpstreamForwarder({ upstreams: [blackhole], timeoutMs: 60_000 });
  const pending = closing.forward(query, 'udp');
  closing.close();
  closing.close();
  t.equal(await pending, null, 'close abandons a forward in flight');
});
