import { describe, expect, test } from "bun:test";
import { histogramOf, parsePrometheus, sumMetric } from "@energy/platform/prom-text.ts";
import { bucketQuantile } from "../lib/stats.ts";
import { mosquittoConfig } from "./broker.ts";
import { eventStartFor, exactPercentiles, parseAgentStarted } from "./run.ts";
import { findSaturation, keptUp, peakRate } from "./saturation.ts";

describe("percentiles", () => {
  test("exact: nearest rank on the raw samples", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unordered
    const p = exactPercentiles(values);
    expect([p.p50, p.p95, p.p99, p.min, p.max, p.n]).toEqual([50, 95, 99, 1, 100, 100]);
    expect(Number.isNaN(exactPercentiles([]).p99)).toBe(true);
  });

  test("from a /metrics histogram: interpolated inside the bucket that holds the rank", () => {
    const text = [
      "# HELP core_window_emit_delay_seconds x",
      'core_window_emit_delay_seconds_bucket{le="1"} 0',
      'core_window_emit_delay_seconds_bucket{le="5"} 50',
      'core_window_emit_delay_seconds_bucket{le="10"} 100',
      'core_window_emit_delay_seconds_bucket{le="+Inf"} 100',
      "core_window_emit_delay_seconds_sum 600",
      "core_window_emit_delay_seconds_count 100",
      'core_messages_received_total{kind="reading"} 7',
      'core_messages_received_total{kind="batch"} 3',
    ].join("\n");
    const samples = parsePrometheus(text);
    expect(sumMetric(samples, "core_messages_received_total")).toBe(10);
    expect(sumMetric(samples, "core_messages_received_total", { kind: "batch" })).toBe(3);
    const h = histogramOf(samples, "core_window_emit_delay_seconds")!;
    expect(h.count).toBe(100);
    // Rank 50 is the top of the (1, 5] bucket; rank 75 halfway through (5, 10].
    expect(bucketQuantile(h.buckets, 0.5)).toBe(5);
    expect(bucketQuantile(h.buckets, 0.75)).toBe(7.5);
  });
});

describe("saturation", () => {
  test("the first step below 95 % of offered is the saturation point", () => {
    const s = findSaturation([
      { offered: 16_000, achieved: 11_000, lost: 0 },
      { offered: 1_000, achieved: 999, lost: 0 },
      { offered: 4_000, achieved: 3_900, lost: 0 },
    ]);
    expect(s).toEqual({ saturatedAt: 16_000, sustained: 4_000, maxAchieved: 11_000 });
  });

  test("any loss counts as not keeping up, whatever the rate", () => {
    expect(keptUp({ offered: 1_000, achieved: 1_000, lost: 1 })).toBe(false);
    expect(keptUp({ offered: 1_000, achieved: 950, lost: 0 })).toBe(true);
    expect(keptUp({ offered: 1_000, achieved: 949, lost: 0 })).toBe(false);
  });

  test("a ramp that always kept up has no saturation point", () => {
    const s = findSaturation([{ offered: 10, achieved: 10, lost: 0 }]);
    expect(s.saturatedAt).toBeUndefined();
    expect(s.sustained).toBe(10);
  });
});

describe("peak ingest rate", () => {
  const at = (points: [number, number][]) => points.map(([s, readings]) => ({ atMs: s * 1000, readings }));

  test("a steady trace gives its rate", () => {
    const trace = at(Array.from({ length: 30 }, (_, i) => [i, i * 1000] as [number, number]));
    expect(peakRate(trace, 5000)).toBeCloseTo(1000, 6);
  });

  test("a burst between idle stretches: the rate while absorbing it, not the run's average", () => {
    // 60 s idle, 600,000 readings in 10 s, idle again: the average over the run is ~7,500/s.
    const trace = at([
      [0, 0],
      [30, 0],
      [60, 0],
      [62, 120_000],
      [65, 300_000],
      [70, 600_000],
      [75, 600_000],
      [80, 600_000],
    ]);
    expect(peakRate(trace, 5000)).toBe(60_000);
    expect(peakRate(trace, 10_000)).toBe(60_000);
  });

  test("uneven sampling: never a stretch shorter than asked", () => {
    const trace = at([
      [0, 0],
      [4.9, 4_900],
      [5, 100_000],
      [10, 105_000],
    ]);
    // 4.9 → 5 s alone would be 951,000/s; the shortest stretches of ≥ 5 s are 0 → 5 and 4.9 → 10.
    expect(peakRate(trace, 5000)).toBeCloseTo(100_000 / 5, 6);
  });

  test("a trace shorter than the span, or empty: 0", () => {
    expect(
      peakRate(
        at([
          [0, 0],
          [3, 3000],
        ]),
        5000,
      ),
    ).toBe(0);
    expect(peakRate([], 5000)).toBe(0);
  });
});

describe("run timing", () => {
  test("the event start puts a minute boundary `lead` seconds into the run, within 30 s of now", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 41, 500);
    const t = eventStartFor(now, 8);
    expect((t + 8_000) % 60_000).toBe(0);
    expect(Math.abs(t - now)).toBeLessThanOrEqual(30_000);
  });

  test("the edge's start line gives its wall-clock start and event-clock start", () => {
    const line =
      '2026-11-25T12:48:36.500Z info  [edge] agent started {"mode":"streaming","sensors":10,"connections":4,"speed":1,"eventTime":"2026-11-25T12:48:52.000Z"}';
    expect(parseAgentStarted(line)).toEqual({
      wallMs: Date.parse("2026-11-25T12:48:36.500Z"),
      eventMs: Date.parse("2026-11-25T12:48:52.000Z"),
    });
    expect(parseAgentStarted("2026-11-25T12:48:36.500Z info  [edge] health http://x")).toBeUndefined();
  });
});

describe("broker config", () => {
  test("loopback only, no persistence, and no silent queue limits", () => {
    const conf = mosquittoConfig(18830);
    expect(conf).toContain("listener 18830 127.0.0.1");
    expect(conf).toContain("persistence false");
    expect(conf).toMatch(/^max_queued_messages 0$/m);
    expect(conf).toMatch(/^max_inflight_messages 0$/m);
  });
});
