import t from 'tap';
import { formatCpus, formatMemory } from '../../src/spec/resources';

t.test('memory in binary units, up to two decimals', async (t) => {
  const cases: [number, string][] = [
    [0, '0B'],
    [512, '512B'],
    [1024, '1KiB'],
    [1536, '1.5KiB'],
    [512 * 1024 * 1024, '512MiB'],
    [1024 * 1024 * 1024, '1GiB'],
    [1.5 * 1024 ** 3, '1.5GiB'],
    [1000 * 1000 * 1000, '953.67MiB'],
    [3 * 1024 ** 4, '3TiB'],
  ];
  for (const [bytes, want] of cases) t.equal(formatMemory(bytes), want, String(bytes));
});

t.test('cpus from nano-cpus, singular and plural', async (t) => {
  const cases: [number, string][] = [
    [1e9, '1 CPU'],
    [2e9, '2 CPUs'],
    [0.5e9, '0.5 CPUs'],
    [1.25e9, '1.25 CPUs'],
    [1e6, '0.001 CPUs'],
    [0, '0 CPUs'],
  ];
  for (const [nano, want] of cases) t.equal(formatCpus(nano), want, String(nano));
});
