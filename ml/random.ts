/**
 * Seeded pseudo-random numbers for weight initialisation, shuffling and dropout masks, so that the same seed
 * gives bit-identical models on every run and platform (Math.random cannot be seeded).
 */

/** A seeded generator: `next()` is uniform in [0, 1), `normal()` standard normal. */
export interface Rng {
  next(): number;
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, as in PractRand): 128 bits of state, passes
 * BigCrush, and only needs 32-bit integer arithmetic, which JavaScript engines do exactly.
 *
 * @example
 * const rng = createRng(42);
 * rng.next(); // same value on every run
 */
export function createRng(seed: number): Rng {
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
      // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
      const u = 1 - next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(items: T, rng: Rng): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
