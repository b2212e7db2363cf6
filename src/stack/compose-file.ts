/**
 * Reading compose files as `docker stack deploy -c` does: YAML (with the
 * legacy octal `0440` that compose files write file modes in), variables
 * from the environment and the project's `.env`, several files merged in
 * order (compose-spec "Merge and override"), then the schema check.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML, { type ScalarTag } from 'yaml';
import { InvalidArgumentError } from '../errors';
import { validateComposeDocument, type ComposeProject } from './compose-schema';
import { interpolateTree, parseDotEnv, type InterpolationNotes, type Variables } from './interpolate';

/** What the files say, merged and checked, and where relative paths start. */
export interface LoadedCompose {
  project: ComposeProject;
  /** The first file's directory: relative paths (env_file, secrets' file, working_dir) start here. */
  dir: string;
  /** The variables interpolation used (the environment over `.env`). */
  vars: Variables;
  /** One line each: a variable used but not set, a key shoal does not honour. */
  warnings: string[];
}

/** `0440`: an integer in octal, as YAML 1.1 and compose (Go's yaml.v3) read it; YAML 1.2 would read 440. */
const LEGACY_OCTAL: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^0[0-7]+$/,
  resolve: (s: string) => parseInt(s, 8),
};

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read compose file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** One file's YAML as a plain object; a YAML error names the file, line and column. */
export function parseComposeYaml(text: string, file: string): Record<string, unknown> {
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines, customTags: (tags) => [LEGACY_OCTAL, ...tags] });
  const err = doc.errors[0];
  if (err) {
    const at = lines.linePos(err.pos[0]);
    const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new InvalidArgumentError(`${file}${at ? `:${at.line}:${at.col}` : ''}: invalid YAML: ${msg}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new InvalidArgumentError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  if (value === null || value === undefined) throw new InvalidArgumentError(`${file}: empty compose file`);
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(`${file}: a compose file must be a mapping (services:, networks:, ...)`);
  return value as Record<string, unknown>;
}

/** The `.env` next to the first file, if there is one. */
function dotEnvOf(dir: string): Record<string, string> {
  const file = path.join(dir, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  return parseDotEnv(text, file);
}

/**
 * Load, interpolate, merge and check `files` (in order, later ones
 * override). `env` is the caller's environment; it wins over `.env`.
 * Throws InvalidArgumentError, one line, on the first problem.
 */
export function loadComposeFiles(files: readonly string[], env: Variables): LoadedCompose {
  if (files.length === 0) throw new InvalidArgumentError('a compose file is required: shoal stack deploy -c FILE NAME');
  const dir = path.dirname(path.resolve(files[0]));
  const vars: Variables = { ...dotEnvOf(dir), ...env };
  const notes: InterpolationNotes = { unset: new Set() };
  let merged: Record<string, unknown> = {};
  for (const file of files) {
    const raw = parseComposeYaml(readText(file), file);
    const doc = interpolateTree(raw, vars, '', notes) as Record<string, unknown>;
    merged = mergeCompose(merged, normaliseDoc(doc)) as Record<string, unknown>;
  }
  const { project, warnings } = validateComposeDocument(merged, files.length === 1 ? files[0] : files.join(' + '));
  const unset = [...notes.unset].sort().map((v) => `the ${v} variable is not set: defaulting to a blank string`);
  return { project, dir, vars, warnings: [...unset, ...warnings] };
}

/** Keys whose value a later file replaces whole, rather than merges into. */
const REPLACED = new Set(['command', 'entrypoint', 'x-shoal-command', 'test']);
/** Service keys that may be a list of `KEY=VALUE` or a mapping: made mappings so files merge by key. */
const KEY_VALUE_LISTS = new Set(['environment', 'labels', 'sysctls', 'extra_hosts', 'annotations']);

/** `[A=1, B]` as `{ A: '1', B: null }`, as compose reads the list form. */
function keyValueMap(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return Object.fromEntries(
    v.map((item) => {
      const s = String(item);
      const eq = s.indexOf('=');
      return eq < 0 ? [s, null] : [s.slice(0, eq), s.slice(eq + 1)];
    }),
  );
}

function normaliseDoc(doc: Record<string, unknown>): Record<string, unknown> {
  const services = doc.services;
  if (!services || typeof services !== 'object' || Array.isArray(services)) return doc;
  const out: Record<string, unknown> = {};
  for (const [name, svc] of Object.entries(services as Record<string, unknown>)) {
    if (!svc || typeof svc !== 'object' || Array.isArray(svc)) {
      out[name] = svc;
      continue;
    }
    const s: Record<string, unknown> = { ...(svc as Record<string, unknown>) };
    for (const k of KEY_VALUE_LISTS) if (k in s) s[k] = keyValueMap(s[k]);
    const deploy = s.deploy as Record<string, unknown> | undefined;
    if (deploy && typeof deploy === 'object' && 'labels' in deploy) s.deploy = { ...deploy, labels: keyValueMap(deploy.labels) };
    out[name] = s;
  }
  return { ...doc, services: out };
}

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** compose-spec merge: mappings merge key by key, lists join without repeats, scalars and REPLACED keys override. */
export function mergeCompose(base: unknown, over: unknown, key = ''): unknown {
  if (REPLACED.has(key)) return over;
  if (isMap(base) && isMap(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeCompose(base[k], v, k) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) {
    const seen = new Set(base.map((x) => JSON.stringify(x)));
    return [...base, ...over.filter((x) => !seen.has(JSON.stringify(x)))];
  }
  return over;
}
