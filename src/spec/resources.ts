/**
 * Resource amounts as operators read them: `512MiB`, `1.5GiB`, `2 CPUs`,
 * the units Docker's `--reserve-memory` and `--reserve-cpu` speak.
 */

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
