import t from 'tap';
import { CommandOutputMalformedError } from '../../../../src/errors';
import { expectedView, parseListing, viewDrift } from '../../../../src/mesh/dataplane/nftables/nft-listing';
import { renderRuleset } from '../../../../src/mesh/dataplane/nftables/nft-ruleset';
import type { Frontend } from '../../../../src/mesh/table/table';

function fe(protocol: 'tcp' | 'udp', address: string, port: number, backends: [string, number][]): Frontend {
  return {
    id: `vip/${protocol}/${address}:${port}`,
    kind: 'vip',
    protocol,
    address,
    port,
    service: 'web',
    backends: backends.map(([a, p], i) => ({ id: `b${i}`, address: a, port: p, weight: 1 })),
  };
}

const FRONTENDS = [
  fe('tcp', '10.0.0.200', 80, [
    ['10.0.0.2', 8080],
    ['10.0.0.3', 8080],
  ]),
  fe('udp', '10.0.0.200', 53, [['10.0.0.2', 5353]]),
  fe('tcp', '10.0.0.201', 80, []),
];

/** What nft 1.0.6 printed (`nft -j list table ip shoal`) after applying renderRuleset(FRONTENDS). */
const LISTING = `
{"nftables": [
    {"metainfo":{"version":"1.0.6","release_name":"Lester Gooch #5","json_schema_version":1}},
    {"table":{"family":"ip","name":"shoal","handle":2}},
    {"map":{"family":"ip","name":"frontends","table":"shoal","type":["ipv4_addr","inet_proto","inet_service"],"handle":10,"map":"verdict","elem":[[{"concat":["10.0.0.200","udp",53]},{"goto":{"target":"fe_udp_10_0_0_200_53"}}],[{"concat":["10.0.0.200","tcp",80]},{"goto":{"target":"fe_tcp_10_0_0_200_80"}}]]}},
    {"set":{"family":"ip","name":"masq_tcp","table":"shoal","type":["ipv4_addr","inet_service"],"handle":11,"elem":[{"concat":["10.0.0.200",80]},{"concat":["10.0.0.201",80]}]}},
    {"set":{"family":"ip","name":"masq_udp","table":"shoal","type":["ipv4_addr","inet_service"],"handle":12,"elem":[{"concat":["10.0.0.200",53]}]}},
    {"set":{"family":"ip","name":"closed","table":"shoal","type":["ipv4_addr","inet_proto","inet_service"],"handle":13,"elem":[{"concat":["10.0.0.201","tcp",80]}]}},
    {"chain":{"family":"ip","table":"shoal","name":"prerouting","handle":1,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"output","handle":2,"type":"nat","hook":"output","prio":-100,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"postrouting","handle":3,"type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"filter_input","handle":4,"type":"filter","hook":"input","prio":0,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"filter_forward","handle":5,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"filter_output","handle":6,"type":"filter","hook":"output","prio":0,"policy":"accept"}},
    {"chain":{"family":"ip","table":"shoal","name":"turn_away","handle":7}},
    {"chain":{"family":"ip","table":"shoal","name":"fe_tcp_10_0_0_200_80","handle":8}},
    {"chain":{"family":"ip","table":"shoal","name":"fe_udp_10_0_0_200_53","handle":9}},
    {"rule":{"family":"ip","table":"shoal","chain":"prerouting","handle":14,"expr":[{"vmap":{"key":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@frontends"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"output","handle":15,"expr":[{"vmap":{"key":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@frontends"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"postrouting","handle":16,"expr":[{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"lo"}},{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"tcp"}},{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"concat":[{"ct":{"key":"ip daddr","dir":"original"}},{"ct":{"key":"proto-dst","dir":"original"}}]},"right":"@masq_tcp"}},{"masquerade":null}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"postrouting","handle":17,"expr":[{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"lo"}},{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"udp"}},{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"concat":[{"ct":{"key":"ip daddr","dir":"original"}},{"ct":{"key":"proto-dst","dir":"original"}}]},"right":"@masq_udp"}},{"masquerade":null}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"filter_input","handle":18,"expr":[{"match":{"op":"==","left":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"right":"@closed"}},{"jump":{"target":"turn_away"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"filter_forward","handle":19,"expr":[{"match":{"op":"==","left":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"right":"@closed"}},{"jump":{"target":"turn_away"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"filter_output","handle":20,"expr":[{"match":{"op":"==","left":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"right":"@closed"}},{"jump":{"target":"turn_away"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"turn_away","handle":21,"expr":[{"reject":{"type":"tcp reset"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"turn_away","handle":22,"expr":[{"reject":{"type":"icmp","expr":"port-unreachable"}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"fe_tcp_10_0_0_200_80","handle":24,"comment":"web","expr":[{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"tcp"}},{"dnat":{"family":"ip","addr":{"map":{"key":{"numgen":{"mode":"inc","mod":2,"offset":0}},"data":{"set":[[0,{"concat":["10.0.0.2",8080]}],[1,{"concat":["10.0.0.3",8080]}]]}}}}}]}},
    {"rule":{"family":"ip","table":"shoal","chain":"fe_udp_10_0_0_200_53","handle":25,"comment":"web","expr":[{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"udp"}},{"dnat":{"addr":"10.0.0.2","port":5353}}]}}
]}`;

t.test('a listing of what was applied matches the expected view', async (t) => {
  const state = renderRuleset(FRONTENDS).state;
  const view = parseListing(LISTING);
  t.same(viewDrift(expectedView(state), view), []);
  t.same([...view.frontends], [
    ['10.0.0.200 . udp . 53', 'fe_udp_10_0_0_200_53'],
    ['10.0.0.200 . tcp . 80', 'fe_tcp_10_0_0_200_80'],
  ]);
  t.same([...view.closed], ['10.0.0.201 . tcp . 80']);
  t.same(view.targets.get('fe_tcp_10_0_0_200_80'), ['10.0.0.2:8080', '10.0.0.3:8080']);
  t.same(view.targets.get('fe_udp_10_0_0_200_53'), ['10.0.0.2:5353']);
});

t.test('drift is reported line by line', async (t) => {
  const applied = renderRuleset(FRONTENDS).state;
  const cases: { name: string; state: Parameters<typeof expectedView>[0]; listing: string; drift: string[] }[] = [
    {
      name: 'the table is gone (flush ruleset)',
      state: applied,
      listing: '{"nftables": []}',
      drift: [
        'chain prerouting missing',
        'chain output missing',
        'chain postrouting missing',
        'chain filter_input missing',
        'chain filter_forward missing',
        'chain filter_output missing',
        'chain turn_away missing',
        'chain fe_tcp_10_0_0_200_80 missing',
        'chain fe_udp_10_0_0_200_53 missing',
        'frontend 10.0.0.200 . tcp . 80 missing',
        'frontend 10.0.0.200 . udp . 53 missing',
        'closed 10.0.0.201 . tcp . 80 missing',
        'masquerade tcp 10.0.0.200 . 80 missing',
        'masquerade tcp 10.0.0.201 . 80 missing',
        'masquerade udp 10.0.0.200 . 53 missing',
        'targets of fe_tcp_10_0_0_200_80 missing',
        'targets of fe_udp_10_0_0_200_53 missing',
      ],
    },
    {
      name: 'the kernel has a backend we did not apply',
      state: renderRuleset([fe('tcp', '10.0.0.200', 80, [['10.0.0.2', 8080]]), FRONTENDS[1], FRONTENDS[2]]).state,
      listing: LISTING,
      drift: ['targets of fe_tcp_10_0_0_200_80 is 10.0.0.2:8080,10.0.0.3:8080, want 10.0.0.2:8080'],
    },
    {
      name: 'the kernel has a frontend we removed',
      state: renderRuleset([FRONTENDS[0], FRONTENDS[2]]).state,
      listing: LISTING,
      drift: [
        'chain fe_udp_10_0_0_200_53 unexpected',
        'frontend 10.0.0.200 . udp . 53 unexpected',
        'masquerade udp 10.0.0.200 . 53 unexpected',
        'targets of fe_udp_10_0_0_200_53 unexpected',
      ],
    },
  ];
  for (const c of cases) t.same(viewDrift(expectedView(c.state), parseListing(c.listing)), c.drift, c.name);
});

t.test('output that is not nft JSON is an error, not an empty table', async (t) => {
  t.throws(() => parseListing('table ip shoal {'), CommandOutputMalformedError);
  t.throws(() => parseListing('{"tables": []}'), CommandOutputMalformedError);
});
