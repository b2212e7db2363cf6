/**
 * Compose variable interpolation (compose-spec "Interpolation"): `$VAR`,
 * `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
 * `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`;
 * defaults may hold further references. And the `.env` file format.
 */
import { InvalidArgumentError } from '../errors';

/** Variables as the shell and `.env` give them; undefined: not set. */
export type Variables = Readonly<Record<string, string | undefined>>;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** What interpolation noticed besides errors: variables used but not set (Docker warns of each). */
export interface InterpolationNotes {
  unset: Set<string>;
}

/**
 * `text` with every reference replaced. `where` names the value in errors
 * (`services.web.environment.FOO`); an unclosed `${` or a `:?` on an unset
 * variable throws InvalidArgumentError.
 */
export function interpolate(text: string, vars: Variables, where: string, notes?: InterpolationNotes): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InvalidArgumentError(`${where}: invalid interpolation format in "${text}": unclosed \${`);
      out += braced(text.slice(i + 2, end), vars, where, notes);
      i = end + 1;
    } else if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < text.length && NAME_CHAR.test(text[j])) j++;
      out += lookup(text.slice(i + 1, j), vars, notes);
      i = j;
    } else {
      // A lone `$` (end of text, `$1`, `$ `): kept, as compose does.
      out += '$';
      i++;
    }
  }
  return out;
}

/** Index of the `}` that closes a `${` whose body starts at `from`, counting nested `${...}`. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}') {
      if (depth === 0) return j;
      depth--;
    }
  }
  return -1;
}

function lookup(name: string, vars: Variables, notes?: InterpolationNotes): string {
  const v = vars[name];
  if (v === undefined) {
    notes?.unset.add(name);
    return '';
  }
  return v;
}

function braced(body: string, vars: Variables, where: string, notes?: InterpolationNotes): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
  if (!m) throw new InvalidArgumentError(`${where}: invalid interpolation format for "\${${body}}": use \${VAR}, \${VAR:-default} or \${VAR:?error}`);
  const [, name, op, arg = ''] = m;
  const value = vars[name];
  if (!op) return lookup(name, vars, notes);
  const colon = op.startsWith(':');
  const set = colon ? value !== undefined && value !== '' : value !== undefined;
  const rest = () => interpolate(arg, vars, where, notes);
  switch (op.slice(-1)) {
    case '-':
      return set ? (value as string) : rest();
    case '+':
      return set ? rest() : '';
    default: {
      if (set) return value as string;
      const why = rest();
      throw new InvalidArgumentError(`${where}: required variable ${name} is ${colon && value === '' ? 'empty' : 'not set'}${why ? `: ${why}` : ''}`);
    }
  }
}

/** Interpolate every string in a parsed compose document (values only, not keys, as compose does). */
export function interpolateTree(node: unknown, vars: Variables, where: string, notes?: InterpolationNotes): unknown {
  if (typeof node === 'string') return interpolate(node, vars, where, notes);
  if (Array.isArray(node)) return node.map((x, i) => interpolateTree(x, vars, `${where}[${i}]`, notes));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, interpolateTree(v, vars, where ? `${where}.${k}` : k, notes)]));
  }
  return node;
}

/**
 * A `.env` file: `KEY=VALUE` lines, `export ` allowed, `#` comments,
 * single quotes literal, double quotes with `\n`, `\t`, `\"` and `\\`,
 * an unquoted value ends before ` #`. A bad line throws, naming its number.
 */
export function parseDotEnv(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new InvalidArgumentError(`${file}:${n + 1}: invalid line "${line}": use KEY=VALUE`);
    const [, key, rest] = m;
    out[key] = dotEnvValue(rest, `${file}:${n + 1}`);
  });
  return out;
}

function dotEnvValue(rest: string, where: string): string {
  const q = rest[0];
  if (q === "'" || q === '"') {
    const end = rest.indexOf(q, 1);
    let j = end;
    if (q === '"') {
      j = 1;
      while (j < rest.length && rest[j] !== '"') j += rest[j] === '\\' ? 2 : 1;
    }
    if (j < 0 || j >= rest.length) throw new InvalidArgumentError(`${where}: unclosed quote`);
    const inner = rest.slice(1, j);
    if (q === "'") return inner;
    return inner.replace(/\\([nrt"\\$])/g, (_, ch: string) => ({ n: '\n', r: '\r', t: '\t' })[ch] ?? ch);
  }
  const hash = rest.search(/\s#/);
  return (hash >= 0 ? rest.slice(0, hash) : rest).trim();
}
