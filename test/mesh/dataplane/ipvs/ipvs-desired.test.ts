import t from 'tap';
import { desiredServices, ingressFwmark, ingressMarks, isShoalFwmark } from '../../../../src/mesh/dataplane/ipvs/ipvs-desired';
import { destKey, serviceKey } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';
import type { Backend, Frontend } from '../../../../src/mesh/table/table';

function be(id: string, address: string, port: number, weight = 1): Backend {
  return { id, address, port, weight };
}
function fe(over: Partial<Frontend> & Pick<Frontend, 'id'>): Frontend {
  return { kind: 'vip', protocol: 'tcp', address: '10.0.0.2', port: 80, service: 'web', backends: [], ...over };
}

t.test('firewall marks: one per protocol and port, all in shoal block', async (t) => {
  t.equal(ingressFwmark('tcp', 8080), 0x53481f90);
  t.equal(ingressFwmark('udp', 8080), 0x53491f90);
  t.equal(ingressFwmark('udp', 65535), 0x5349ffff);
  t.ok(isShoalFwmark(0x53481f90));
  t.ok(isShoalFwmark(0x5349ffff));
  t.notOk(isShoalFwmark(0x4000), 'kube-proxy masquerade bit');
  t.notOk(isShoalFwmark(0x534a0000));
  t.notOk(isShoalFwmark(0x100), 'Docker ingress marks');
});

t.test('mapping frontends to services', async (t) => {
  const cases: { name: string; frontend: Frontend; ingress?: 'fwmark' | 'address'; want: unknown }[] = [
    {
      name: 'vip tcp, default policy rr, dests sorted, weights kept',
      frontend: fe({ id: 'vip/tcp/10.0.0.2:80', backends: [be('b', '10.0.1.6', 80), be('a', '10.0.1.5', 80, 0)] }),
      want: {
        key: 'tcp/10.0.0.2:80',
        scheduler: 'rr',
        flags: 0,
        dests: [
          ['10.0.1.5:80', 0],
          ['10.0.1.6:80', 1],
        ],
      },
    },
    {
      name: 'vip udp least-connections',
      frontend: fe({ id: 'vip/udp/10.0.0.2:53', protocol: 'udp', port: 53, lb: { policy: 'least-connections' } }),
      want: { key: 'udp/10.0.0.2:53', scheduler: 'lc', flags: 0, dests: [] },
    },
    {
      name: 'source-hash gets sh with fallback past draining dests',
      frontend: fe({ id: 'vip/tcp/10.0.0.2:80', lb: { policy: 'source-hash' } }),
      want: { key: 'tcp/10.0.0.2:80', scheduler: 'sh', flags: 8, dests: [] },
    },
    {
      name: 'ingress as fwmark',
      frontend: fe({ id: 'ingress/tcp/192.168.1.10:8080', kind: 'ingress', address: '192.168.1.10', port: 8080 }),
      want: { key: `fwmark/${0x53481f90}`, scheduler: 'rr', flags: 0, dests: [] },
    },
    {
      name: 'ingress on the node address',
      ingress: 'address',
      frontend: fe({ id: 'ingress/udp/192.168.1.10:5353', kind: 'ingress', protocol: 'udp', address: '192.168.1.10', port: 5353 }),
      want: { key: 'udp/192.168.1.10:5353', scheduler: 'rr', flags: 0, dests: [] },
    },
    {
      name: 'host mode on the node address, even where ingress uses fwmark',
      frontend: fe({ id: 'host/tcp/192.168.1.10:9000', kind: 'host', address: '192.168.1.10', port: 9000, backends: [be('t1', '10.0.1.5', 80)] }),
      want: { key: 'tcp/192.168.1.10:9000', scheduler: 'rr', flags: 0, dests: [['10.0.1.5:80', 1]] },
    },
    {
      name: 'host mode with address ingress',
      ingress: 'address',
      frontend: fe({ id: 'host/udp/192.168.1.10:5300', kind: 'host', protocol: 'udp', address: '192.168.1.10', port: 5300 }),
      want: { key: 'udp/192.168.1.10:5300', scheduler: 'rr', flags: 0, dests: [] },
    },
    {
      name: 'duplicate dest address keeps the serving one',
      frontend: fe({ id: 'vip/tcp/10.0.0.2:80', backends: [be('old', '10.0.1.5', 80, 0), be('new', '10.0.1.5', 80, 1)] }),
      want: { key: 'tcp/10.0.0.2:80', scheduler: 'rr', flags: 0, dests: [['10.0.1.5:80', 1]] },
    },
    { name: 'PROXY protocol', frontend: fe({ id: 'p', kind: 'ingress', proxyProtocol: 'v2' }), want: /PROXY protocol v2 needs the userspace dataplane/ },
    { name: 'IPv6 frontend', frontend: fe({ id: 'v6', address: 'fd00::2' }), want: /IPv4 frontends only/ },
    { name: 'bad port', frontend: fe({ id: 'bad', port: 0 }), want: /invalid port 0/ },
    { name: 'IPv6 backend', frontend: fe({ id: 'b6', backends: [be('x', 'fd00::5', 80)] }), want: /backend x address "fd00::5" is not IPv4/ },
    { name: 'backend without port', frontend: fe({ id: 'bp', backends: [be('x', '10.0.1.5', 0)] }), want: /backend x has invalid port 0/ },
  ];
  for (const c of cases) {
    const d = desiredServices({ frontends: [c.frontend] }, c.ingress ?? 'fwmark');
    if (c.want instanceof RegExp) {
      t.same(d.services, [], `${c.name}: not programmed`);
      t.match(d.failed, [{ frontendId: c.frontend.id, error: c.want }], c.name);
      continue;
    }
    t.same(d.failed, [], c.name);
    const [s] = d.services;
    t.same(
      { key: serviceKey(s.service), scheduler: s.service.scheduler, flags: s.service.flags, dests: s.dests.map((x) => [destKey(x), x.weight]) },
      c.want,
      c.name,
    );
    t.equal(s.frontendId, c.frontend.id);
    t.ok(s.dests.every((x) => x.fwdMethod === 0), 'masquerade');
  }
});

t.test('per-backend connection limit becomes the upper threshold', async (t) => {
  const d = desiredServices({ frontends: [fe({ id: 'f', lb: { maxConnectionsPerBackend: 100 }, backends: [be('a', '10.0.1.5', 80)] })] }, 'fwmark');
  t.equal(d.services[0].dests[0].upperThreshold, 100);
  t.equal(d.services[0].dests[0].lowerThreshold, 0);
});

t.test('two frontends on one IPVS service: the second fails', async (t) => {
  const d = desiredServices(
    {
      frontends: [
        fe({ id: 'ingress/tcp/192.168.1.10:8080', kind: 'ingress', address: '192.168.1.10', port: 8080 }),
        fe({ id: 'ingress/tcp/192.168.1.11:8080', kind: 'ingress', address: '192.168.1.11', port: 8080 }),
      ],
    },
    'fwmark',
  );
  t.equal(d.services.length, 1);
  t.match(d.failed, [{ frontendId: 'ingress/tcp/192.168.1.11:8080', error: /same IPVS service fwmark\/\d+ as frontend ingress\/tcp\/192.168.1.10:8080/ }]);
});

t.test('services come out sorted by key', async (t) => {
  const d = desiredServices({ frontends: [fe({ id: 'b', address: '10.0.0.9' }), fe({ id: 'a', address: '10.0.0.10' }), fe({ id: 'c', address: '10.0.0.1' })] }, 'fwmark');
  t.same(
    d.services.map((s) => s.service.address),
    // Code-unit order of `tcp/<addr>:80`: '0' sorts before ':'.
    ['10.0.0.10', '10.0.0.1', '10.0.0.9'],
  );
});

t.test('ingress marks for the firewall', async (t) => {
  t.same(
    ingressMarks({
      frontends: [
        fe({ id: 'ingress/udp/192.168.1.10:53', kind: 'ingress', protocol: 'udp', address: '192.168.1.10', port: 53 }),
        fe({ id: 'vip/tcp/10.0.0.2:80' }),
        fe({ id: 'host/tcp/192.168.1.10:9000', kind: 'host', address: '192.168.1.10', port: 9000 }),
      ],
    }),
    [{ frontendId: 'ingress/udp/192.168.1.10:53', protocol: 'udp', port: 53, fwmark: 0x53490035 }],
    'host-mode frontends need no mark',
  );
});
