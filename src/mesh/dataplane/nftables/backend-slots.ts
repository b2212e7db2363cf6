/**
 * How a frontend's backends fill the numbered map that `numgen` or `jhash`
 * indexes in the kernel: weights become repeated slots (round robin, random),
 * or hash buckets that mostly stay put when a backend comes or goes
 * (source hash).
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../../table/table';

/** Most slots a weighted round-robin map gets; larger weight sums are scaled down to fit. */
export const MAX_WEIGHT_SLOTS = 256;

/** Buckets a source-hash frontend's `jhash ip saddr mod N` map has. */
export const SOURCE_HASH_BUCKETS = 64;

/** Backends that take new connections: weight above 0. */
export function servingBackends(backends: readonly Backend[]): Backend[] {
  return backends.filter((b) => b.weight > 0);
}

/**
 * The slot sequence of a weighted round robin: each serving backend appears
 * in proportion to its weight, spread out (nginx's smooth weighted round
 * robin), so `numgen inc` never sends a burst of consecutive connections to
 * one heavy backend. Weights are reduced by their common divisor; when the
 * sum still exceeds maxSlots they are scaled down, each keeping at least one
 * slot.
 */
export function weightedSlots(backends: readonly Backend[], maxSlots = MAX_WEIGHT_SLOTS): Backend[] {
  const serving = servingBackends(backends);
  if (serving.length === 0) return [];
  const divisor = serving.map((b) => b.weight).reduce(gcd);
  let weights = serving.map((b) => b.weight / divisor);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total > maxSlots) weights = weights.map((w) => Math.max(1, Math.floor((w * maxSlots) / total)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const slots: Backend[] = [];
  for (let n = 0; n < sum; n++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= sum;
    slots.push(serving[best]);
  }
  return slots;
}

/**
 * Which serving backend each of `count` source-hash buckets goes to, by
 * weighted rendezvous hashing on (bucket, backend id): when a backend joins
 * or leaves, only the buckets it wins or held move, so most clients keep
 * their backend (the kernel's stand-in for the userspace affinity table).
 */
export function hashBuckets(backends: readonly Backend[], count = SOURCE_HASH_BUCKETS): Backend[] {
  const serving = servingBackends(backends);
  if (serving.length === 0) return [];
  const buckets: Backend[] = [];
  for (let bucket = 0; bucket < count; bucket++) {
    let best = serving[0];
    let bestScore = -Infinity;
    for (const b of serving) {
      const score = rendezvousScore(bucket, b);
      if (score > bestScore) {
        best = b;
        bestScore = score;
      }
    }
    buckets.push(best);
  }
  return buckets;
}

// Weighted rendezvous (Schindelhauer and Schomaker): -w / ln(u) with u uniform
// in (0, 1) gives each backend a share of buckets proportional to its weight.
function rendezvousScore(bucket: number, backend: Backend): number {
  const digest = createHash('sha256').update(`${bucket}/${backend.id}`).digest();
  const u = (digest.readUInt32BE(0) + 1) / (2 ** 32 + 1);
  return -backend.weight / Math.log(u);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
