/**
 * Placement constraints (`--constraint node.labels.zone==east`): parsing with
 * errors an operator can act on, and matching against a node. Syntax and
 * matching follow swarmkit's `manager/constraint`, restricted to the keys
 * shoal knows.
 */
import { BlockList, isIP } from 'node:net';
import { InvalidArgumentError } from '../errors';
import type { Constraint, Node } from '../model/types';

const LABEL_PREFIX = 'node.labels.';
const NODE_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch', 'node.ip'] as const;
const KNOWN_KEYS_HINT = `${NODE_KEYS.join(', ')} or ${LABEL_PREFIX}<name>`;

// Same character classes as Docker's daemon/cluster/convert and swarmkit's constraint.go.
const KEY_PATTERN = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_PATTERN = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;
const OPERATOR = /==|!=/;

// Docker reports the Go arch names; Node reports its own. Either spelling matches.
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', x64: 'amd64', aarch64: 'arm64' };

/** Parse one `key==value` or `key!=value` expression; throws InvalidArgumentError on bad syntax or an unknown key. */
export function parseConstraint(expr: string): Constraint {
  const m = OPERATOR.exec(expr);
  if (!m) throw invalid(expr, 'expected <key>==<value> or <key>!=<value>');
  const op = m[0] as Constraint['op'];
  const rawKey = expr.slice(0, m.index).trim();
  const value = expr.slice(m.index + 2).trim();
  if (rawKey === '') throw invalid(expr, 'missing key before the operator');
  if (!KEY_PATTERN.test(rawKey)) throw invalid(expr, `invalid key "${rawKey}"`);
  if (value === '') throw invalid(expr, 'empty value');
  if (!VALUE_PATTERN.test(value)) throw invalid(expr, `invalid value "${value}"`);

  const lower = rawKey.toLowerCase();
  if ((NODE_KEYS as readonly string[]).includes(lower)) {
    if (lower === 'node.role' && !['manager', 'worker'].includes(value.toLowerCase())) {
      throw invalid(expr, `node.role must be manager or worker, not "${value}"`);
    }
    if (lower === 'node.ip' && !ipRange(value)) {
      throw invalid(expr, `node.ip wants an IP address or a CIDR like 10.0.0.0/24, not "${value}"`);
    }
    return { key: lower, op, value };
  }
  if (lower.startsWith(LABEL_PREFIX)) {
    const label = rawKey.slice(LABEL_PREFIX.length);
    if (label === '') throw invalid(expr, `missing label name after "${LABEL_PREFIX}"`);
    // Label names keep their case: node labels are matched exactly.
    return { key: LABEL_PREFIX + label, op, value };
  }
  throw invalid(expr, `unknown key "${rawKey}"; use ${KNOWN_KEYS_HINT}`);
}

/** Parse every expression of a task template's placement. */
export function parseConstraints(exprs: readonly string[]): Constraint[] {
  return exprs.map(parseConstraint);
}

/** Whether a node satisfies all constraints (ANDed); `!=` on a label the node lacks matches. */
export function matchConstraints(constraints: readonly Constraint[], node: Node): boolean {
  for (const c of constraints) {
    if (!matchOne(c, node)) return false;
  }
  return true;
}

function matchOne(c: Constraint, node: Node): boolean {
  let equal: boolean;
  if (c.key === 'node.ip') {
    const range = ipRange(c.value);
    const family = isIP(node.address ?? '');
    // A node without a usable address is in no range: `==` fails, `!=` holds.
    equal = !!range && family !== 0 && range.check(node.address, family === 4 ? 'ipv4' : 'ipv6');
  } else if (c.key.startsWith(LABEL_PREFIX)) {
    const actual = node.labels[c.key.slice(LABEL_PREFIX.length)];
    equal = actual !== undefined && actual === c.value;
  } else {
    const actual = nodeField(c.key, node);
    equal = actual !== undefined && foldEqual(c.key, actual, c.value);
  }
  return c.op === '==' ? equal : !equal;
}

function nodeField(key: string, node: Node): string | undefined {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.platform?.os;
    case 'node.platform.arch':
      return node.platform?.arch;
    default:
      // A key parseConstraint would have rejected: match nothing rather than everything.
      return undefined;
  }
}

// Constraints are matched against every node for every task group; the
// compiled ranges are cached by their text. Specs hold few distinct ranges,
// and the cache is dropped wholesale should something feed it many.
const IP_RANGE_CACHE_LIMIT = 1024;
const ipRanges = new Map<string, BlockList | null>();

/** `10.0.0.5`, `10.0.0.0/24` or an IPv6 form as a matcher, or null when the text is neither. */
function ipRange(value: string): BlockList | null {
  const cached = ipRanges.get(value);
  if (cached !== undefined) return cached;
  const range = compileIpRange(value);
  if (ipRanges.size >= IP_RANGE_CACHE_LIMIT) ipRanges.clear();
  ipRanges.set(value, range);
  return range;
}

function compileIpRange(value: string): BlockList | null {
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return null;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (slash < 0) {
    list.addAddress(addr, type);
    return list;
  }
  const bits = value.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null;
  list.addSubnet(addr, Number(bits), type);
  return list;
}

function foldEqual(key: string, a: string, b: string): boolean {
  let x = a.toLowerCase();
  let y = b.toLowerCase();
  if (key === 'node.platform.arch') {
    x = ARCH_ALIASES[x] ?? x;
    y = ARCH_ALIASES[y] ?? y;
  }
  return x === y;
}

function invalid(expr: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid constraint "${expr}": ${why}`);
}
