import t from 'tap';
import * as dnsPacket from 'dns-packet';
import type { Packet, Question } from 'dns-packet';
import { answerQuery, RCODE, type AnswerOptions } from '../../../src/mesh/dns/answer';
import type { DnsView } from '../../../src/mesh/dns/view';

const view: DnsView = {
  services: new Map([
    ['web', { vip: '127.21.0.1', mode: 'vip', taskAddresses: ['127.100.0.1', '127.100.0.2'] }],
    ['db', { vip: null, mode: 'dnsrr', taskAddresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] }],
    ['pending', { vip: null, mode: 'vip', taskAddresses: [] }],
  ]),
};

const defaults: AnswerOptions = { domain: 'shoal', ttl: 0 };

interface Case {
  name: string;
  questions: Question[];
  options?: Partial<AnswerOptions>;
  flags?: number;
  edns?: boolean;
  /** Expected outcome: 'forward' or the answer's result. */
  want: 'forward' | 'ok' | 'nxdomain' | 'nodata' | 'formerr' | 'notimp';
  addresses?: string[];
  ttl?: number;
}

const a = (name: string): Question => ({ type: 'A', name, class: 'IN' });

const cases: Case[] = [
  { name: 'vip service -> VIP', questions: [a('web')], want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'dnsrr service -> task addresses', questions: [a('db')], want: 'ok', addresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] },
  { name: 'dnsrr answers rotate', questions: [a('db')], options: { rotate: 4 }, want: 'ok', addresses: ['127.100.0.4', '127.100.0.5', '127.100.0.3'] },
  { name: 'tasks.<vip service> -> task addresses', questions: [a('tasks.web')], want: 'ok', addresses: ['127.100.0.1', '127.100.0.2'] },
  { name: 'tasks.<dnsrr service>', questions: [a('tasks.db')], want: 'ok', addresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] },
  { name: 'case-insensitive service', questions: [a('WeB')], want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'case-insensitive tasks. and domain', questions: [a('TASKS.Web.SHOAL')], want: 'ok', addresses: ['127.100.0.1', '127.100.0.2'] },
  { name: '<service>.<domain>', questions: [a('web.shoal')], want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'tasks.<service>.<domain>', questions: [a('tasks.db.shoal')], want: 'ok', addresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] },
  { name: 'ANY on a service gives its A records', questions: [{ type: 'ANY' as 'A', name: 'web', class: 'IN' }], want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'TTL option applies', questions: [a('web')], options: { ttl: 30 }, want: 'ok', addresses: ['127.21.0.1'], ttl: 30 },
  { name: 'custom domain', questions: [a('web.cluster.local')], options: { domain: 'cluster.local' }, want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'default domain not served under a custom one', questions: [a('web.shoal')], options: { domain: 'cluster.local' }, want: 'forward' },
  { name: 'unknown single label', questions: [a('nope')], want: 'nxdomain' },
  { name: 'unknown tasks.<label>', questions: [a('tasks.nope')], want: 'nxdomain' },
  { name: 'unknown name in the domain', questions: [a('nope.shoal')], want: 'nxdomain' },
  { name: 'deep name in the domain', questions: [a('x.web.shoal')], want: 'nxdomain' },
  { name: 'AAAA on a service', questions: [{ type: 'AAAA', name: 'web', class: 'IN' }], want: 'nodata' },
  { name: 'MX on tasks.<service>', questions: [{ type: 'MX', name: 'tasks.web', class: 'IN' }], want: 'nodata' },
  { name: 'AAAA on an unknown name stays NXDOMAIN', questions: [{ type: 'AAAA', name: 'nope', class: 'IN' }], want: 'nxdomain' },
  { name: 'vip service without a VIP yet', questions: [a('pending')], want: 'nodata' },
  { name: 'service without running tasks', questions: [a('tasks.pending')], want: 'nodata' },
  { name: 'the domain apex', questions: [a('shoal')], want: 'nodata' },
  { name: 'external name', questions: [a('example.com')], want: 'forward' },
  { name: 'tasks. under an external name', questions: [a('tasks.web.example.com')], want: 'forward' },
  { name: 'the root', questions: [{ type: 'NS', name: '.', class: 'IN' }], want: 'forward' },
  { name: 'two questions', questions: [a('web'), a('db')], want: 'formerr' },
  { name: 'no question', questions: [], want: 'formerr' },
  { name: 'opcode STATUS', questions: [a('web')], flags: 2 << 11, want: 'notimp' },
  { name: 'without RD', questions: [a('web')], flags: 0, want: 'ok', addresses: ['127.21.0.1'] },
  { name: 'EDNS query gets an OPT record back', questions: [a('web')], edns: true, want: 'ok', addresses: ['127.21.0.1'] },
];

const wantRcode = { ok: RCODE.NOERROR, nodata: RCODE.NOERROR, nxdomain: RCODE.NXDOMAIN, formerr: RCODE.FORMERR, notimp: RCODE.NOTIMP };

for (const c of cases) {
  t.test(c.name, async (t) => {
    const queryFlags = c.flags ?? dnsPacket.RECURSION_DESIRED;
    // Through the wire format, so the test sees what the server decodes.
    const query = dnsPacket.decode(
      dnsPacket.encode({
        type: 'query',
        id: 4242,
        flags: queryFlags,
        questions: c.questions,
        additionals: c.edns
          ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
          : [],
      }),
    );
    const decision = answerQuery(query, view, { ...defaults, ...c.options });
    if (c.want === 'forward') {
      t.same(decision, { kind: 'forward' });
      return;
    }
    if (decision.kind !== 'answer') return t.fail(`expected an answer, got ${decision.kind}`);
    t.equal(decision.result, c.want);

    const response = dnsPacket.decode(dnsPacket.encode(decision.response)) as ReturnType<typeof dnsPacket.decode> & { rcode: string };
    t.equal(response.id, 4242, 'id copied');
    t.equal(response.type, 'response');
    t.equal(response.flags! & 0xf, wantRcode[c.want], 'rcode');
    t.equal(response.flag_ra, true, 'RA set');
    t.equal(response.flag_rd, (queryFlags & dnsPacket.RECURSION_DESIRED) !== 0, 'RD copied');
    const cluster = c.want === 'ok' || c.want === 'nodata' || c.want === 'nxdomain';
    t.equal(response.flag_aa, cluster, 'AA on cluster answers only');
    if (cluster) t.same(response.questions, [{ ...c.questions[0], class: c.questions[0].class }], 'question echoed as asked');

    const answers = response.answers ?? [];
    t.same(
      answers.map((r) => (r.type === 'A' ? r.data : r.type)),
      c.addresses ?? [],
      'answers',
    );
    for (const r of answers) {
      if (r.type !== 'A') continue;
      t.equal(r.ttl, c.ttl ?? 0, 'ttl');
      t.equal(r.name, c.questions[0].name, 'answer name keeps the query case');
    }
    t.equal((response.additionals ?? []).filter((r) => r.type === 'OPT').length, c.edns ? 1 : 0, 'OPT mirrors EDNS');
  });
}

t.test('a query without questions array is FORMERR, not a crash', async (t) => {
  const decision = answerQuery({ id: 1 } as Packet, view, defaults);
  t.equal(decision.kind === 'answer' && decision.result, 'formerr');
});
