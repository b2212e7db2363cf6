/**
 * What `nft -j list table ip shoal` says the kernel holds, reduced to what
 * the renderer controls, so the dataplane can tell when someone (a firewall
 * reload's `flush ruleset`, an operator) changed shoal's table behind its
 * back and rebuild it.
 */
import { CommandOutputMalformedError } from '../../../errors';
import type { Protocol } from '../../../model/types';
import { CLOSED_SET, FRONTENDS_MAP, masqueradeSet, NFT_TABLE, TURN_AWAY_CHAIN, type NftState } from './nft-ruleset';

/** Shoal's table as the kernel has it. */
export interface KernelView {
  /** Chain name -> number of rules. */
  chains: Map<string, number>;
  /** `addr . proto . port` -> the chain the frontends map jumps to. */
  frontends: Map<string, string>;
  /** `addr . proto . port` of closed frontends. */
  closed: Set<string>;
  /** `proto addr . port` of masqueraded frontends. */
  masquerade: Set<string>;
  /** Per frontend chain: `addr:port` of each slot of its dnat, in slot order. */
  targets: Map<string, string[]>;
}

/** Fixed chains and their rule counts, as renderFull() writes them. */
const FIXED_CHAINS: ReadonlyArray<[string, number]> = [
  ['prerouting', 1],
  ['output', 1],
  ['postrouting', 2],
  ['filter_input', 1],
  ['filter_forward', 1],
  ['filter_output', 1],
  [TURN_AWAY_CHAIN, 2],
];

/** The view the kernel should have once `state` was applied. */
export function expectedView(state: NftState): KernelView {
  const view = emptyView();
  for (const [name, rules] of FIXED_CHAINS) view.chains.set(name, rules);
  for (const f of state.frontends.values()) {
    const key = `${f.address} . ${f.protocol} . ${f.port}`;
    view.masquerade.add(`${f.protocol} ${f.address} . ${f.port}`);
    if (f.rule === undefined) {
      view.closed.add(key);
      continue;
    }
    view.chains.set(f.chain, 1);
    view.frontends.set(key, f.chain);
    view.targets.set(f.chain, f.targets);
  }
  return view;
}

/** The parts of nft's JSON objects the parser reads; everything else is ignored. */
interface NftJsonItem {
  chain?: { table: string; name: string };
  map?: { table: string; name: string; elem?: unknown[] };
  set?: { table: string; name: string; elem?: unknown[] };
  rule?: { table: string; chain: string; expr?: { dnat?: NftJsonDnat }[] };
}

/** A dnat statement: a plain `addr`/`port`, or a map from slot numbers to `{concat: [addr, port]}`. */
interface NftJsonDnat {
  addr?: string | { map?: { data?: { set?: [number, unknown][] } } };
  port?: number;
}

/** Parses `nft -j list table ip shoal` output; throws CommandOutputMalformedError when it is not nft's JSON. */
export function parseListing(json: string): KernelView {
  let doc: { nftables?: unknown };
  try {
    doc = JSON.parse(json) as { nftables?: unknown };
  } catch (err) {
    throw new CommandOutputMalformedError(`nft -j list printed something that is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc.nftables)) throw new CommandOutputMalformedError('nft -j list printed JSON without an "nftables" array');
  const view = emptyView();
  for (const item of doc.nftables as NftJsonItem[]) {
    if (item.chain?.table === NFT_TABLE) {
      view.chains.set(item.chain.name, view.chains.get(item.chain.name) ?? 0);
    } else if (item.map?.table === NFT_TABLE && item.map.name === FRONTENDS_MAP) {
      for (const pair of elements(item.map.elem)) {
        const [key, verdict] = pair as [unknown, { goto?: { target: string }; jump?: { target: string } }];
        view.frontends.set(concatText(key), verdict?.goto?.target ?? verdict?.jump?.target ?? JSON.stringify(verdict));
      }
    } else if (item.set?.table === NFT_TABLE) {
      const name = item.set.name;
      const protocol = (['tcp', 'udp'] as Protocol[]).find((p) => masqueradeSet(p) === name);
      for (const e of elements(item.set.elem)) {
        if (name === CLOSED_SET) view.closed.add(concatText(e));
        else if (protocol) view.masquerade.add(`${protocol} ${concatText(e)}`);
      }
    } else if (item.rule?.table === NFT_TABLE) {
      const chain = item.rule.chain;
      view.chains.set(chain, (view.chains.get(chain) ?? 0) + 1);
      const dnat = item.rule.expr?.find((e) => e.dnat)?.dnat;
      if (dnat) view.targets.set(chain, dnatTargets(dnat));
    }
  }
  return view;
}

/** Differences between what the kernel should hold and what it holds, one line each; empty when they match. */
export function viewDrift(expected: KernelView, actual: KernelView): string[] {
  const drift: string[] = [];
  diffMap('chain', expected.chains, actual.chains, drift);
  diffMap('frontend', expected.frontends, actual.frontends, drift);
  diffMap('closed', setAsMap(expected.closed), setAsMap(actual.closed), drift);
  diffMap('masquerade', setAsMap(expected.masquerade), setAsMap(actual.masquerade), drift);
  diffMap(
    'targets of',
    new Map([...expected.targets].map(([k, v]) => [k, v.join(',')])),
    new Map([...actual.targets].map(([k, v]) => [k, v.join(',')])),
    drift,
  );
  return drift;
}

function emptyView(): KernelView {
  return { chains: new Map(), frontends: new Map(), closed: new Set(), masquerade: new Set(), targets: new Map() };
}

// nft lists set elements either bare or wrapped as {"elem": {"val": ...}} when they carry a timeout or comment.
function elements(elem: unknown[] | undefined): unknown[] {
  return (elem ?? []).map((e) => (isObject(e) && isObject(e.elem) ? e.elem.val : e));
}

function concatText(value: unknown): string {
  if (isObject(value) && Array.isArray(value.concat)) return value.concat.map(String).join(' . ');
  return String(value);
}

function dnatTargets(dnat: NftJsonDnat): string[] {
  if (typeof dnat.addr === 'string') return [`${dnat.addr}:${dnat.port}`];
  const pairs = dnat.addr?.map?.data?.set ?? [];
  return [...pairs].sort((a, b) => a[0] - b[0]).map(([, v]) => concatText(v).replace(' . ', ':'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function setAsMap(set: Set<string>): Map<string, string> {
  return new Map([...set].map((k) => [k, 'present']));
}

function diffMap<V>(what: string, expected: Map<string, V>, actual: Map<string, V>, out: string[]): void {
  for (const [k, v] of expected) {
    if (!actual.has(k)) out.push(`${what} ${k} missing`);
    else if (actual.get(k) !== v) out.push(`${what} ${k} is ${String(actual.get(k))}, want ${String(v)}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`${what} ${k} unexpected`);
}
