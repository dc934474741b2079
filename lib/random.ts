/**
 * Seeded pseudo-random numbers for reproducible workloads. `Math.random` cannot be seeded, and a replay that
 * differs between runs cannot be compared with the study or with itself.
 */

/** A function returning uniform floats in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: 32-bit state, passes the statistical tests that matter for load generation, and costs a few
 * integer operations per draw (10,000 sensors each draw several numbers per second).
 *
 * @example
 * const rng = mulberry32(42); rng(); // 0.6011037519201636
 */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes a seed with a sensor id and a purpose into an independent 32-bit seed, so that sensor 7's signal does
 * not depend on how many sensors run, and its disorder is independent of its values.
 */
export function deriveSeed(seed: number, sensorId: number, purpose: string): number {
  // FNV-1a over the three parts, then a murmur3 finaliser to spread nearby inputs.
  let h = 0x811c9dc5;
  const feed = (n: number) => {
    h ^= n & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (const n of [seed >>> 0, sensorId >>> 0, Math.floor(seed / 2 ** 32) >>> 0]) {
    feed(n);
    feed(n >>> 8);
    feed(n >>> 16);
    feed(n >>> 24);
  }
  for (let i = 0; i < purpose.length; i++) feed(purpose.charCodeAt(i));
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform integer in [min, max], both inclusive. */
export function randomInt(rng: Random, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

/** Standard normal draw (Box–Muller; one of the pair is discarded to keep the generator stateless). */
export function gaussian(rng: Random): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T>(rng: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
