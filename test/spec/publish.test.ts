import t from 'tap';
import { formatPort, parsePublish } from '../../src/spec/publish';

t.test('publish forms', async (t) => {
  const ok: [string, object][] = [
    ['8080:80', { publishedPort: 8080, targetPort: 80, protocol: 'tcp', publishMode: 'ingress' }],
    ['53:53/udp', { publishedPort: 53, targetPort: 53, protocol: 'udp', publishMode: 'ingress' }],
    ['80', { publishedPort: undefined, targetPort: 80, protocol: 'tcp', publishMode: 'ingress' }],
    ['published=8080,target=80', { publishedPort: 8080, targetPort: 80, protocol: 'tcp', publishMode: 'ingress' }],
    ['published=5353,target=53,protocol=udp,mode=host', { publishedPort: 5353, targetPort: 53, protocol: 'udp', publishMode: 'host' }],
  ];
  for (const [spec, want] of ok) t.same(parsePublish(spec), want, spec);
  t.same(parsePublish('published=8080,target=80,proxy-protocol=v2'), { publishedPort: 8080, targetPort: 80, protocol: 'tcp', publishMode: 'ingress', proxyProtocol: 'v2' });
  const bad: [string, RegExp][] = [
    ['70000:80', /port 70000 is out of range/],
    ['8080:0', /port 0 is out of range/],
    ['80:80/sctp', /protocol "sctp"/],
    ['a:b', /use PUBLISHED:TARGET/],
    ['published=80', /target is required/],
    ['published=80,target=80,mode=weird', /mode "weird"/],
    ['published=80,target=80,colour=blue', /unknown field "colour"/],
    ['published=x,target=80', /"x" is not a port number/],
    ['published=80,target=80,proxy-protocol=v3', /proxy-protocol "v3" must be v1 or v2/],
    ['mode=host,target=80', /host-mode publish needs published=PORT/],
    ['mode=bogus,published=1,target=2', /mode "bogus" must be ingress or host/],
    ['mode=host,published=,target=80', /"" is not a port number/],
  ];
  for (const [spec, re] of bad) t.throws(() => parsePublish(spec), re, spec);
  t.equal(formatPort(parsePublish('8080:80')), '*:8080->80/tcp');
  t.equal(formatPort(parsePublish('80/udp')), '80/udp');
  t.equal(formatPort(parsePublish('mode=host,published=9000,target=80')), '*:9000->80/tcp (host)');
});
