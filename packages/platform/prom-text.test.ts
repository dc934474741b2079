import { describe, expect, test } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { histogramOf, metricByLabel, parsePrometheus, sampleValue, sumMetric } from "./prom-text.ts";

describe("Prometheus text reader", () => {
  test("reads what prom-client writes: labelled counters, escaped label values, histograms", async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: "t_messages_total",
      help: "x",
      labelNames: ["kind", "topic"],
      registers: [registry],
    });
    counter.inc({ kind: "reading", topic: "readings" }, 7);
    counter.inc({ kind: "batch", topic: "readings" }, 3);
    counter.inc({ kind: "batch", topic: 'odd "quoted" \\ name' }, 2);
    const histogram = new Histogram({
      name: "t_delay_seconds",
      help: "x",
      buckets: [1, 5],
      registers: [registry],
    });
    for (const v of [0.5, 3, 3, 9]) histogram.observe(v);
    const samples = parsePrometheus(await registry.metrics());

    expect(sumMetric(samples, "t_messages_total")).toBe(12);
    expect(sumMetric(samples, "t_messages_total", { kind: "batch" })).toBe(5);
    expect(sumMetric(samples, "t_messages_total", { topic: 'odd "quoted" \\ name' })).toBe(2);
    expect(sumMetric(samples, "t_absent_total")).toBe(0);
    expect(metricByLabel(samples, "t_messages_total", "kind")).toEqual({ reading: 7, batch: 5 });
    expect(histogramOf(samples, "t_delay_seconds")).toEqual({
      buckets: [
        { le: 1, count: 1 },
        { le: 5, count: 3 },
        { le: Number.POSITIVE_INFINITY, count: 4 },
      ],
      count: 4,
      sum: 15.5,
    });
    expect(histogramOf(samples, "t_absent_seconds")).toBeUndefined();
  });

  test("sampleValue is the series with exactly those labels, and tells absent from 0", () => {
    const samples = parsePrometheus(
      ["# HELP a x", 'a{topic="r",kind="b"} 4', 'a{topic="r"} 0', "b 2.5", "c +Inf", ""].join("\n"),
    );
    expect(sampleValue(samples, "a", { topic: "r" })).toBe(0);
    expect(sampleValue(samples, "a", { kind: "b", topic: "r" })).toBe(4);
    expect(sampleValue(samples, "a", { topic: "w" })).toBeUndefined();
    expect(sampleValue(samples, "b")).toBe(2.5);
    expect(sampleValue(samples, "c")).toBe(Number.POSITIVE_INFINITY);
    expect(sampleValue(samples, "d")).toBeUndefined();
  });
});
