/**
 * A clearly labelled synthetic load: a seeded generator of appliance-like 1-s power series, for evaluation
 * and training where the repository's real data runs out (data/seed has one 300-s real trace; devices 2–5
 * are that trace tiled, see data/seed/PROVENANCE.md). Like device 1's staircase, a series is a base load
 * plus appliances switching on and off (steps), some reaching their level over a ramp, short spikes and
 * measurement noise. Nothing here is real data; results on it are labelled "synthetic" wherever shown.
 */
import { sfc32 } from "@energy/platform/random.ts";

export interface SyntheticOptions {
  /** Seconds (values) to generate. */
  length: number;
  seed: number;
  /** Appliances switching independently (each a step or ramp up to its power, then back). */
  appliances?: number;
}

/**
 * One synthetic series of `length` one-second values (watts, ≥ 0), deterministic in `seed`.
 *
 * @example
 * const values = syntheticLoad({ length: 7200, seed: 1 }); // two hours
 */
export function syntheticLoad(options: SyntheticOptions): Float64Array {
  const rng = sfc32(options.seed);
  const n = options.length;
  const out = new Float64Array(n);
  const base = 150 + rng.next() * 650;
  const noise = 2 + rng.next() * 8;
  for (let t = 0; t < n; t++) out[t] = base;
  const appliances = options.appliances ?? 3 + rng.int(3);
  for (let a = 0; a < appliances; a++) {
    const power = 80 + rng.next() * 900;
    const meanOn = 30 + rng.next() * 400;
    const meanOff = 60 + rng.next() * 900;
    const ramp = rng.next() < 0.35 ? 5 + rng.int(50) : 0;
    let t = Math.floor(-Math.log(1 - rng.next()) * meanOff);
    while (t < n) {
      const on = 5 + Math.floor(-Math.log(1 - rng.next()) * meanOn);
      // Some appliances draw a varying level while on (a second step partway through).
      const second = rng.next() < 0.3 ? power * (0.3 + rng.next() * 0.6) : power;
      const switchAt = t + Math.floor(on * (0.3 + rng.next() * 0.4));
      for (let k = 0; k < on && t + k < n; k++) {
        const level = t + k < switchAt ? power : second;
        out[t + k]! += ramp > 0 && k < ramp ? (level * (k + 1)) / ramp : level;
      }
      t += on + Math.floor(-Math.log(1 - rng.next()) * meanOff);
    }
  }
  const spikeRate = 0.002 + rng.next() * 0.01;
  for (let t = 0; t < n; t++) {
    if (rng.next() < spikeRate) {
      const height = 20 + rng.next() * 130;
      const width = 1 + rng.int(3);
      for (let k = 0; k < width && t + k < n; k++) out[t + k]! += height;
    }
    out[t] = Math.max(0, Math.round((out[t]! + rng.normal() * noise) * 10) / 10);
  }
  return out;
}

/** The labelled synthetic set of `ml evaluate` and the shared model: `count` series of `length` seconds. */
export function syntheticSet(count: number, length: number, firstSeed = 1000): Float64Array[] {
  return Array.from({ length: count }, (_, i) => syntheticLoad({ length, seed: firstSeed + i }));
}
