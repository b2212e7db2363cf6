/**
 * Placement constraints (`--constraint node.labels.zone==east`): parsing with
 * errors an operator can act on, and matching against a node. Syntax and
 * matching follow swarmkit's `manager/constraint`, restricted to the keys
 * shoal knows.
 */
import { InvalidArgumentError } from '../../errors';
import type { Constraint, Node } from '../../model/types';

const LABEL_PREFIX = 'node.labels.';
const NODE_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'] as const;
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
  if (c.key.startsWith(LABEL_PREFIX)) {
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
