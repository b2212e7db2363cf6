/**
 * Secrets and configs as the user gives them: their names and data
 * (`secret create`), and the references a task template makes to them
 * (`--secret src,target=...,uid=,gid=,mode=`). Pure checks, shared by the API
 * and the CLI; the manager then resolves names to ids against the store.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { PayloadReference } from '../model/types';

/** Which of the two objects: their rules differ only in size and where targets live. */
export type PayloadKind = 'secret' | 'config';

/** Docker's limits: swarmkit's MaxSecretSize (500 KiB) and MaxConfigSize (1000 KiB). */
export const MAX_PAYLOAD_BYTES: Record<PayloadKind, number> = { secret: 500 * 1024, config: 1000 * 1024 };
/** Docker's default file mode of a secret or config in the task: world-readable, as inside a container. */
export const DEFAULT_PAYLOAD_MODE = 0o444;
/** Where a task finds its secrets in its own mount namespace (netns mode); relative targets live under it. */
export const SECRETS_MOUNT = '/run/secrets';

/** Docker's name rule for secrets and configs (swarmkit validateConfigOrSecretAnnotations). */
const NAME_RE = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
const MAX_NAME = 64;

function fail(msg: string): never {
  throw new InvalidArgumentError(msg);
}

/** A valid secret or config name, or InvalidArgumentError saying why not. */
export function validatePayloadName(name: unknown, kind: PayloadKind): string {
  if (typeof name !== 'string' || !name) fail(`${kind} name is required`);
  if (name.length > MAX_NAME || !NAME_RE.test(name)) {
    fail(`invalid ${kind} name "${name}": use at most ${MAX_NAME} letters, digits, '-', '_' and '.', starting and ending with a letter or digit`);
  }
  return name;
}

/** Data of a new secret or config: 1 byte up to the kind's limit. */
export function checkPayloadSize(bytes: number, kind: PayloadKind): void {
  const max = MAX_PAYLOAD_BYTES[kind];
  if (bytes < 1) fail(`${kind} data must not be empty`);
  if (bytes > max) fail(`${kind} data is ${bytes} bytes: at most ${max} (${max / 1024} KiB)`);
}

/** What `POST /v1/secrets` and `/v1/configs` carry, checked: the data decoded from base64. */
export interface PayloadCreate {
  name: string;
  labels: Record<string, string>;
  data: Buffer;
}

/** Check a create request body `{ name, labels?, data: base64 }`. */
export function validatePayloadCreate(body: unknown, kind: PayloadKind): PayloadCreate {
  if (!body || typeof body !== 'object') fail(`${kind} create body must be an object`);
  const b = body as Record<string, unknown>;
  const name = validatePayloadName(b.name, kind);
  const labels: Record<string, string> = {};
  if (b.labels !== undefined && b.labels !== null) {
    if (typeof b.labels !== 'object' || Array.isArray(b.labels)) fail('labels must be an object of strings');
    for (const [k, v] of Object.entries(b.labels as Record<string, unknown>)) {
      if (!k || typeof v !== 'string') fail(`label ${k}: value must be a string`);
      labels[k] = v;
    }
  }
  if (typeof b.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b.data) || b.data.length % 4 !== 0) fail(`${kind} data must be base64`);
  const data = Buffer.from(b.data, 'base64');
  checkPayloadSize(data.length, kind);
  return { name, labels, data };
}

/**
 * A reference's target, normalised: a secret's is a relative path under the
 * secrets dir (an absolute one must be under /run/secrets), a config's is an
 * absolute path. No `..`, no empty segment, no NUL.
 */
export function normaliseTarget(target: string, kind: PayloadKind): string {
  if (!target || target.includes('\0')) fail(`invalid ${kind} target "${target}"`);
  if (target.split('/').some((seg) => seg === '..')) fail(`invalid ${kind} target "${target}": must not contain ".."`);
  if (kind === 'config') {
    if (!target.startsWith('/')) fail(`invalid config target "${target}": must be an absolute path`);
    const t = path.posix.normalize(target);
    if (t === '/') fail(`invalid config target "${target}": must name a file`);
    return t;
  }
  let rel = target;
  if (target.startsWith('/')) {
    const t = path.posix.normalize(target);
    if (!t.startsWith(SECRETS_MOUNT + '/')) fail(`invalid secret target "${target}": an absolute target must be under ${SECRETS_MOUNT}/`);
    rel = t.slice(SECRETS_MOUNT.length + 1);
  }
  rel = path.posix.normalize(rel);
  if (!rel || rel === '.' || rel.startsWith('/') || rel.endsWith('/')) fail(`invalid secret target "${target}": must name a file`);
  return rel;
}

/** The default target of a reference to `name`: Docker's /run/secrets/<name> and /<name>. */
export function defaultTarget(name: string, kind: PayloadKind): string {
  return kind === 'secret' ? name : `/${name}`;
}

function idOf(v: unknown, what: string, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(`invalid ${what} ${JSON.stringify(v)}: must be an integer from 0 to ${max}`);
  return v;
}

/** Check a template's `secrets` or `configs` list and fill Docker's defaults; undefined for none. */
export function validatePayloadRefs(v: unknown, kind: PayloadKind): PayloadReference[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(`${kind}s must be a list`);
  const out: PayloadReference[] = [];
  const targets = new Set<string>();
  for (const raw of v) {
    if (!raw || typeof raw !== 'object') fail(`each ${kind} reference must be an object`);
    const r = raw as Record<string, unknown>;
    const name = validatePayloadName(r.name, kind);
    if (r.id !== undefined && typeof r.id !== 'string') fail(`${kind} id must be a string`);
    const f = (r.file ?? {}) as Record<string, unknown>;
    if (f.target !== undefined && typeof f.target !== 'string') fail(`${kind} target must be a string`);
    const target = normaliseTarget((f.target as string | undefined) ?? defaultTarget(name, kind), kind);
    if (targets.has(target)) fail(`${kind} target ${target} is used twice: each file needs its own target`);
    targets.add(target);
    const mode = idOf(f.mode, `${kind} file mode`, 0o777) ?? DEFAULT_PAYLOAD_MODE;
    const file: PayloadReference['file'] = { target, mode };
    const uid = idOf(f.uid, `${kind} uid`, 2 ** 32 - 2);
    const gid = idOf(f.gid, `${kind} gid`, 2 ** 32 - 2);
    if (uid !== undefined) file.uid = uid;
    if (gid !== undefined) file.gid = gid;
    out.push({ id: (r.id as string | undefined) ?? '', name, file });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Docker's `--secret` / `--config` value: `NAME` alone, or comma-separated
 * `source=` (or `src=`), `target=`, `uid=`, `gid=`, `mode=` (octal, `0400`).
 * The manager checks the rest (targets, that the object exists).
 */
export function parsePayloadFlag(value: string, kind: PayloadKind): PayloadReference {
  const v = value.trim();
  if (!v) fail(`--${kind} needs a ${kind} name`);
  if (!v.includes('=')) return { id: '', name: validatePayloadName(v, kind), file: { target: defaultTarget(v, kind), mode: DEFAULT_PAYLOAD_MODE } };
  const fields: Record<string, string> = {};
  for (const part of v.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (eq < 0 || !['source', 'src', 'target', 'uid', 'gid', 'mode'].includes(key)) fail(`invalid --${kind} "${value}": use source=NAME,target=PATH,uid=N,gid=N,mode=0444`);
    fields[key === 'src' ? 'source' : key] = part.slice(eq + 1).trim();
  }
  if (!fields.source) fail(`invalid --${kind} "${value}": source is required`);
  const name = validatePayloadName(fields.source, kind);
  const num = (s: string | undefined, what: string, octal = false): number | undefined => {
    if (s === undefined) return undefined;
    if (!(octal ? /^[0-7]{1,4}$/ : /^\d+$/).test(s)) fail(`invalid ${kind} ${what} "${s}"${octal ? ': use octal, e.g. 0400' : ''}`);
    return parseInt(s, octal ? 8 : 10);
  };
  const mode = num(fields.mode, 'mode', true);
  if (mode !== undefined && mode > 0o777) fail(`invalid ${kind} mode "${fields.mode}": at most 0777`);
  const file: PayloadReference['file'] = { target: fields.target || defaultTarget(name, kind), mode: mode ?? DEFAULT_PAYLOAD_MODE };
  const uid = num(fields.uid, 'uid');
  const gid = num(fields.gid, 'gid');
  if (uid !== undefined) file.uid = uid;
  if (gid !== undefined) file.gid = gid;
  normaliseTarget(file.target, kind);
  return { id: '', name, file };
}
