import { heapStats } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import type { Registry } from "prom-client";
import {
  coreMetrics,
  createRegistry,
  defaultMetricsWrongUnderBun,
  forecasterErrorStages,
  forecasterMetrics,
  invalidReasons,
  pulsarMetrics,
  retrainOutcomes,
  storeSinks,
  windowDelayBuckets,
  zeroPulsarCounters,
} from "./metrics.ts";
import { parsePrometheus } from "./prom-text.ts";

/** Sample values by series, e.g. `core_invalid_messages_total{reason="not_json"}` → 0. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of parsePrometheus(await registry.metrics())) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`);
    out.set(labels.length ? `${s.name}{${labels.join(",")}}` : s.name, s.value);
  }
  return out;
}

const value = (all: Map<string, number>, name: string): number => {
  const v = all.get(name);
  if (v === undefined) throw new Error(`${name} is not exported`);
  return v;
};

describe("labelled counters start at 0 for every known label value", () => {
  test("core, forecaster and Pulsar client counters", async () => {
    const registry = createRegistry();
    coreMetrics(registry);
    forecasterMetrics(registry);
    zeroPulsarCounters(pulsarMetrics(registry), "windows");
    const all = await samples(registry);
    const expected = [
      ...invalidReasons.map((r) => `core_invalid_messages_total{reason="${r}"}`),
      ...storeSinks.map((s) => `core_store_errors_total{sink="${s}"}`),
      `core_messages_received_total{kind="reading"}`,
      `core_messages_received_total{kind="batch"}`,
      ...forecasterErrorStages.map((s) => `forecaster_errors_total{stage="${s}"}`),
      ...retrainOutcomes.map((o) => `forecaster_retrains_total{outcome="${o}"}`),
      `forecaster_forecasts_total{model="shared"}`,
      `pulsar_client_publish_errors_total{topic="windows"}`,
      `pulsar_client_reconnects_total{topic="windows"}`,
      `pulsar_client_messages_published_total{topic="windows"}`,
    ];
    for (const series of expected) expect([series, all.get(series)]).toEqual([series, 0]);
    expect(invalidReasons).not.toContain("late" as never);
  });

  test("an increment adds to the zeroed series instead of creating another", async () => {
    const registry = createRegistry();
    const core = coreMetrics(registry);
    core.invalid.inc({ reason: "not_json" });
    const all = await samples(registry);
    expect(all.get(`core_invalid_messages_total{reason="not_json"}`)).toBe(1);
    expect(all.get(`core_invalid_messages_total{reason="bad_value"}`)).toBe(0);
  });
});

describe("process metrics are right under Bun", () => {
  test("the defaults that are wrong under Bun are not exported", async () => {
    const names = new Set((await createRegistry().getMetricsAsJSON()).map((m) => m.name));
    const replaced = new Set([
      "nodejs_heap_size_used_bytes",
      "nodejs_heap_size_total_bytes",
      "nodejs_external_memory_bytes",
      "nodejs_eventloop_lag_max_seconds",
    ]);
    expect(defaultMetricsWrongUnderBun.filter((n) => names.has(n) && !replaced.has(n))).toEqual([]);
    expect(names.has("bun_version_info")).toBe(true);
  });

  test("kept values agree with /proc/self and bun:jsc", async () => {
    const registry = createRegistry();
    // Something on the heap, so heap used is well above zero and comparable.
    const ballast = Array.from({ length: 200 }, (_, i) => new Array(5_000).fill(i));
    const all = await samples(registry);
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
    const stat = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    const clockTicks = 100; // USER_HZ on Linux
    const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / clockTicks;
    const heap = heapStats();

    const rss = value(all, "process_resident_memory_bytes");
    expect(Math.abs(rss - kb("VmRSS")) / kb("VmRSS")).toBeLessThan(0.2);
    expect(value(all, "process_virtual_memory_bytes")).toBeGreaterThanOrEqual(rss);
    // prom-client counts CPU from the registry's creation, not the process start: compare what both add
    // over a busy half second (rate() is all a dashboard takes from a counter).
    const cpuBefore = value(all, "process_cpu_seconds_total");
    const busyUntil = performance.now() + 500;
    while (performance.now() < busyUntil) {
      // burn CPU
    }
    const statAfter = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    const cpuAdded = value(await samples(registry), "process_cpu_seconds_total") - cpuBefore;
    const statAdded = (Number(statAfter[11]) + Number(statAfter[12])) / clockTicks - cpuSeconds;
    expect(cpuAdded).toBeGreaterThan(0.02); // a loaded machine gives the busy loop little of its 500 ms
    expect(Math.abs(cpuAdded - statAdded)).toBeLessThan(0.2);
    expect(Math.abs(value(all, "process_open_fds") - readdirSync("/proc/self/fd").length)).toBeLessThan(5);
    const uptime = Date.now() / 1000 - value(all, "process_start_time_seconds");
    expect(Math.abs(uptime - process.uptime())).toBeLessThan(2);

    const used = value(all, "nodejs_heap_size_used_bytes");
    const total = value(all, "nodejs_heap_size_total_bytes");
    // The defect this replaces: memoryUsage().heapTotal below heapUsed (60 MB against 1.36 GB in the demo).
    expect(used).toBeLessThanOrEqual(total);
    expect(used).toBeGreaterThan(4_000_000);
    const objects = heap.heapSize - heap.extraMemorySize;
    expect(Math.abs(used - objects) / objects).toBeLessThan(0.5);
    expect(total).toBeLessThan(rss * 2);
    expect(all.get(`bun_version_info{version="${Bun.version}"}`)).toBe(1);
    expect(ballast.length).toBe(200);
  });

  test("an untouched 256 MB buffer is external memory, not heap used (nor resident)", async () => {
    const registry = createRegistry();
    const before = await samples(registry);
    const buffer = new ArrayBuffer(256 * 1024 * 1024);
    const after = await samples(registry);
    const grew = (name: string) => value(after, name) - value(before, name);
    expect(grew("nodejs_external_memory_bytes")).toBeGreaterThanOrEqual(256 * 1024 * 1024);
    expect(grew("nodejs_heap_size_used_bytes")).toBeLessThan(16 * 1024 * 1024);
    expect(value(after, "nodejs_heap_size_used_bytes")).toBeLessThan(
      value(after, "process_resident_memory_bytes"),
    );
    expect(buffer.byteLength).toBe(256 * 1024 * 1024);
  });

  test("an event-loop stall of 300 ms shows as such", async () => {
    const registry = createRegistry();
    await registry.metrics(); // starts a fresh "since the last scrape" period
    await Bun.sleep(250);
    const blockedUntil = performance.now() + 300;
    while (performance.now() < blockedUntil) {
      // a synchronous stall, like a long JSON.parse or a model load on the main thread
    }
    await Bun.sleep(250);
    const all = await samples(registry);
    expect(value(all, "nodejs_eventloop_lag_max_seconds")).toBeGreaterThan(0.2);
    expect(value(all, "nodejs_eventloop_lag_max_seconds")).toBeLessThan(1);
    expect(value(all, `nodejs_eventloop_delay_seconds_bucket{le="0.1"}`)).toBeLessThan(
      value(all, "nodejs_eventloop_delay_seconds_count"),
    );
    // The gauge starts over after a scrape: no stall since.
    await Bun.sleep(250);
    expect(value(await samples(registry), "nodejs_eventloop_lag_max_seconds")).toBeLessThan(0.2);
  });
});

test("window delay buckets resolve streaming windows (5.0-5.6 s) and immediate emission", () => {
  const within = (lo: number, hi: number) => windowDelayBuckets.filter((b) => b > lo && b <= hi).length;
  expect(within(5, 6)).toBeGreaterThanOrEqual(3);
  expect(within(0, 1)).toBeGreaterThanOrEqual(6);
  expect([...windowDelayBuckets].sort((a, b) => a - b)).toEqual(windowDelayBuckets);
});
