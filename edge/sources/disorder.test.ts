import { describe, expect, test } from "bun:test";
import type { Reading } from "@energy/contracts/records.ts";
import { DisorderedStream } from "./disorder.ts";
import { defaultGeneratorStartMs, SyntheticSensor } from "./generator.ts";
import type { Emission } from "./stream.ts";

const minutes = 120;
const source = (): Reading[] => [
  ...new SyntheticSensor(1, {
    seed: 3,
    ratePerSecond: 1,
    startMs: defaultGeneratorStartMs,
    durationMs: minutes * 60_000,
  }),
];
const disorder = (seed: number) => {
  const stream = new DisorderedStream(source()[Symbol.iterator](), { seed, sensorId: 1 });
  const out: Emission[] = [...stream];
  return { out, stats: stream.stats };
};
const minuteOf = (ms: number) => Math.floor((ms - defaultGeneratorStartMs) / 60_000);

describe("DisorderedStream", () => {
  test("is deterministic for a seed and differs across seeds", () => {
    const a = disorder(11).out.map((e) => e.reading.eventTimeMs);
    expect(disorder(11).out.map((e) => e.reading.eventTimeMs)).toEqual(a);
    expect(disorder(12).out.map((e) => e.reading.eventTimeMs)).not.toEqual(a);
  });

  test("drops 5–15 seconds in every minute, and nothing else", () => {
    const { out, stats } = disorder(11);
    const perMinute = new Array<number>(minutes).fill(0);
    for (const e of out) perMinute[minuteOf(e.reading.eventTimeMs)]!++;
    for (const n of perMinute) {
      expect(n).toBeGreaterThanOrEqual(45);
      expect(n).toBeLessThanOrEqual(55);
    }
    expect(stats.dropped).toBe(minutes * 60 - out.length);
  });

  test("emits only source readings, each at most once, and never before it exists", () => {
    const { out } = disorder(11);
    const byTime = new Map(source().map((r) => [r.eventTimeMs, r]));
    const seen = new Set<number>();
    for (const e of out) {
      expect(byTime.get(e.reading.eventTimeMs)).toEqual(e.reading);
      expect(seen.has(e.reading.eventTimeMs)).toBe(false);
      seen.add(e.reading.eventTimeMs);
      expect(e.dueMs).toBeGreaterThan(e.reading.eventTimeMs);
    }
    // Send times never go backwards: the scheduler relies on it.
    expect(out.every((e, i) => i === 0 || e.dueMs >= out[i - 1]!.dueMs)).toBe(true);
  });

  test("delivers events out of order, with the study's order of lateness", () => {
    const { out, stats } = disorder(11);
    let newest = Number.NEGATIVE_INFINITY;
    const lateness: number[] = [];
    for (const e of out) {
      if (e.reading.eventTimeMs < newest) lateness.push(newest - e.reading.eventTimeMs);
      newest = Math.max(newest, e.reading.eventTimeMs);
    }
    // The study saw about half the events out of order, max lateness 180–256 s.
    expect(lateness.length / out.length).toBeGreaterThan(0.25);
    expect(lateness.length / out.length).toBeLessThan(0.75);
    expect(Math.max(...lateness)).toBeGreaterThan(120_000);
    expect(Math.max(...lateness)).toBeLessThanOrEqual(240_000);
    // 30 % of 120 minutes defer a chunk.
    expect(stats.deferredChunks).toBeGreaterThan(20);
    expect(stats.deferredChunks).toBeLessThan(60);
  });

  test("keeps chunks consecutive: runs of 1 s steps make up each minute", () => {
    const { out } = disorder(5);
    let breaks = 0;
    for (let i = 1; i < out.length; i++) {
      const step = out[i]!.reading.eventTimeMs - out[i - 1]!.reading.eventTimeMs;
      // Inside a chunk, the only gaps are the dropped seconds (forward jumps); anything else is a chunk edge.
      if (step <= 0 || step > 16_000) breaks++;
    }
    // 2–4 chunks per minute means 1–3 edges per minute plus the deferred insertions.
    expect(breaks).toBeLessThanOrEqual(minutes * 4);
    expect(breaks).toBeGreaterThanOrEqual(minutes * 0.5);
  });
});
