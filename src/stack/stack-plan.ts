/**
 * What a stack is made of, from a loaded compose project: its networks,
 * secrets and configs with their cluster names and data, and each
 * service's spec, checked as the API would check it. Pure but for reading
 * the files secrets and configs name; nothing touches the cluster here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { ServiceSpec } from '../model/types';
import { validateNetworkRequest } from '../spec/network';
import { checkPayloadSize, validatePayloadName, type PayloadKind } from '../spec/payload';
import { validateServiceSpec } from '../spec/service-spec';
import type { LoadedCompose } from './compose-file';
import { composeServiceSpec, stackName, STACK_LABELS, type ServiceContext } from './compose-service';

type Obj = Record<string, unknown>;

/** A network the stack uses: created with it, or `external` (must exist, never removed). */
export interface PlannedNetwork {
  name: string;
  external: boolean;
  subnet?: string;
  labels: Record<string, string>;
}

/** A secret or config the stack uses: data to create it with, or `external`. */
export interface PlannedPayload {
  kind: PayloadKind;
  name: string;
  external: boolean;
  data?: Buffer;
  labels: Record<string, string>;
}

/** Everything one `stack deploy` wants to exist. */
export interface StackPlan {
  namespace: string;
  networks: PlannedNetwork[];
  payloads: PlannedPayload[];
  services: ServiceSpec[];
}

/** Docker refuses `_` (it separates the stack from the service) and spaces; names must also make valid service names. */
const STACK_NAME_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,30}[a-zA-Z0-9])?$/;

/** A stack name, or InvalidArgumentError saying why not. */
export function validateStackName(name: string): string {
  if (!STACK_NAME_RE.test(name)) {
    throw new InvalidArgumentError(`invalid stack name "${name}": use at most 32 letters, digits, '-' and '.', starting and ending with a letter or digit (no '_' or spaces)`);
  }
  return name;
}

function fail(msg: string): never {
  throw new InvalidArgumentError(msg);
}

const externalName = (def: Obj, key: string) => {
  const ext = def.external;
  const extName = ext && typeof ext === 'object' ? (ext as Obj).name : undefined;
  return String(def.name ?? extName ?? key);
};

function planNetworks(project: LoadedCompose['project'], ns: string, warnings: string[]): { planned: PlannedNetwork[]; names: Map<string, string> } {
  const planned: PlannedNetwork[] = [];
  const names = new Map<string, string>();
  const usesDefault = Object.values(project.services).some((s) => s.networks === undefined);
  const defs: [string, Obj][] = Object.entries(project.networks ?? {}).map(([k, v]) => [k, v ?? {}]);
  if (usesDefault && !defs.some(([k]) => k === 'default')) defs.push(['default', {}]);
  for (const [key, def] of defs) {
    const where = `networks.${key}`;
    if (def.external) {
      names.set(key, externalName(def, key));
      planned.push({ name: externalName(def, key), external: true, labels: {} });
      continue;
    }
    if (def.driver !== undefined && def.driver !== 'overlay') warnings.push(`${where}: driver ${String(def.driver)} is not supported by shoal: using overlay`);
    for (const k of ['driver_opts', 'internal', 'attachable', 'enable_ipv6']) if (def[k] !== undefined) warnings.push(`${where}: ${k} is not supported by shoal: ignored`);
    const configs = ((def.ipam as Obj | undefined)?.config ?? []) as Obj[];
    const name = def.name !== undefined ? String(def.name) : stackName(ns, key);
    const labels = { ...Object.fromEntries(Object.entries((def.labels ?? {}) as Obj).map(([k, v]) => [k, String(v ?? '')])), [STACK_LABELS.namespace]: ns };
    try {
      const req = validateNetworkRequest({ name, subnet: configs[0]?.subnet as string | undefined, labels });
      planned.push({ name: req.name, external: false, ...(req.subnet && { subnet: req.subnet }), labels });
    } catch (err) {
      fail(`${where}: ${(err as Error).message}`);
    }
    names.set(key, name);
  }
  return { planned, names };
}

function payloadData(def: Obj, kind: PayloadKind, where: string, dir: string, vars: LoadedCompose['vars']): Buffer {
  if (typeof def.file === 'string') {
    const file = path.resolve(dir, def.file);
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (typeof def.environment === 'string') {
    const v = vars[def.environment];
    if (v === undefined) fail(`${where}: environment variable ${def.environment} is not set`);
    return Buffer.from(v);
  }
  if (typeof def.content === 'string') return Buffer.from(def.content);
  return fail(`${where}: a ${kind} needs file:, environment:, content: or external: true`);
}

function planPayloads(loaded: LoadedCompose, kind: PayloadKind, ns: string): { planned: PlannedPayload[]; names: Map<string, string> } {
  const defs = (kind === 'secret' ? loaded.project.secrets : loaded.project.configs) ?? {};
  const planned: PlannedPayload[] = [];
  const names = new Map<string, string>();
  for (const [key, def] of Object.entries(defs)) {
    const where = `${kind}s.${key}`;
    if (def.external) {
      const name = externalName(def, key);
      names.set(key, name);
      planned.push({ kind, name, external: true, labels: {} });
      continue;
    }
    const name = def.name !== undefined ? String(def.name) : stackName(ns, key);
    try {
      validatePayloadName(name, kind);
    } catch (err) {
      fail(`${where}: ${(err as Error).message}`);
    }
    const data = payloadData(def, kind, where, loaded.dir, loaded.vars);
    try {
      checkPayloadSize(data.length, kind);
    } catch (err) {
      fail(`${where}: ${(err as Error).message}`);
    }
    const labels = { ...Object.fromEntries(Object.entries((def.labels ?? {}) as Obj).map(([k, v]) => [k, String(v ?? '')])), [STACK_LABELS.namespace]: ns };
    names.set(key, name);
    planned.push({ kind, name, external: false, data, labels });
  }
  return { planned, names };
}

/** Two services may not publish one port: Docker refuses that stack too. */
function checkPortConflicts(specs: readonly { key: string; spec: ServiceSpec }[]): void {
  const owner = new Map<string, string>();
  for (const { key, spec } of specs) {
    for (const p of spec.endpoint.ports) {
      if (p.publishedPort === undefined) continue;
      const port = `${p.publishedPort}/${p.protocol}`;
      const other = owner.get(port);
      if (other !== undefined && other !== key) fail(`services ${other} and ${key} both publish port ${port}`);
      owner.set(port, key);
    }
  }
}

/** The plan for `loaded` as stack `namespace`; InvalidArgumentError naming the first bad key, warnings appended. */
export function planStack(loaded: LoadedCompose, namespace: string, warnings: string[]): StackPlan {
  validateStackName(namespace);
  const { project } = loaded;
  if (Object.keys(project.services).length === 0) fail('the compose file has no services');
  const nets = planNetworks(project, namespace, warnings);
  const secrets = planPayloads(loaded, 'secret', namespace);
  const configs = planPayloads(loaded, 'config', namespace);
  const ctx: ServiceContext = {
    namespace,
    dir: loaded.dir,
    vars: loaded.vars,
    networks: nets.names,
    secrets: secrets.names,
    configs: configs.names,
    defaultNetwork: nets.names.get('default') ?? stackName(namespace, 'default'),
  };
  const specs = Object.entries(project.services).map(([key, svc]) => {
    const raw = composeServiceSpec(key, svc, ctx, warnings);
    try {
      return { key, spec: validateServiceSpec(raw) };
    } catch (err) {
      return fail(`services.${key}: ${(err as Error).message}`);
    }
  });
  checkPortConflicts(specs);
  return { namespace, networks: nets.planned, payloads: [...secrets.planned, ...configs.planned], services: specs.map((s) => s.spec) };
}
