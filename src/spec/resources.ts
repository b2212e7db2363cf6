/**
 * Resource amounts as operators read them: `512MiB`, `1.5GiB`, `2 CPUs`,
 * the units Docker's `--reserve-memory` and `--reserve-cpu` speak.
 */

import { InvalidArgumentError } from '../errors';

const KIB = 1024;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
/** Nano-CPUs in one CPU, as Docker counts them. */
export const NANO_CPUS_PER_CPU = 1e9;

/** Bytes in the largest binary unit that keeps the number at least 1, up to two decimals: `512MiB`, `1.5GiB`. */
export function formatMemory(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= KIB && unit < UNITS.length - 1) {
    value /= KIB;
    unit++;
  }
  return `${trimNumber(value, 2)}${UNITS[unit]}`;
}

/** Nano-CPUs as CPUs, up to three decimals (`--reserve-cpu 0.001` is the finest Docker takes): `1 CPU`, `0.5 CPUs`. */
export function formatCpus(nanoCpus: number): string {
  const cpus = nanoCpus / NANO_CPUS_PER_CPU;
  return `${trimNumber(cpus, 3)} ${cpus === 1 ? 'CPU' : 'CPUs'}`;
}

// At most `decimals` decimals, without trailing zeros: 1.5, not 1.50.
function trimNumber(n: number, decimals: number): string {
  const scale = 10 ** decimals;
  return String(Math.round(n * scale) / scale);
}

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** Docker's memory sizes: `512M`, `1g`, `256MiB`, plain bytes. */
export function parseMemory(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(v.trim());
  const unit = m ? MEMORY_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`invalid ${what} "${v}": use a size such as 512M or 1G`);
  return Math.round(Number(m[1]) * unit);
}

/** CPUs as a decimal (`0.5`) into nano-CPUs. */
export function parseCpus(v: string, what: string): number {
  if (!/^\d+(\.\d+)?$/.test(v.trim())) throw new InvalidArgumentError(`invalid ${what} "${v}": use a number of CPUs such as 0.5`);
  return Math.round(Number(v) * NANO_CPUS_PER_CPU);
}
