import { describe, expect, test } from "bun:test";
import type { WindowRecord } from "@energy/contracts/records.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { trainingProgress } from "../progress.ts";
import type { WindowForecast } from "./batch.ts";
import { LiveError } from "./live-error.ts";

const t0 = Date.UTC(2025, 11, 8);

function windowAt(minute: number, level: number): WindowRecord {
  const slots = Array.from({ length: 60 }, (_, i) => level + (i % 2 ? 5 : -5));
  const start = t0 + minute * 60_000;
  return {
    sensorId: 7,
    windowStartMs: start,
    windowEndMs: start + 60_000,
    count: 60,
    sum: level * 60,
    mean: level,
    min: level - 5,
    max: level + 5,
    firstEventMs: start,
    lastEventMs: start + 59_000,
    slots,
    imputed: slots.map(() => false),
    duplicates: 0,
    maxCreatedAtMs: 0,
    emittedAtMs: start + 60_000,
  };
}

const forecastOf = (window: WindowRecord, value: number): WindowForecast => ({
  window,
  kind: "shared",
  served: "lstm",
  version: "v1",
  values: new Float64Array(60).fill(value),
});

describe("live error against persistence", () => {
  test("a model worse than persistence for longer than the limit is demoted, once", () => {
    const live = new LiveError({ demoteAfterMs: 5 * 60_000, registry: createRegistry() });
    const demotions = [];
    for (let m = 0; m < 20; m++) {
      const w = windowAt(m, 1000);
      // The model forecasts 300 W too high every minute; persistence is ~5 W off.
      demotions.push(...live.observe([w], [forecastOf(w, 1300)]));
    }
    expect(demotions).toHaveLength(1);
    const [d] = demotions;
    expect(d!.scope).toBe("shared");
    expect(d!.version).toBe("v1");
    expect(d!.liveMae).toBeGreaterThan(250);
    expect(d!.persistenceMae).toBeLessThan(10);
    expect(d!.forMs).toBeGreaterThanOrEqual(5 * 60_000);
  });

  test("a demoted scope's live error is removed, so an alert on it does not fire while persistence serves", async () => {
    const registry = createRegistry();
    const live = new LiveError({ demoteAfterMs: 5 * 60_000, registry });
    const series = async () =>
      (await registry.getSingleMetric("forecaster_live_mae_watts")!.get()).values.map(
        (v) => `${v.labels.scope}/${v.labels.forecast}`,
      );
    let m = 0;
    for (; m < 20; m++) {
      const w = windowAt(m, 1000);
      if (live.observe([w], [forecastOf(w, 1300)]).length > 0) break;
      if (m === 3) expect(await series()).toEqual(["shared/served", "shared/persistence"]);
    }
    expect(m).toBeLessThan(20);
    expect(await series()).toEqual([]);
    // Batches already in flight still carry the demoted version's forecasts: they are not scored again.
    for (let k = m + 1; k < m + 4; k++) {
      const w = windowAt(k, 1000);
      live.observe([w], [forecastOf(w, 1300)]);
    }
    expect(await series()).toEqual([]);
  });

  test("a model that beats persistence is never demoted; nor one that is off (limit 0)", () => {
    const good = new LiveError({ demoteAfterMs: 60_000 });
    const off = new LiveError({ demoteAfterMs: 0 });
    for (let m = 0; m < 30; m++) {
      // A staircase: +100 W each minute; the model knows, persistence lags.
      const w = windowAt(m, 1000 + 100 * m);
      expect(good.observe([w], [forecastOf(w, 1100 + 100 * m)])).toEqual([]);
      expect(off.observe([w], [forecastOf(w, 5000)])).toEqual([]);
    }
  });

  test("a gap (a missing minute) scores nothing: forecasts are matched to the window they target", () => {
    const live = new LiveError({ demoteAfterMs: 60_000, minWindows: 1 });
    for (let m = 0; m < 30; m += 2) {
      const w = windowAt(m, 1000);
      expect(live.observe([w], [forecastOf(w, 9000)])).toEqual([]);
    }
  });
});

describe("training progress", () => {
  test("plain lines about every tenth of the run when not a TTY, with epoch, loss and ETA", () => {
    const lines: string[] = [];
    let now = 0;
    const p = trainingProgress("sensor 2", 20, { isTTY: false, write: (t) => lines.push(t) }, () => now);
    for (let e = 1; e <= 20; e++) {
      now += 500;
      p.epoch(e, 1 / e);
    }
    p.done("stored");
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe("sensor 2: epoch 2/20 loss 0.50000 elapsed 1.0 s ETA 9.0 s\n");
    expect(lines.at(-1)).toBe("sensor 2: stored\n");
  });

  test("one line rewritten in place on a TTY", () => {
    let out = "";
    const p = trainingProgress("shared", 3, { isTTY: true, write: (t) => (out += t) }, () => 0);
    for (let e = 1; e <= 3; e++) p.epoch(e, 0.1);
    p.done("done");
    expect(out.split("\r\x1b[2K")).toHaveLength(5);
    expect(out.endsWith("\r\x1b[2Kshared: done\n")).toBe(true);
    expect(out).not.toContain("\n\r");
  });
});
