import { describe, expect, test } from "bun:test";
import { detectPeriod } from "./dedupe.ts";
import {
  conformalInterval,
  decide,
  meanVersion,
  minuteOrigins,
  type Predictor,
  persistenceVersion,
  scorePredictor,
} from "./policy.ts";
import { createRng } from "./random.ts";
import { readSeedCsv } from "./seed.ts";
import { syntheticLoad } from "./synthetic.ts";

const L = 60;
const H = 60;
const walk = (() => {
  const rng = createRng(4);
  let v = 1000;
  return Float64Array.from({ length: 3600 }, () => {
    v += 10 * rng.normal();
    return v;
  });
})();
const parts = [
  { values: walk, origins: minuteOrigins(walk.length, { fraction: 0.5, lookback: L, horizon: H }) },
];
/** A model that is persistence plus a constant offset: strictly worse than persistence. */
const offset =
  (by: number): Predictor =>
  (w, b) => {
    const out = new Float64Array(b * H);
    for (let i = 0; i < b; i++) out.fill(w[i * L + L - 1]! + by, i * H, (i + 1) * H);
    return out;
  };

describe("minute-aligned origins", () => {
  test("fall on minute boundaries of the series' clock, inside the held-out tail", () => {
    expect(minuteOrigins(600, { fraction: 0.5, lookback: 60, horizon: 60 })).toEqual([
      300, 360, 420, 480, 540,
    ]);
    // First value at 00:00:20: boundaries are 40 s, 100 s, … into the series.
    const startMs = Date.UTC(2025, 0, 1, 0, 0, 20);
    expect(minuteOrigins(400, { fraction: 1, lookback: 60, horizon: 60, startMs })).toEqual([
      100, 160, 220, 280, 340,
    ]);
  });
});

describe("the serving policy", () => {
  test("a model worse than persistence is refused; persistence serves with its band", async () => {
    const d = await decide({
      parts,
      lookback: L,
      horizon: H,
      candidate: { version: "bad", predict: offset(40) },
    });
    expect(d.winner.version).toBe(persistenceVersion);
    expect(d.candidatePromoted).toBe(false);
    expect(d.reason).toMatch(/persistence [\d.]+, mean [\d.]+, candidate bad [\d.]+ W → persistence serves$/);
    expect(d.interval.p10).toHaveLength(H);
    expect(d.interval.p10[0]!).toBeLessThan(0);
    expect(d.interval.p90[0]!).toBeGreaterThan(0);
  });

  test("a model that beats persistence by more than the margin serves; a serving model it beats is replaced", async () => {
    // The walk's future is known here: an oracle beats everything.
    const oracle: Predictor = (w, b) => {
      const out = new Float64Array(b * H);
      for (let i = 0; i < b; i++) {
        const lastWindow = Array.from(w.subarray(i * L, (i + 1) * L));
        const o = walk.findIndex(
          (_, k) => k >= L && lastWindow.every((x, t) => Math.abs(walk[k - L + t]! - x) < 1e-3),
        );
        for (let h = 0; h < H; h++) out[i * H + h] = walk[o + h]!;
      }
      return out;
    };
    const d = await decide({
      parts,
      lookback: L,
      horizon: H,
      serving: { version: "old", predict: offset(5) },
      candidate: { version: "new", predict: oracle },
    });
    expect(d.winner.version).toBe("new");
    expect(d.candidatePromoted).toBe(true);
  });

  test("a hair better than persistence is not enough (margin), nor a win on too few origins", async () => {
    const tiny = offset(0.001);
    const hair = await decide({
      parts,
      lookback: L,
      horizon: H,
      candidate: { version: "same", predict: tiny },
      margin: 0.02,
    });
    expect(hair.winner.version).toBe(persistenceVersion);
    const few = [{ values: walk, origins: parts[0]!.origins.slice(0, 3) }];
    const mean = await decide({ parts: few, lookback: L, horizon: H, minOrigins: 10 });
    expect(mean.winner.version).toBe(persistenceVersion);
    expect(mean.reason).toMatch(/too little evidence/);
  });

  test("the minute mean can win where the load flickers around a level", async () => {
    const rng = createRng(9);
    const flicker = Float64Array.from({ length: 3600 }, () => 500 + 100 * rng.normal());
    const p = [
      { values: flicker, origins: minuteOrigins(flicker.length, { fraction: 0.5, lookback: L, horizon: H }) },
    ];
    expect((await decide({ parts: p, lookback: L, horizon: H })).winner.version).toBe(meanVersion);
  });
});

describe("conformal interval", () => {
  test("covers about 80 % of new residuals from the same distribution", async () => {
    const rng = createRng(2);
    const fit = Array.from({ length: H }, () => Float64Array.from({ length: 200 }, () => 30 * rng.normal()));
    const band = conformalInterval(fit);
    let inside = 0;
    let n = 0;
    for (let h = 0; h < H; h++) {
      for (let k = 0; k < 200; k++) {
        const e = 30 * rng.normal();
        if (e >= band.p10[h]! && e <= band.p90[h]!) inside++;
        n++;
      }
    }
    expect(Math.abs(inside / n - 0.8)).toBeLessThan(0.03);
  });

  test("scorePredictor's residuals are actual − forecast per step", async () => {
    const s = await scorePredictor(offset(10), parts, L, H);
    for (const r of s.residuals) for (const e of r) expect(e).toBeLessThanOrEqual(10 + 200);
    expect(s.maeByStep).toHaveLength(H);
  });
});

describe("tiled traces", () => {
  test("seed devices 2–5 repeat every 300 s; device 1 and synthetic loads do not", async () => {
    const dir = new URL("../data/seed/", import.meta.url).pathname;
    for (const d of [2, 3, 4, 5]) {
      expect(detectPeriod((await readSeedCsv(`${dir}device_${d}_batch_data_2025-12-08.csv`)).values)).toBe(
        300,
      );
    }
    expect(detectPeriod((await readSeedCsv(`${dir}batch_values_input.csv`)).values)).toBeNull();
    expect(detectPeriod(syntheticLoad({ length: 3600, seed: 1 }))).toBeNull();
  });

  test("the synthetic generator is deterministic, non-negative and finite", () => {
    const a = syntheticLoad({ length: 2000, seed: 7 });
    expect(a).toEqual(syntheticLoad({ length: 2000, seed: 7 }));
    expect(a).not.toEqual(syntheticLoad({ length: 2000, seed: 8 }));
    expect(a.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
  });
});
