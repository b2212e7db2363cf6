import * as dnsPacket from 'dns-packet';
import type { Answer, Packet, Question } from 'dns-packet';
import type { DnsView } from './view';

/** DNS response codes this server sends (RFC 1035 §4.1.1). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

/** Cluster domain when none is configured: `web.shoal` and `tasks.web.shoal` resolve like `web`. */
export const DEFAULT_DNS_DOMAIN = 'shoal';
/**
 * Default TTL of cluster answers. Zero, so resolvers and clients never hold on
 * to a VIP or a task address that has just gone away.
 */
export const DEFAULT_DNS_TTL = 0;
/** Largest TTL an operator may configure (Docker's embedded DNS caps at 600 s too). */
export const MAX_DNS_TTL = 600;
/** UDP payload size advertised in our EDNS OPT record (the DNS flag day 2020 value). */
export const EDNS_UDP_PAYLOAD_SIZE = 1232;

/** How an answer was classified, also the `result` label of the query counter. */
export type AnswerResult = 'ok' | 'nxdomain' | 'nodata' | 'formerr' | 'notimp';

/** Options of the answer builder. */
export interface AnswerOptions {
  /** Cluster domain, lower-case, without leading or trailing dot. */
  domain: string;
  /** TTL of A records, seconds. */
  ttl: number;
  /**
   * Rotation applied to multi-address answers (dnsrr and `tasks.`), so that
   * clients taking the first record spread over tasks. The server passes a
   * counter; leave unset for the sorted order.
   */
  rotate?: number;
}

/** Either a response to send, or "not ours: forward the raw query upstream". */
export type AnswerDecision =
  | { kind: 'answer'; response: Packet; result: AnswerResult }
  | { kind: 'forward' };

/** Where a query name points, before looking at the view. */
type NameClass =
  | { kind: 'service'; label: string }
  | { kind: 'tasks'; label: string }
  | { kind: 'cluster-nxdomain' }
  | { kind: 'apex' }
  | { kind: 'external' };

/** Builds the response to one decoded query from the DNS view, or says to forward it. */
export function answerQuery(query: Packet, view: DnsView, options: AnswerOptions): AnswerDecision {
  const questions = query.questions ?? [];
  if (questions.length !== 1) return answer(errorResponse(query, RCODE.FORMERR), 'formerr');
  // Opcodes other than QUERY (IQUERY, STATUS, NOTIFY, UPDATE) are not served here.
  if (opcodeOf(query) !== 0) return answer(errorResponse(query, RCODE.NOTIMP), 'notimp');

  const question = questions[0];
  const name = normaliseName(question.name);
  const cls = classifyName(name, options.domain, view);
  if (cls.kind === 'external') return { kind: 'forward' };

  let addresses: string[] | null;
  switch (cls.kind) {
    case 'service': {
      const entry = view.services.get(cls.label);
      addresses = !entry ? null : entry.mode === 'vip' ? (entry.vip ? [entry.vip] : []) : entry.taskAddresses;
      break;
    }
    case 'tasks':
      addresses = view.services.get(cls.label)?.taskAddresses ?? null;
      break;
    case 'apex':
      addresses = [];
      break;
    case 'cluster-nxdomain':
      addresses = null;
      break;
  }

  if (addresses === null) {
    return answer(authoritative(query, question, RCODE.NXDOMAIN, []), 'nxdomain');
  }
  // dns-packet's types omit ANY (255) from RecordType, but decode yields it.
  const qtype: string = question.type;
  const wantsA = (qtype === 'A' || qtype === 'ANY') && isInternetClass(question);
  if (!wantsA || addresses.length === 0) {
    return answer(authoritative(query, question, RCODE.NOERROR, []), 'nodata');
  }
  const records = rotate(addresses, options.rotate ?? 0).map(
    (address): Answer => ({ type: 'A', name: question.name, class: 'IN', ttl: options.ttl, data: address }),
  );
  return answer(authoritative(query, question, RCODE.NOERROR, records), 'ok');
}

/**
 * A response carrying only an error code, for a query that was decoded.
 * The question is echoed when there is exactly one, as resolvers match on it.
 */
export function errorResponse(query: Packet, rcode: number): Packet {
  const questions = query.questions?.length === 1 ? query.questions : [];
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: responseFlags(query, rcode, false),
    questions,
    answers: [],
    authorities: [],
    additionals: ednsFor(query),
  };
}

/** Lower-cases a query name and strips the trailing dot some encoders leave. */
export function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function classifyName(name: string, domain: string, view: DnsView): NameClass {
  if (name === '' || name === '.') return { kind: 'external' };
  let rest = name;
  let inDomain = false;
  if (name === domain) {
    // A service may be called like the domain; otherwise the bare domain is the zone apex.
    return view.services.has(name) ? { kind: 'service', label: name } : { kind: 'apex' };
  }
  if (name.endsWith('.' + domain)) {
    rest = name.slice(0, name.length - domain.length - 1);
    inDomain = true;
  }
  const dot = rest.indexOf('.');
  if (dot === -1) return { kind: 'service', label: rest };
  if (rest.startsWith('tasks.') && rest.indexOf('.', dot + 1) === -1) {
    return { kind: 'tasks', label: rest.slice(dot + 1) };
  }
  return inDomain ? { kind: 'cluster-nxdomain' } : { kind: 'external' };
}

function answer(response: Packet, result: AnswerResult): AnswerDecision {
  return { kind: 'answer', response, result };
}

function authoritative(query: Packet, question: Question, rcode: number, answers: Answer[]): Packet {
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: responseFlags(query, rcode, true),
    questions: [question],
    answers,
    authorities: [],
    additionals: ednsFor(query),
  };
}

function responseFlags(query: Packet, rcode: number, aa: boolean): number {
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  return (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | dnsPacket.RECURSION_AVAILABLE | rd | rcode;
}

function opcodeOf(query: Packet): number {
  return ((query.flags ?? 0) >> 11) & 0xf;
}

function isInternetClass(question: Question): boolean {
  const qclass: string | undefined = question.class;
  return qclass === undefined || qclass === 'IN' || qclass === 'ANY';
}

/** RFC 6891 §7: a responder that understands EDNS answers an EDNS query with an OPT record. */
function ednsFor(query: Packet): Answer[] {
  const hasOpt = query.additionals?.some((a) => a.type === 'OPT') ?? false;
  if (!hasOpt) return [];
  return [
    {
      type: 'OPT',
      name: '.',
      udpPayloadSize: EDNS_UDP_PAYLOAD_SIZE,
      extendedRcode: 0,
      ednsVersion: 0,
      flags: 0,
      flag_do: false,
      options: [],
    },
  ];
}

function rotate<T>(items: T[], by: number): T[] {
  const n = items.length;
  const k = n > 1 ? ((by % n) + n) % n : 0;
  return k === 0 ? items.slice() : items.slice(k).concat(items.slice(0, k));
}
