/**
 * The nftables ruleset of shoal's own table, `table ip shoal`, rendered from
 * the LB table: pure text in, text out, so every rule the kernel gets is in a
 * golden test. The shell feeds the script to `nft -f -`, which applies it as
 * one atomic transaction: a packet sees the old ruleset or the new one, never
 * half of each.
 *
 * Layout:
 * - `map frontends`: `daddr . l4proto . dport` → `goto fe_<proto>_<addr>_<port>`,
 *   looked up from the nat `prerouting` hook (clients on other hosts and in
 *   task namespaces) and the nat `output` hook (clients on the node itself).
 * - one chain per frontend holding a single dnat rule: `numgen inc` over the
 *   serving backends (round robin), `numgen random` (least-connections: the
 *   kernel cannot count connections, random is the stateless approximation)
 *   or `jhash ip saddr` over rendezvous buckets (source hash: a client keeps
 *   its backend for as long as the backend set is unchanged, whatever
 *   affinityTimeoutMs says, and a change moves only the clients whose bucket
 *   moved). Weight n repeats a backend n times; weight 0 (draining) leaves
 *   the map, while conntrack keeps its established connections flowing,
 *   since NAT rules are only consulted on a connection's first packet. For
 *   the same reason a UDP flow stays with a removed backend until conntrack
 *   forgets it (30 s without a reply, 120 s once answered).
 * - `set closed`: frontends without a serving backend, turned away from the
 *   filter hooks (TCP reset, ICMP port unreachable) as the userspace plane
 *   turns them away; nat chains cannot reject.
 * - masquerade in `postrouting` for every connection we DNATed (matched by
 *   its original destination in `masq_tcp`/`masq_udp`, so another table's
 *   DNAT is left alone), except what is delivered on this node through `lo`. Replies must come back through the
 *   node that rewrote the destination: a backend on the same bridge as the
 *   client, or on another host over VXLAN, would otherwise answer the client
 *   directly with its own address and the client would drop it. The cost is
 *   the client's address (backends see the node's); a service that needs it
 *   uses PROXY protocol, which is served in userspace (see kernel-capable.ts).
 *
 * A first apply (or one after a failure) deletes and re-creates the table in
 * the same transaction; later applies are deltas against the previous
 * rendering, so an unchanged frontend keeps its rule and its numgen counter.
 */
import type { Protocol } from '../../../model/types';
import type { ApplyResult, Backend, Frontend } from '../../table/table';
import { hashBuckets, MAX_WEIGHT_SLOTS, SOURCE_HASH_BUCKETS, weightedSlots } from './backend-slots';
import { kernelBlocker } from './kernel-capable';

/** Family and name of the one table shoal owns; nothing outside it is ever touched. */
export const NFT_FAMILY = 'ip';
/** Name of shoal's table. */
export const NFT_TABLE = 'shoal';

/** Map from frontend key to its chain. */
export const FRONTENDS_MAP = 'frontends';
/** Set of frontend keys without a serving backend. */
export const CLOSED_SET = 'closed';
/** Chain the filter hooks jump to for closed frontends. */
export const TURN_AWAY_CHAIN = 'turn_away';
/** Prefix of per-frontend chains, so a listing tells them from the fixed chains. */
export const FRONTEND_CHAIN_PREFIX = 'fe_';

/** Seed of the source-hash jhash; fixed so that re-rendering a rule keeps every client's bucket (nft would pick a random one). */
export const SOURCE_HASH_SEED = 0x73686f6c;

/** Longest rule comment written (nft allows 128 bytes of user data). */
const MAX_COMMENT_LENGTH = 64;

/** Name of the masquerade set for a protocol. */
export function masqueradeSet(protocol: Protocol): string {
  return `masq_${protocol}`;
}

/** One frontend as it is in the kernel after a render. */
export interface RenderedFrontend {
  frontendId: string;
  protocol: Protocol;
  address: string;
  port: number;
  chain: string;
  /** The dnat rule of the frontend's chain; absent when no backend serves and the frontend is in `closed`. */
  rule?: string;
  /** `addr:port` of each slot of the rule's map, in slot order (one entry for a single backend); empty when closed. */
  targets: string[];
}

/** What the kernel holds after a script ran, keyed by `<proto> <addr>:<port>`; the next render diffs against it. */
export interface NftState {
  frontends: ReadonlyMap<string, RenderedFrontend>;
}

/** Tuning of the renderer. */
export interface NftRenderOptions {
  /** Buckets of a source-hash frontend's map. */
  sourceHashBuckets?: number;
  /** Most slots of a weighted round-robin map. */
  maxWeightSlots?: number;
}

/** A rendered transaction. */
export interface NftRender {
  /** The nft script; empty when the kernel already matches. */
  script: string;
  /** What the kernel holds once the script ran. */
  state: NftState;
  /** Frontends left out, and why (invalid, or needing userspace). */
  failed: ApplyResult['failed'];
  /** Whether the script re-creates the whole table rather than patching it. */
  full: boolean;
}

/** The script that removes shoal's table whether or not it exists (declaring it first makes the delete never fail). */
export function renderTeardown(): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE} {}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n`;
}

/**
 * Render the transaction that brings the kernel from `previous` (undefined:
 * unknown, so rebuild the table) to serving `frontends`. Frontends the kernel
 * cannot serve or that are malformed are left out and reported in `failed`.
 */
export function renderRuleset(frontends: readonly Frontend[], previous?: NftState, options: NftRenderOptions = {}): NftRender {
  const { state, failed } = desiredState(frontends, options);
  const script = previous ? renderDelta(previous, state) : renderFull(state);
  return { script, state, failed, full: !previous };
}

function desiredState(frontends: readonly Frontend[], options: NftRenderOptions): { state: NftState; failed: ApplyResult['failed'] } {
  const failed: ApplyResult['failed'] = [];
  const byKey = new Map<string, RenderedFrontend>();
  const ids = new Set<string>();
  for (const f of frontends) {
    const key = frontendKey(f.protocol, f.address, f.port);
    const problem = ids.has(f.id)
      ? 'duplicate frontend id in table'
      : byKey.has(key)
        ? `another frontend already serves ${f.protocol} ${f.address}:${f.port}`
        : invalidFrontend(f) ?? kernelBlocker(f);
    ids.add(f.id);
    if (problem) {
      failed.push({ frontendId: f.id, error: problem });
      continue;
    }
    const dnat = dnatRule(f, options);
    byKey.set(key, {
      frontendId: f.id,
      protocol: f.protocol,
      address: f.address,
      port: f.port,
      chain: chainName(f),
      ...(dnat ? { rule: dnat.rule } : {}),
      targets: dnat?.targets ?? [],
    });
  }
  const sorted = new Map([...byKey].sort(([a], [b]) => compare(a, b)));
  return { state: { frontends: sorted }, failed };
}

function renderFull(state: NftState): string {
  const all = [...state.frontends.values()];
  const open = all.filter((f) => f.rule !== undefined);
  const closed = all.filter((f) => f.rule === undefined);
  const vmapLookup = `ip daddr . meta l4proto . th dport vmap @${FRONTENDS_MAP}`;
  const closedJump = `ip daddr . meta l4proto . th dport @${CLOSED_SET} jump ${TURN_AWAY_CHAIN}`;
  const lines = [
    // Declaring an empty table first makes the delete succeed when there is none.
    `table ${NFT_FAMILY} ${NFT_TABLE} {}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    ...block('map', FRONTENDS_MAP, ['type ipv4_addr . inet_proto . inet_service : verdict'], open.map((f) => `${elementKey(f)} : goto ${f.chain}`)),
    ...(['tcp', 'udp'] as const).flatMap((p) =>
      block('set', masqueradeSet(p), ['type ipv4_addr . inet_service'], all.filter((f) => f.protocol === p).map(masqueradeKey)),
    ),
    ...block('set', CLOSED_SET, ['type ipv4_addr . inet_proto . inet_service'], closed.map(elementKey)),
    ...block('chain', 'prerouting', ['type nat hook prerouting priority dstnat; policy accept;', vmapLookup]),
    // nft 1.0 only knows the dstnat keyword in prerouting; -100 is its value.
    ...block('chain', 'output', ['type nat hook output priority -100; policy accept;', vmapLookup]),
    ...block('chain', 'postrouting', [
      'type nat hook postrouting priority srcnat; policy accept;',
      // proto-dst only has a type in a concatenation after a protocol match, hence one rule and one set per protocol.
      ...(['tcp', 'udp'] as const).map(
        (p) => `oifname != "lo" meta l4proto ${p} ct status dnat ct original ip daddr . ct original proto-dst @${masqueradeSet(p)} masquerade`,
      ),
    ]),
    ...block('chain', 'filter_input', ['type filter hook input priority filter; policy accept;', closedJump]),
    ...block('chain', 'filter_forward', ['type filter hook forward priority filter; policy accept;', closedJump]),
    ...block('chain', 'filter_output', ['type filter hook output priority filter; policy accept;', closedJump]),
    ...block('chain', TURN_AWAY_CHAIN, ['meta l4proto tcp reject with tcp reset', 'reject with icmp type port-unreachable']),
    ...open.flatMap((f) => block('chain', f.chain, [f.rule!])),
    '}',
  ];
  return lines.join('\n') + '\n';
}

function renderDelta(previous: NftState, next: NftState): string {
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  const out: string[] = [];
  const removeOpen = (f: RenderedFrontend) => {
    // The element goes first: a chain still referenced by the map cannot be deleted.
    out.push(`delete element ${t} ${FRONTENDS_MAP} { ${elementKey(f)} }`);
    out.push(`delete chain ${t} ${f.chain}`);
  };
  const addOpen = (f: RenderedFrontend) => {
    out.push(`add chain ${t} ${f.chain}`);
    out.push(`add rule ${t} ${f.chain} ${f.rule!}`);
    out.push(`add element ${t} ${FRONTENDS_MAP} { ${elementKey(f)} : goto ${f.chain} }`);
  };
  for (const [key, was] of previous.frontends) {
    if (next.frontends.has(key)) continue;
    if (was.rule !== undefined) removeOpen(was);
    else out.push(`delete element ${t} ${CLOSED_SET} { ${elementKey(was)} }`);
    out.push(`delete element ${t} ${masqueradeSet(was.protocol)} { ${masqueradeKey(was)} }`);
  }
  for (const [key, f] of next.frontends) {
    const was = previous.frontends.get(key);
    if (!was) {
      if (f.rule !== undefined) addOpen(f);
      else out.push(`add element ${t} ${CLOSED_SET} { ${elementKey(f)} }`);
      out.push(`add element ${t} ${masqueradeSet(f.protocol)} { ${masqueradeKey(f)} }`);
    } else if (was.rule === f.rule) {
      continue;
    } else if (was.rule !== undefined && f.rule !== undefined) {
      // Replacing the rule restarts its numgen counter; only this frontend's.
      out.push(`flush chain ${t} ${f.chain}`);
      out.push(`add rule ${t} ${f.chain} ${f.rule}`);
    } else if (f.rule === undefined) {
      removeOpen(was);
      out.push(`add element ${t} ${CLOSED_SET} { ${elementKey(f)} }`);
    } else {
      out.push(`delete element ${t} ${CLOSED_SET} { ${elementKey(f)} }`);
      addOpen(f);
    }
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** The dnat rule of a frontend and its slots, or undefined when no backend takes new connections. */
function dnatRule(f: Frontend, options: NftRenderOptions): { rule: string; targets: string[] } | undefined {
  const policy = f.lb?.policy ?? 'round-robin';
  const slots =
    policy === 'source-hash'
      ? hashBuckets(f.backends, options.sourceHashBuckets ?? SOURCE_HASH_BUCKETS)
      : weightedSlots(f.backends, options.maxWeightSlots ?? MAX_WEIGHT_SLOTS);
  if (slots.length === 0) return undefined;
  const comment = `comment "${commentText(f.service)}"`;
  const match = `meta l4proto ${f.protocol}`;
  const targets = slots.map(target);
  if (new Set(targets).size === 1) return { rule: `${match} dnat ip to ${targets[0]} ${comment}`, targets: [targets[0]] };
  const selector =
    policy === 'source-hash'
      ? `jhash ip saddr mod ${slots.length} seed 0x${SOURCE_HASH_SEED.toString(16)}`
      : `numgen ${policy === 'least-connections' ? 'random' : 'inc'} mod ${slots.length}`;
  const map = slots.map((b, i) => `${i} : ${b.address} . ${b.port}`).join(', ');
  return { rule: `${match} dnat ip addr . port to ${selector} map { ${map} } ${comment}`, targets };
}

function block(kind: 'table' | 'map' | 'set' | 'chain', name: string, body: string[], elements?: string[]): string[] {
  const lines = [`\t${kind} ${name} {`, ...body.map((l) => `\t\t${l}`)];
  if (elements && elements.length > 0) {
    lines.push('\t\telements = {', ...elements.map((e, i) => `\t\t\t${e}${i < elements.length - 1 ? ',' : ''}`), '\t\t}');
  }
  lines.push('\t}');
  return lines;
}

function invalidFrontend(f: Frontend): string | undefined {
  if (f.protocol !== 'tcp' && f.protocol !== 'udp') return `unknown protocol ${String(f.protocol)}`;
  if (!validPort(f.port)) return `invalid port ${f.port}`;
  const bad = f.backends.find((b) => !validPort(b.port) || !Number.isInteger(b.weight) || b.weight < 0);
  if (bad) return `backend ${bad.id} has an invalid port (${bad.port}) or weight (${bad.weight})`;
  return undefined;
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65_535;
}

function frontendKey(protocol: Protocol, address: string, port: number): string {
  return `${protocol} ${address}:${port}`;
}

/** A chain name nft accepts unquoted, unique per (protocol, address, port) like the map key. */
function chainName(f: Frontend): string {
  return `${FRONTEND_CHAIN_PREFIX}${f.protocol}_${f.address.replace(/\./g, '_')}_${f.port}`;
}

function elementKey(f: RenderedFrontend): string {
  return `${f.address} . ${f.protocol} . ${f.port}`;
}

function masqueradeKey(f: RenderedFrontend): string {
  return `${f.address} . ${f.port}`;
}

function target(b: Backend): string {
  return `${b.address}:${b.port}`;
}

// A service name cannot break out of the quoted comment, whatever it holds.
function commentText(service: string): string {
  return service.replace(/[^A-Za-z0-9_.\-]/g, '_').slice(0, MAX_COMMENT_LENGTH);
}

// Code-unit order, not localeCompare: the script must not depend on the host's locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
