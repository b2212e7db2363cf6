/**
 * What a second `stack deploy` has to do: the plan against what the
 * cluster holds, as a pure function. Services whose spec did not change
 * are left alone, so only changed ones go through the rolling updater.
 */
import { InvalidArgumentError, NotFoundError } from '../errors';
import type { Network, Service, ServiceSpec } from '../model/types';
import { STACK_LABELS } from './compose-service';
import type { PlannedNetwork, PlannedPayload, StackPlan } from './stack-plan';

/** A secret or config as the API lists it (a secret without its data). */
export interface ObservedPayload {
  id: string;
  name: string;
  labels: Record<string, string>;
  data?: string;
}

/** What the cluster holds now. */
export interface Observed {
  services: readonly Service[];
  networks: readonly Network[];
  secrets: readonly ObservedPayload[];
  configs: readonly ObservedPayload[];
}

/** The steps of one deploy, in the order they are taken. */
export interface StackChanges {
  createNetworks: PlannedNetwork[];
  createPayloads: PlannedPayload[];
  /** Secrets of the stack that exist already: kept as they are (their data cannot be read back or changed). */
  keptSecrets: string[];
  create: ServiceSpec[];
  update: { current: Service; spec: ServiceSpec }[];
  unchanged: Service[];
  /** Services of the stack the files no longer have: removed with --prune, else kept. */
  remove: Service[];
  stale: Service[];
}

function fail(msg: string): never {
  throw new InvalidArgumentError(msg);
}

/** Whether an object belongs to stack `ns`. */
export const inStack = (labels: Record<string, string> | undefined, ns: string) => labels?.[STACK_LABELS.namespace] === ns;

/** JSON with sorted keys and no undefined, so two specs compare by content. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : x,
  );
}

/** A stored spec as the plan writes it: network ids as names, secret and config ids left out. */
export function comparableSpec(spec: ServiceSpec, networks: readonly Network[]): ServiceSpec {
  const byId = new Map(networks.map((n) => [n.id, n.name]));
  const noIds = <T extends { id: string }>(refs: T[] | undefined) => refs?.map((r) => ({ ...r, id: '' }));
  return {
    ...spec,
    ...(spec.networks && { networks: spec.networks.map((n) => byId.get(n) ?? n) }),
    task: { ...spec.task, ...(spec.task.secrets && { secrets: noIds(spec.task.secrets) }), ...(spec.task.configs && { configs: noIds(spec.task.configs) }) },
  };
}

/** Whether the stored service already runs `planned`. */
export function sameSpec(current: Service, planned: ServiceSpec, networks: readonly Network[]): boolean {
  return canonical(comparableSpec(current.spec, networks)) === canonical(comparableSpec(planned, networks));
}

function networkSteps(plan: StackPlan, observed: Observed): PlannedNetwork[] {
  const byName = new Map(observed.networks.map((n) => [n.name, n]));
  const out: PlannedNetwork[] = [];
  for (const n of plan.networks) {
    const cur = byName.get(n.name);
    if (n.external) {
      if (!cur) throw new NotFoundError(`network "${n.name}" is declared as external, but could not be found: create it before the stack is deployed`);
      continue;
    }
    if (!cur) out.push(n);
    else if (!inStack(cur.labels, plan.namespace)) fail(`network ${n.name} exists and is not part of stack ${plan.namespace}`);
  }
  return out;
}

function payloadSteps(plan: StackPlan, observed: Observed): { create: PlannedPayload[]; kept: string[] } {
  const create: PlannedPayload[] = [];
  const kept: string[] = [];
  for (const p of plan.payloads) {
    const cur = (p.kind === 'secret' ? observed.secrets : observed.configs).find((x) => x.name === p.name);
    if (p.external) {
      if (!cur) throw new NotFoundError(`${p.kind} "${p.name}" is declared as external, but could not be found: create it before the stack is deployed`);
      continue;
    }
    if (!cur) {
      create.push(p);
      continue;
    }
    if (!inStack(cur.labels, plan.namespace)) fail(`${p.kind} ${p.name} exists and is not part of stack ${plan.namespace}`);
    if (p.kind === 'config' && cur.data !== undefined && cur.data !== p.data!.toString('base64')) {
      fail(`config ${p.name} changed: a config cannot be updated, give the new data a new name`);
    }
    if (p.kind === 'secret') kept.push(p.name);
  }
  return { create, kept };
}

/** A published port of the plan held by a service outside the stack. */
function checkForeignPorts(plan: StackPlan, observed: Observed): void {
  const held = new Map<string, string>();
  for (const s of observed.services) {
    if (inStack(s.spec.labels, plan.namespace)) continue;
    for (const p of s.spec.endpoint.ports) if (p.publishedPort !== undefined) held.set(`${p.publishedPort}/${p.protocol}`, s.spec.name);
  }
  for (const spec of plan.services) {
    for (const p of spec.endpoint.ports) {
      const other = p.publishedPort === undefined ? undefined : held.get(`${p.publishedPort}/${p.protocol}`);
      if (other) fail(`services.${spec.name}: port ${p.publishedPort}/${p.protocol} is already published by service ${other}`);
    }
  }
}

/** The steps that take the cluster from `observed` to `plan`; throws, changing nothing, when the plan cannot apply. */
export function diffStack(plan: StackPlan, observed: Observed, prune: boolean): StackChanges {
  const createNetworks = networkSteps(plan, observed);
  const payloads = payloadSteps(plan, observed);
  checkForeignPorts(plan, observed);
  const byName = new Map(observed.services.map((s) => [s.spec.name, s]));
  const changes: StackChanges = { createNetworks, createPayloads: payloads.create, keptSecrets: payloads.kept, create: [], update: [], unchanged: [], remove: [], stale: [] };
  for (const spec of plan.services) {
    const cur = byName.get(spec.name);
    if (!cur) changes.create.push(spec);
    else if (!inStack(cur.spec.labels, plan.namespace)) fail(`service ${spec.name} exists and is not part of stack ${plan.namespace}`);
    else if (sameSpec(cur, spec, observed.networks)) changes.unchanged.push(cur);
    else changes.update.push({ current: cur, spec });
  }
  const wanted = new Set(plan.services.map((s) => s.name));
  for (const s of observed.services) {
    if (inStack(s.spec.labels, plan.namespace) && !wanted.has(s.spec.name)) (prune ? changes.remove : changes.stale).push(s);
  }
  return changes;
}
