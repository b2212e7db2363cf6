import t from 'tap';
import { kernelBlocker, kernelCapable } from '../../../../src/mesh/dataplane/nftables/kernel-capable';
import type { Frontend } from '../../../../src/mesh/table/table';

const base: Frontend = {
  id: 'ingress/tcp/10.0.0.1:8080',
  kind: 'ingress',
  protocol: 'tcp',
  address: '10.0.0.1',
  port: 8080,
  service: 'web',
  backends: [{ id: 'a', address: '10.0.0.2', port: 80, weight: 1 }],
};

t.test('which frontends the kernel path takes', async (t) => {
  const cases: { name: string; frontend: Frontend; blocker?: RegExp }[] = [
    { name: 'plain', frontend: base },
    { name: 'every policy', frontend: { ...base, lb: { policy: 'source-hash', affinityTimeoutMs: 10 } } },
    { name: 'least-connections (approximated by random)', frontend: { ...base, lb: { policy: 'least-connections' } } },
    { name: 'limits set to 0 mean none', frontend: { ...base, lb: { maxConnections: 0, maxConnectionsPerBackend: 0, idleTimeoutMs: 0 } } },
    { name: 'no backends', frontend: { ...base, backends: [] } },
    { name: 'PROXY protocol v1', frontend: { ...base, proxyProtocol: 'v1' }, blocker: /PROXY protocol/ },
    { name: 'PROXY protocol v2', frontend: { ...base, proxyProtocol: 'v2' }, blocker: /PROXY protocol/ },
    { name: 'idle timeout', frontend: { ...base, lb: { idleTimeoutMs: 60_000 } }, blocker: /idle timeout/ },
    { name: 'max connections', frontend: { ...base, lb: { maxConnections: 100 } }, blocker: /connection limit/ },
    { name: 'max connections per backend', frontend: { ...base, lb: { maxConnectionsPerBackend: 5 } }, blocker: /per-backend/ },
    { name: 'IPv6 frontend', frontend: { ...base, address: '::1' }, blocker: /not IPv4/ },
    { name: 'IPv6 backend', frontend: { ...base, backends: [{ id: 'a', address: 'fd00::2', port: 80, weight: 1 }] }, blocker: /not IPv4/ },
  ];
  for (const c of cases) {
    t.equal(kernelCapable(c.frontend), !c.blocker, c.name);
    if (c.blocker) t.match(kernelBlocker(c.frontend), c.blocker, `${c.name}: reason`);
    else t.equal(kernelBlocker(c.frontend), undefined, `${c.name}: no reason`);
  }
});
