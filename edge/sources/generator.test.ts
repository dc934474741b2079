import { describe, expect, test } from "bun:test";
import type { Reading } from "@energy/contracts/records.ts";
import { defaultGeneratorStartMs, SyntheticSensor, sensorProfile } from "./generator.ts";

const hour = 3_600_000;
const take = (id: number, seed: number, rate = 1, durationMs = hour): Reading[] => [
  ...new SyntheticSensor(id, { seed, ratePerSecond: rate, startMs: defaultGeneratorStartMs, durationMs }),
];

describe("SyntheticSensor", () => {
  test("is deterministic for a seed and differs across seeds and sensors", () => {
    const a = take(7, 42);
    expect(take(7, 42)).toEqual(a);
    expect(take(7, 43).map((r) => r.value)).not.toEqual(a.map((r) => r.value));
    expect(take(8, 42).map((r) => r.value)).not.toEqual(a.map((r) => r.value));
  });

  test("produces a plausible staircase: 500–1700 W levels × scale, small noise, few big jumps", () => {
    for (const id of [1, 2, 3, 4, 5]) {
      const values = take(id, 1).map((r) => r.value);
      const { scale } = sensorProfile(1, id);
      expect(Math.min(...values)).toBeGreaterThanOrEqual(500 * scale - 60);
      expect(Math.max(...values)).toBeLessThanOrEqual(1700 * scale + 130 + 60);
      const diffs = values.slice(1).map((v, i) => Math.abs(v - values[i]!));
      const median = [...diffs].sort((x, y) => x - y)[Math.floor(diffs.length / 2)]!;
      // Mostly flat with noise; steps, ramps and spikes are the exception.
      expect(median).toBeLessThan(25);
      expect(diffs.filter((d) => d > 100).length).toBeGreaterThan(2);
      expect(diffs.filter((d) => d > 100).length).toBeLessThan(values.length * 0.05);
      // Levels move over an hour rather than sitting on one value.
      expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(200);
    }
  });

  test("honours readings per second, start and duration", () => {
    expect(take(1, 1, 1, 60_000)).toHaveLength(60);
    const fast = take(1, 1, 4, 60_000);
    expect(fast).toHaveLength(240);
    expect(fast[0]!.eventTimeMs).toBe(defaultGeneratorStartMs);
    expect(fast[1]!.eventTimeMs - fast[0]!.eventTimeMs).toBe(250);
    expect(fast.at(-1)!.eventTimeMs).toBe(defaultGeneratorStartMs + 59_750);
    const slow = take(1, 1, 0.5, 60_000);
    expect(slow).toHaveLength(30);
    expect(slow[1]!.eventTimeMs - slow[0]!.eventTimeMs).toBe(2000);
  });

  test("is lazy: an endless sensor yields readings on demand", () => {
    const endless = new SyntheticSensor(1, { seed: 1, ratePerSecond: 1, startMs: 0 });
    let n = 0;
    for (const r of endless) {
      expect(r.eventTimeMs).toBe(n * 1000);
      if (++n === 100_000) break;
    }
    expect(n).toBe(100_000);
  });

  test("gives each sensor its own scale and noise", () => {
    const profiles = [1, 2, 3, 4].map((id) => sensorProfile(9, id));
    expect(new Set(profiles.map((p) => p.scale)).size).toBe(4);
    for (const p of profiles) {
      expect(p.scale).toBeGreaterThanOrEqual(0.85);
      expect(p.scale).toBeLessThanOrEqual(1.15);
      expect(p.noise).toBeGreaterThanOrEqual(2);
      expect(p.noise).toBeLessThanOrEqual(15);
    }
  });
});
