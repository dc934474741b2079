/**
 * Seeded pseudo-random numbers for reproducible workloads and models. `Math.random` cannot be seeded, and a
 * replay or a training run that differs between runs cannot be compared with the study or with itself.
 *
 * Two generators on purpose, because seeded results are pinned to each: mulberry32 drives the edge's
 * generated load and disorder (replays, A/B runs and tests compare exact values), sfc32 every trained model,
 * synthetic series and ml/evaluation.json. Moving either side to the other generator would change all of its
 * seeded results for no gain: both are exact 32-bit integer arithmetic and equally fast.
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

/** Fisher–Yates shuffle in place (an array or a typed array). */
export function shuffle<A extends { length: number; [i: number]: unknown }>(rng: Random, items: A): A {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** A generator with state: `next()` uniform in [0, 1), `normal()` standard normal, `int(n)` in [0, n). */
export interface Rng {
  next: Random;
  /** Box–Muller; the second value of each pair is returned by the next call, not discarded. */
  normal(): number;
  int(n: number): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, as in PractRand): 128 bits of state, passes
 * BigCrush, and only needs 32-bit integer arithmetic, which JavaScript engines do exactly. The ML side's
 * generator (weight initialisation, shuffling, dropout masks, synthetic series).
 *
 * @example
 * const rng = sfc32(42);
 * rng.next(); // same value on every run
 */
export function sfc32(seed: number): Rng {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Warm-up: the first outputs of sfc32 from a weak seed are correlated with it.
  for (let i = 0; i < 15; i++) next32();
  let spare: number | undefined;
  const next = (): number => next32() / 4294967296;
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      // 1 - u keeps the logarithm's argument in (0, 1].
      const u = 1 - next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}
