/**
 * Seeded synthetic power traces shaped like the study's device 1 (PROVENANCE.md "Shape of the signal"):
 * piecewise-constant levels between ~500 and ~1700 W held for tens of seconds to minutes, occasional steps or
 * ramps between them, small sensor noise and short spikes of +20–130 W. Each sensor gets its own scale and
 * noise, like the study's synthetic devices 2–5. Lazy: one small state object per sensor, so 10,000 sensors
 * replaying days cost no memory beyond that.
 */

import type { Reading } from "@energy/contracts/records.ts";
import { deriveSeed, gaussian, mulberry32, type Random, randomInt } from "@energy/platform/random.ts";

export interface GeneratorOptions {
  seed: number;
  /** Readings per second per sensor; 1 reproduces the study. */
  ratePerSecond: number;
  /** Event time of the first reading, epoch ms. */
  startMs: number;
  /** Event-time span to generate; omitted or Infinity = endless. */
  durationMs?: number;
}

/** The study's day, 2025-12-08T00:00:00Z, as the default start. */
export const defaultGeneratorStartMs = Date.UTC(2025, 11, 8);

const minLevel = 500;
const maxLevel = 1700;
/** Readings closer together than 1 ms would share an event time, which the core treats as duplicates. */
export const maxRatePerSecond = 1000;

/** Per-sensor character, derived from the seed so the same sensor id always looks the same. */
export interface SensorProfile {
  /** Multiplies the level, like the study's (scale, σ) pairs 0.87–1.13. */
  scale: number;
  /** Standard deviation of the additive noise, watts. */
  noise: number;
}

export function sensorProfile(seed: number, sensorId: number): SensorProfile {
  const rng = mulberry32(deriveSeed(seed, sensorId, "profile"));
  return { scale: 0.85 + rng() * 0.3, noise: 2 + rng() * 13 };
}

/**
 * One sensor's endless-or-bounded trace as an iterator. A class rather than a generator function because the
 * agent keeps one per sensor and calls `next` tens of thousands of times per second.
 *
 * @example
 * const it = new SyntheticSensor(3, { seed: 1, ratePerSecond: 1, startMs: defaultGeneratorStartMs, durationMs: 60_000 });
 * for (const r of it) console.log(r.value);
 */
export class SyntheticSensor implements IterableIterator<Reading> {
  readonly profile: SensorProfile;
  private readonly rng: Random;
  private readonly stepMs: number;
  private readonly count: number;
  private index = 0;
  private lastS = 0;
  private level: number;
  private holdS: number;
  private rampTo = 0;
  private rampS = 0;
  private spikeW = 0;
  private spikeS = 0;

  constructor(
    readonly sensorId: number,
    private readonly options: GeneratorOptions,
  ) {
    this.profile = sensorProfile(options.seed, sensorId);
    this.rng = mulberry32(deriveSeed(options.seed, sensorId, "signal"));
    this.stepMs = 1000 / options.ratePerSecond;
    const duration = options.durationMs ?? Number.POSITIVE_INFINITY;
    this.count = Number.isFinite(duration) ? Math.ceil(duration / this.stepMs) : Number.POSITIVE_INFINITY;
    // Device 1 opens around 700 W, so sensors start in the lower part of the range.
    this.level = 600 + this.rng() * 300;
    this.holdS = this.holdDuration();
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Reading> {
    if (this.index >= this.count) return { done: true, value: undefined };
    const offsetMs = this.index * this.stepMs;
    this.index++;
    const nowS = offsetMs / 1000;
    this.advance(nowS - this.lastS);
    this.lastS = nowS;
    const raw = this.level * this.profile.scale + gaussian(this.rng) * this.profile.noise + this.spikeW;
    const value = Math.round(Math.max(50, raw) * 10) / 10;
    const eventTimeMs = Math.round(this.options.startMs + offsetMs);
    return { done: false, value: { sensorId: this.sensorId, eventTimeMs, value, createdAtMs: undefined } };
  }

  /** Seconds a level is held: mostly tens of seconds, sometimes minutes, as in device 1's staircase. */
  private holdDuration(): number {
    return Math.min(600, 15 - Math.log(1 - this.rng()) * 90);
  }

  private nextLevel(): number {
    // Mostly a step near the current level (the staircase), sometimes a jump anywhere in the range.
    const target =
      this.rng() < 0.15
        ? minLevel + this.rng() * (maxLevel - minLevel)
        : this.level + gaussian(this.rng) * 250;
    return Math.min(maxLevel, Math.max(minLevel, target));
  }

  /** Moves the level/ramp/spike state forward by `dtS` seconds, so the shape does not depend on the rate. */
  private advance(dtS: number): void {
    if (this.spikeS > 0) {
      this.spikeS -= dtS;
      if (this.spikeS <= 0) this.spikeW = 0;
    } else if (dtS > 0 && this.rng() < 1 - 0.98 ** dtS) {
      this.spikeW = randomInt(this.rng, 20, 130);
      this.spikeS = 1 + this.rng() * 2;
    }
    let left = dtS;
    while (left > 0) {
      if (this.rampS > 0) {
        const step = Math.min(left, this.rampS);
        this.level += ((this.rampTo - this.level) * step) / this.rampS;
        this.rampS -= step;
        left -= step;
      } else if (this.holdS > left) {
        this.holdS -= left;
        left = 0;
      } else {
        left -= this.holdS;
        const target = this.nextLevel();
        if (this.rng() < 0.25) {
          this.rampTo = target;
          this.rampS = 20 + this.rng() * 70;
        } else {
          this.level = target;
        }
        this.holdS = this.holdDuration();
      }
    }
  }
}

/** Sensor ids 1..count, the study's numbering. */
export function sensorIds(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}
