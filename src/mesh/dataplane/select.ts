/**
 * Which dataplane a node runs: with `--dataplane auto`, the first of IPVS,
 * nftables and userspace that this process and kernel can use; a forced
 * choice that cannot be used is an error. Pure over the probes' answers.
 */
import { InvalidArgumentError } from '../../errors';

/** A dataplane implementation's name. */
export type DataplaneName = 'ipvs' | 'nftables' | 'userspace';
/** What `--dataplane` accepts. */
export type DataplaneRequest = DataplaneName | 'auto';

/** The order `auto` tries kernel paths in, best first. */
export const DATAPLANE_PREFERENCE: readonly DataplaneName[] = ['ipvs', 'nftables', 'userspace'];

/** Whether a dataplane can run here, and why not. */
export type DataplaneProbe = { ok: true } | { ok: false; reason: string };

/** The choice and why the better ones were passed over (for logs, `node inspect` and a metric). */
export interface DataplaneChoice {
  name: DataplaneName;
  passedOver: { name: DataplaneName; reason: string }[];
}

/** Parses a `--dataplane` value. */
export function parseDataplaneRequest(value: string): DataplaneRequest {
  if (value === 'auto' || (DATAPLANE_PREFERENCE as readonly string[]).includes(value)) return value as DataplaneRequest;
  throw new InvalidArgumentError(`--dataplane must be auto, ipvs, nftables or userspace, got "${value}"`);
}

/** Chooses a dataplane; throws InvalidArgumentError with the probe's reason when a forced one cannot run. */
export function chooseDataplane(request: DataplaneRequest, probes: Partial<Record<DataplaneName, DataplaneProbe>>): DataplaneChoice {
  const probe = (name: DataplaneName): DataplaneProbe => (name === 'userspace' ? { ok: true } : probes[name] ?? { ok: false, reason: 'not probed' });
  if (request !== 'auto') {
    const p = probe(request);
    if (!p.ok) throw new InvalidArgumentError(`--dataplane ${request} cannot be used: ${p.reason}`);
    return { name: request, passedOver: [] };
  }
  const passedOver: DataplaneChoice['passedOver'] = [];
  for (const name of DATAPLANE_PREFERENCE) {
    const p = probe(name);
    if (p.ok) return { name, passedOver };
    passedOver.push({ name, reason: p.reason });
  }
  // Unreachable: userspace always probes ok.
  return { name: 'userspace', passedOver };
}
