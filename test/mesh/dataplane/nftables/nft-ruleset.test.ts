import t from 'tap';
import type { LbSettings } from '../../../../src/model/types';
import { renderRuleset, renderTeardown } from '../../../../src/mesh/dataplane/nftables/nft-ruleset';
import type { Backend, Frontend } from '../../../../src/mesh/table/table';

function be(id: string, address: string, port: number, weight = 1): Backend {
  return { id, address, port, weight };
}

function fe(protocol: 'tcp' | 'udp', address: string, port: number, backends: Backend[], lb?: LbSettings, extra: Partial<Frontend> = {}): Frontend {
  return { id: `vip/${protocol}/${address}:${port}`, kind: 'vip', protocol, address, port, service: 'web', backends, ...(lb ? { lb } : {}), ...extra };
}

const A = be('a', '10.0.0.2', 8080);
const B = be('b', '10.0.0.3', 8080);
const C = be('c', '10.0.0.4', 8080);

t.test('a first render rebuilds the whole table in one transaction', async (t) => {
  const r = renderRuleset([fe('tcp', '10.0.0.200', 80, [A, B]), fe('udp', '10.0.0.200', 53, [be('a', '10.0.0.2', 5353)]), fe('tcp', '10.0.0.201', 80, [])]);
  t.equal(r.full, true);
  t.same(r.failed, []);
  t.equal(
    r.script,
    `table ip shoal {}
delete table ip shoal
table ip shoal {
	map frontends {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = {
			10.0.0.200 . tcp . 80 : goto fe_tcp_10_0_0_200_80,
			10.0.0.200 . udp . 53 : goto fe_udp_10_0_0_200_53
		}
	}
	set masq_tcp {
		type ipv4_addr . inet_service
		elements = {
			10.0.0.200 . 80,
			10.0.0.201 . 80
		}
	}
	set masq_udp {
		type ipv4_addr . inet_service
		elements = {
			10.0.0.200 . 53
		}
	}
	set closed {
		type ipv4_addr . inet_proto . inet_service
		elements = {
			10.0.0.201 . tcp . 80
		}
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr . meta l4proto . th dport vmap @frontends
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr . meta l4proto . th dport vmap @frontends
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "lo" meta l4proto tcp ct status dnat ct original ip daddr . ct original proto-dst @masq_tcp masquerade
		oifname != "lo" meta l4proto udp ct status dnat ct original ip daddr . ct original proto-dst @masq_udp masquerade
	}
	chain filter_input {
		type filter hook input priority filter; policy accept;
		ip daddr . meta l4proto . th dport @closed jump turn_away
	}
	chain filter_forward {
		type filter hook forward priority filter; policy accept;
		ip daddr . meta l4proto . th dport @closed jump turn_away
	}
	chain filter_output {
		type filter hook output priority filter; policy accept;
		ip daddr . meta l4proto . th dport @closed jump turn_away
	}
	chain turn_away {
		meta l4proto tcp reject with tcp reset
		reject with icmp type port-unreachable
	}
	chain fe_tcp_10_0_0_200_80 {
		meta l4proto tcp dnat ip addr . port to numgen inc mod 2 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.3 . 8080 } comment "web"
	}
	chain fe_udp_10_0_0_200_53 {
		meta l4proto udp dnat ip to 10.0.0.2:5353 comment "web"
	}
}
`,
  );
});

t.test('an empty table still declares the hooks, with no elements', async (t) => {
  const r = renderRuleset([]);
  t.match(r.script, /\tmap frontends {\n\t\ttype ipv4_addr \. inet_proto \. inet_service : verdict\n\t}\n/);
  t.notMatch(r.script, /elements/);
  t.notMatch(r.script, /fe_/);
});

t.test('the dnat rule of each policy and weighting', async (t) => {
  const cases: { name: string; frontend: Frontend; rule: string | undefined }[] = [
    {
      name: 'round robin over two backends: numgen inc',
      frontend: fe('tcp', '10.0.0.200', 80, [A, B]),
      rule: 'meta l4proto tcp dnat ip addr . port to numgen inc mod 2 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.3 . 8080 } comment "web"',
    },
    {
      name: 'a single serving backend: a plain dnat',
      frontend: fe('udp', '10.0.0.200', 53, [be('a', '10.0.0.2', 53), be('b', '10.0.0.3', 53, 0)]),
      rule: 'meta l4proto udp dnat ip to 10.0.0.2:53 comment "web"',
    },
    {
      name: 'weight 2 repeats a backend, spread out (smooth weighted round robin)',
      frontend: fe('tcp', '10.0.0.200', 80, [be('a', '10.0.0.2', 80, 2), be('b', '10.0.0.3', 80, 1), be('c', '10.0.0.4', 80, 1)]),
      rule: 'meta l4proto tcp dnat ip addr . port to numgen inc mod 4 map { 0 : 10.0.0.2 . 80, 1 : 10.0.0.3 . 80, 2 : 10.0.0.4 . 80, 3 : 10.0.0.2 . 80 } comment "web"',
    },
    {
      name: 'weights with a common divisor are reduced',
      frontend: fe('tcp', '10.0.0.200', 80, [be('a', '10.0.0.2', 80, 10), be('b', '10.0.0.3', 80, 10)]),
      rule: 'meta l4proto tcp dnat ip addr . port to numgen inc mod 2 map { 0 : 10.0.0.2 . 80, 1 : 10.0.0.3 . 80 } comment "web"',
    },
    {
      name: 'draining backends (weight 0) leave the map',
      frontend: fe('tcp', '10.0.0.200', 80, [A, be('b', '10.0.0.3', 8080, 0), C]),
      rule: 'meta l4proto tcp dnat ip addr . port to numgen inc mod 2 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.4 . 8080 } comment "web"',
    },
    {
      name: 'least-connections: numgen random',
      frontend: fe('tcp', '10.0.0.200', 80, [A, B], { policy: 'least-connections' }),
      rule: 'meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.3 . 8080 } comment "web"',
    },
    {
      name: 'source-hash: jhash of the client address with a fixed seed over rendezvous buckets',
      frontend: fe('udp', '10.0.0.200', 53, [A, B], { policy: 'source-hash', affinityTimeoutMs: 1000 }),
      rule: 'meta l4proto udp dnat ip addr . port to jhash ip saddr mod 8 seed 0x73686f6c map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.3 . 8080, 2 : 10.0.0.3 . 8080, 3 : 10.0.0.2 . 8080, 4 : 10.0.0.3 . 8080, 5 : 10.0.0.3 . 8080, 6 : 10.0.0.2 . 8080, 7 : 10.0.0.2 . 8080 } comment "web"',
    },
    {
      name: 'every backend draining: no rule, the frontend is closed',
      frontend: fe('tcp', '10.0.0.200', 80, [be('a', '10.0.0.2', 80, 0)]),
      rule: undefined,
    },
    {
      name: 'a service name cannot break out of the comment',
      frontend: fe('tcp', '10.0.0.200', 80, [A], undefined, { service: 'we"b; flush ruleset' }),
      rule: 'meta l4proto tcp dnat ip to 10.0.0.2:8080 comment "we_b__flush_ruleset"',
    },
  ];
  for (const c of cases) {
    const r = renderRuleset([c.frontend], undefined, { sourceHashBuckets: 8 });
    t.same(r.failed, [], `${c.name}: accepted`);
    const [rendered] = [...r.state.frontends.values()];
    t.equal(rendered.rule, c.rule, c.name);
    if (c.rule) t.ok(r.script.includes(`\t\t${c.rule}\n`), `${c.name}: in the script`);
    else t.ok(r.script.includes(`\t\t\t${c.frontend.address} . ${c.frontend.protocol} . ${c.frontend.port}\n`), `${c.name}: in the closed set`);
  }
});

t.test('frontends the kernel path cannot serve, or malformed ones, are left out and reported', async (t) => {
  const ok = fe('tcp', '10.0.0.200', 80, [A]);
  const cases: { name: string; frontend: Frontend; error: RegExp }[] = [
    { name: 'PROXY protocol', frontend: fe('tcp', '10.0.0.1', 8080, [A], undefined, { kind: 'ingress', proxyProtocol: 'v2' }), error: /PROXY protocol/ },
    { name: 'idle timeout', frontend: fe('tcp', '10.0.0.201', 80, [A], { idleTimeoutMs: 1000 }), error: /idle timeout/ },
    { name: 'connection limit', frontend: fe('tcp', '10.0.0.202', 80, [A], { maxConnections: 10 }), error: /connection limit/ },
    { name: 'per-backend limit', frontend: fe('tcp', '10.0.0.203', 80, [A], { maxConnectionsPerBackend: 10 }), error: /per-backend/ },
    { name: 'IPv6 frontend', frontend: fe('tcp', 'fd00::1', 80, [A]), error: /not IPv4/ },
    { name: 'IPv6 backend', frontend: fe('tcp', '10.0.0.204', 80, [be('a', 'fd00::2', 80)]), error: /not IPv4/ },
    { name: 'bad port', frontend: fe('tcp', '10.0.0.205', 0, [A]), error: /invalid port 0/ },
    { name: 'bad backend weight', frontend: fe('tcp', '10.0.0.206', 80, [be('a', '10.0.0.2', 80, 0.5)]), error: /invalid port \(80\) or weight \(0.5\)/ },
    { name: 'same address, protocol and port as another', frontend: { ...fe('tcp', '10.0.0.200', 80, [B]), id: 'other' }, error: /already serves tcp 10.0.0.200:80/ },
    { name: 'same id as another', frontend: fe('tcp', '10.0.0.200', 80, [B]), error: /duplicate frontend id/ },
  ];
  for (const c of cases) {
    const r = renderRuleset([ok, c.frontend]);
    t.equal(r.failed.length, 1, c.name);
    t.equal(r.failed[0]?.frontendId, c.frontend.id, `${c.name}: id`);
    t.match(r.failed[0]?.error, c.error, `${c.name}: reason`);
    t.same([...r.state.frontends.values()].map((f) => f.frontendId), [ok.id], `${c.name}: only the good frontend is rendered`);
  }
});

t.test('deltas against the previous render', async (t) => {
  const base = [fe('tcp', '10.0.0.200', 80, [A, B]), fe('udp', '10.0.0.200', 53, [be('a', '10.0.0.2', 53)]), fe('tcp', '10.0.0.201', 80, [])];
  const cases: { name: string; next: Frontend[]; script: string }[] = [
    { name: 'nothing changed: no transaction at all', next: base, script: '' },
    {
      name: 'scaling up rewrites only that frontend rule',
      next: [fe('tcp', '10.0.0.200', 80, [A, B, C]), base[1], base[2]],
      script: `flush chain ip shoal fe_tcp_10_0_0_200_80
add rule ip shoal fe_tcp_10_0_0_200_80 meta l4proto tcp dnat ip addr . port to numgen inc mod 3 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.3 . 8080, 2 : 10.0.0.4 . 8080 } comment "web"
`,
    },
    {
      name: 'draining a backend takes it out of the map',
      next: [fe('tcp', '10.0.0.200', 80, [A, { ...B, weight: 0 }]), base[1], base[2]],
      script: `flush chain ip shoal fe_tcp_10_0_0_200_80
add rule ip shoal fe_tcp_10_0_0_200_80 meta l4proto tcp dnat ip to 10.0.0.2:8080 comment "web"
`,
    },
    {
      name: 'the last backend draining closes the frontend',
      next: [base[0], fe('udp', '10.0.0.200', 53, [be('a', '10.0.0.2', 53, 0)]), base[2]],
      script: `delete element ip shoal frontends { 10.0.0.200 . udp . 53 }
delete chain ip shoal fe_udp_10_0_0_200_53
add element ip shoal closed { 10.0.0.200 . udp . 53 }
`,
    },
    {
      name: 'a backend arriving opens a closed frontend',
      next: [base[0], base[1], fe('tcp', '10.0.0.201', 80, [C])],
      script: `delete element ip shoal closed { 10.0.0.201 . tcp . 80 }
add chain ip shoal fe_tcp_10_0_0_201_80
add rule ip shoal fe_tcp_10_0_0_201_80 meta l4proto tcp dnat ip to 10.0.0.4:8080 comment "web"
add element ip shoal frontends { 10.0.0.201 . tcp . 80 : goto fe_tcp_10_0_0_201_80 }
`,
    },
    {
      name: 'removing frontends removes their elements and chains',
      next: [base[0]],
      script: `delete element ip shoal closed { 10.0.0.201 . tcp . 80 }
delete element ip shoal masq_tcp { 10.0.0.201 . 80 }
delete element ip shoal frontends { 10.0.0.200 . udp . 53 }
delete chain ip shoal fe_udp_10_0_0_200_53
delete element ip shoal masq_udp { 10.0.0.200 . 53 }
`,
    },
    {
      name: 'adding frontends, open and closed',
      next: [...base, fe('udp', '10.0.0.202', 9, [A, C], { policy: 'least-connections' }), fe('udp', '10.0.0.203', 9, [])],
      script: `add chain ip shoal fe_udp_10_0_0_202_9
add rule ip shoal fe_udp_10_0_0_202_9 meta l4proto udp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.0.2 . 8080, 1 : 10.0.0.4 . 8080 } comment "web"
add element ip shoal frontends { 10.0.0.202 . udp . 9 : goto fe_udp_10_0_0_202_9 }
add element ip shoal masq_udp { 10.0.0.202 . 9 }
add element ip shoal closed { 10.0.0.203 . udp . 9 }
add element ip shoal masq_udp { 10.0.0.203 . 9 }
`,
    },
  ];
  const previous = renderRuleset(base).state;
  for (const c of cases) {
    const r = renderRuleset(c.next, previous);
    t.equal(r.full, false, `${c.name}: a delta`);
    t.equal(r.script, c.script, c.name);
    t.same(r.state, renderRuleset(c.next).state, `${c.name}: the state is what a full render gives`);
  }
});

t.test('frontends are rendered in a stable order whatever the input order', async (t) => {
  const fs = [fe('tcp', '10.0.0.201', 80, [A]), fe('udp', '10.0.0.200', 53, [A]), fe('tcp', '10.0.0.200', 80, [A])];
  t.equal(renderRuleset(fs).script, renderRuleset([...fs].reverse()).script);
});

t.test('teardown deletes the table whether or not it exists, and nothing else', async (t) => {
  t.equal(renderTeardown(), 'table ip shoal {}\ndelete table ip shoal\n');
});

t.test('a host-mode frontend is keyed by the node address like any other, and cannot share it with an ingress frontend', async (t) => {
  const host = fe('tcp', '192.168.1.10', 9000, [A], undefined, { id: 'host/tcp/192.168.1.10:9000', kind: 'host' });
  const ingress = fe('tcp', '192.168.1.10', 9000, [B], undefined, { id: 'ingress/tcp/192.168.1.10:9000', kind: 'ingress' });
  const alone = renderRuleset([host]);
  t.same(alone.failed, []);
  t.match(alone.script, /192\.168\.1\.10 \. tcp \. 9000 : goto fe_tcp_192_168_1_10_9000/);
  t.match(alone.script, /meta l4proto tcp dnat ip to 10\.0\.0\.2:8080/);
  const both = renderRuleset([host, ingress]);
  t.same(both.failed, [{ frontendId: 'ingress/tcp/192.168.1.10:9000', error: 'another frontend already serves tcp 192.168.1.10:9000' }]);
});
