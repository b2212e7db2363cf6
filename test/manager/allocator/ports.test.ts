import t from 'tap';
import { bindProbes, publishedPortConflicts } from '../../../src/manager/allocator/ports';
import type { BindProbeInput } from '../../../src/manager/allocator/ports';
import type { PortConfig, Service } from '../../../src/model/types';
import { makeNode, makeService, makeTask } from '../../support/builders';

const ingress = (published: number, protocol: 'tcp' | 'udp' = 'tcp'): PortConfig => ({ protocol, targetPort: 80, publishedPort: published, publishMode: 'ingress' });
const host = (published: number, protocol: 'tcp' | 'udp' = 'tcp'): PortConfig => ({ protocol, targetPort: 80, publishedPort: published, publishMode: 'host' });

t.test('published port conflicts between services', async (t) => {
  const web = makeService('web', { ports: [ingress(8080)] });
  const edge = makeService('edge', { ports: [host(9000)] });
  const cases: { name: string; ports: PortConfig[]; want: string[] }[] = [
    { name: 'host mode on another service’s ingress port', ports: [host(8080)], want: ['8080/tcp web'] },
    { name: 'ingress on another service’s host-mode port', ports: [ingress(9000)], want: ['9000/tcp edge'] },
    { name: 'host mode beside another host-mode service: the scheduler keeps them apart', ports: [host(9000)], want: [] },
    { name: 'same number, other protocol', ports: [host(8080, 'udp'), ingress(9000, 'udp')], want: [] },
    { name: 'target-only ports never clash', ports: [{ protocol: 'tcp', targetPort: 8080, publishMode: 'ingress' }], want: [] },
  ];
  for (const c of cases) {
    const spec = makeService('new', { ports: c.ports }).spec;
    t.same(
      publishedPortConflicts(spec, [web, edge]).map((x) => `${x.port}/${x.protocol} ${x.service}`),
      c.want,
      c.name,
    );
  }
  t.same(publishedPortConflicts(web.spec, [web, edge], 'web'), [], 'a service does not clash with itself on update');
});

t.test('bind probes: where a new published port must be free', async (t) => {
  const n1 = makeNode('n1', { hostname: 'node-1', address: '127.0.9.1', labels: { zone: 'a' } });
  const n2 = makeNode('n2', { hostname: 'node-2', address: '127.0.9.2', labels: { zone: 'b' } });
  const drained = makeNode('n3', { hostname: 'node-3', address: '127.0.9.3', availability: 'drain' });
  const down = makeNode('n4', { hostname: 'node-4', address: '127.0.9.4', status: { state: 'down', since: '', message: '' } });
  const nodes = [n1, n2, drained, down];
  const edge = makeService('edge', { ports: [host(9000)] });
  const edgeOnN1 = makeTask('e1', edge, { nodeId: 'n1' });
  const edgeEndedOnN2 = makeTask('e2', edge, { nodeId: 'n2', state: 'failed', desired: 'shutdown' });

  const probe = (over: Partial<BindProbeInput> & { spec: BindProbeInput['spec'] }) =>
    bindProbes({ nodes, services: [edge], tasks: [edgeOnN1, edgeEndedOnN2], ...over }).map((p) => `${p.node.hostname} ${p.port}/${p.protocol}`);
  const spec = (ports: PortConfig[], constraints: string[] = []) => makeService('new', { ports, constraints }).spec;
  const current = (ports: PortConfig[]): Service => makeService('cur', { ports });

  t.same(probe({ spec: spec([ingress(8080)]) }), ['node-1 8080/tcp', 'node-2 8080/tcp', 'node-3 8080/tcp'], 'ingress: every ready node, drained ones too');
  t.same(probe({ spec: spec([host(7000)]) }), ['node-1 7000/tcp', 'node-2 7000/tcp'], 'host mode: the nodes the scheduler could pick now');
  t.same(probe({ spec: spec([host(7000)], ['node.labels.zone==b']) }), ['node-2 7000/tcp'], 'host mode: constraints narrow the nodes');
  t.same(
    probe({ spec: spec([host(9000)]) }),
    ['node-2 9000/tcp'],
    'host mode: not where the mesh holds the port for another service’s live task (an ended one holds nothing)',
  );
  t.same(probe({ spec: spec([{ protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }]) }), [], 'a target-only port binds nothing');

  const cur = current([ingress(8080), host(7000)]);
  t.same(probe({ spec: cur.spec, previous: cur }), [], 'an update keeping its ports checks nothing');
  t.same(probe({ spec: spec([host(8080)]), previous: current([ingress(8080)]) }), [], 'ingress to host mode: the mesh held it everywhere');
  const wasHost = makeService('cur', { ports: [host(7000)] });
  t.same(
    probe({ spec: spec([ingress(7000)]), previous: wasHost, services: [wasHost], tasks: [makeTask('c1', wasHost, { nodeId: 'n2' })] }),
    ['node-1 7000/tcp', 'node-3 7000/tcp'],
    'host to ingress mode: every ready node but those where its own task holds the port',
  );
  t.same(probe({ spec: spec([host(7000, 'udp')]), previous: current([host(7000)]) }), ['node-1 7000/udp', 'node-2 7000/udp'], 'another protocol is another port');
});
