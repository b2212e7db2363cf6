/**
 * `--secret`/`--config` of `service create` and `--secret-add/-rm`,
 * `--config-add/-rm` of `service update` (Docker's flags): references added
 * to or removed from the task template. The manager resolves names and
 * refuses ones that do not exist.
 */
import { InvalidArgumentError } from '../errors';
import type { PayloadReference, ServiceSpec } from '../model/types';
import { parsePayloadFlag, type PayloadKind } from '../spec/payload';

/** The payload flags of `service create`. */
export interface PayloadCreateFlags {
  secret?: string[];
  config?: string[];
}

/** The payload flags of `service update`. */
export interface PayloadUpdateFlags {
  secretAdd?: string[];
  secretRm?: string[];
  configAdd?: string[];
  configRm?: string[];
}

const FIELD = { secret: 'secrets', config: 'configs' } as const;

/** Set the references `service create` names on a new spec. */
export function applyPayloadCreateFlags(spec: ServiceSpec, flags: PayloadCreateFlags): void {
  for (const kind of ['secret', 'config'] as const) {
    const refs = (flags[kind] ?? []).map((v) => parsePayloadFlag(v, kind));
    if (refs.length > 0) spec.task[FIELD[kind]] = refs;
  }
}

/** `--*-rm` (by name or id, every reference to it) then `--*-add`, on a copy's references in place. */
export function applyPayloadUpdateFlags(spec: ServiceSpec, flags: PayloadUpdateFlags): void {
  const edits: [PayloadKind, string[], string[]][] = [
    ['secret', flags.secretRm ?? [], flags.secretAdd ?? []],
    ['config', flags.configRm ?? [], flags.configAdd ?? []],
  ];
  for (const [kind, rm, add] of edits) {
    if (rm.length === 0 && add.length === 0) continue;
    let list: PayloadReference[] = [...(spec.task[FIELD[kind]] ?? [])];
    for (const x of rm) {
      const kept = list.filter((r) => r.name !== x && r.id !== x);
      if (kept.length === list.length) throw new InvalidArgumentError(`${kind} ${x} is not used by this service`);
      list = kept;
    }
    list.push(...add.map((v) => parsePayloadFlag(v, kind)));
    if (list.length > 0) spec.task[FIELD[kind]] = list;
    else delete spec.task[FIELD[kind]];
  }
}
