import t from 'tap';
import { InvalidArgumentError } from '../../src/errors';
import { validateServiceSpec } from '../../src/spec/service-spec';

const base = { name: 'web', task: { command: ['node', 'web.js'] } };
const host9000 = { protocol: 'tcp', targetPort: 80, publishedPort: 9000, publishMode: 'host' };

/** A spec with these ports and, when given, this --replicas-max-per-node. */
function spec(ports: unknown[], maxReplicas?: number, extra: Record<string, unknown> = {}) {
  return { ...base, ...extra, task: { ...base.task, placement: maxReplicas === undefined ? {} : { maxReplicas } }, endpoint: { ports } };
}

t.test('host-mode publish: what the spec accepts and refuses', async (t) => {
  const cases: { name: string; input: unknown; error?: RegExp }[] = [
    { name: 'host mode with a published port and no per-node limit (extra tasks wait)', input: spec([host9000], undefined, { replicas: 5 }) },
    { name: 'host mode with --replicas-max-per-node 1', input: spec([host9000], 1, { replicas: 3 }) },
    { name: 'host mode in a global service', input: spec([host9000], undefined, { mode: 'global' }) },
    { name: 'host mode with dnsrr (no VIP needed for it)', input: { ...spec([host9000]), endpoint: { mode: 'dnsrr', ports: [host9000] } } },
    { name: 'ingress port with --replicas-max-per-node 3', input: spec([{ targetPort: 80, publishedPort: 8080 }], 3) },
    { name: 'host-mode target without a published port', input: spec([{ targetPort: 80, publishMode: 'host' }]), error: /^host-mode publish needs published=PORT \(target port 80\)$/ },
    {
      name: 'host mode with --replicas-max-per-node 2',
      input: spec([host9000], 2),
      error: /^port 9000\/tcp is published in host mode, so at most 1 task per node can bind it: use --replicas-max-per-node 1$/,
    },
    {
      name: 'the culprit is the host-mode port, not an ingress one beside it',
      input: spec([{ targetPort: 81, publishedPort: 8081 }, { ...host9000, protocol: 'udp', publishedPort: 5300 }], 4),
      error: /^port 5300\/udp is published in host mode/,
    },
    { name: 'unknown publish mode', input: spec([{ targetPort: 80, publishedPort: 1, publishMode: 'bogus' }]), error: /invalid publish mode "bogus": use ingress or host/ },
    { name: 'proxy protocol in host mode', input: spec([{ ...host9000, proxyProtocol: 'v1' }]), error: /proxy-protocol needs a TCP port published in ingress mode/ },
    { name: 'host and ingress on one published port', input: spec([host9000, { targetPort: 81, publishedPort: 9000 }]), error: /published port 9000\/tcp is given twice/ },
  ];
  for (const c of cases) {
    if (!c.error) {
      t.doesNotThrow(() => validateServiceSpec(c.input), c.name);
      continue;
    }
    const err = (() => {
      try {
        validateServiceSpec(c.input);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.type(err, InvalidArgumentError, `${c.name}: an invalid-argument error`);
    t.match((err as Error | undefined)?.message, c.error, c.name);
  }
});

t.test('names: letters, digits and dashes, at most 63', async (t) => {
  t.doesNotThrow(() => validateServiceSpec({ ...base, name: 'a'.repeat(63) }), '63 characters');
  t.throws(() => validateServiceSpec({ ...base, name: 'a'.repeat(64) }), /invalid service name/, '64 characters');
  t.throws(() => validateServiceSpec({ ...base, name: 'my web' }), /invalid service name "my web"/, 'a space');
  t.throws(() => validateServiceSpec({ ...base, name: 'tasks' }), /reserved/, 'the tasks.<svc> DNS prefix');
});
