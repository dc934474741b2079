import { describe, expect, test } from "bun:test";
import { sfc32 } from "@energy/platform/random.ts";
import { detectPeriod } from "./dedupe.ts";
import {
  bandAt,
  conformalInterval,
  decide,
  type Interval,
  inBand,
  meanVersion,
  minuteOrigins,
  originScale,
  type Predictor,
  persistencePredictor,
  persistenceVersion,
  type Scored,
  scorePredictor,
} from "./policy.ts";
import { readSeedCsv } from "./seed.ts";
import { syntheticLoad } from "./synthetic.ts";

const L = 60;
const H = 60;
const walk = (() => {
  const rng = sfc32(4);
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
    const rng = sfc32(9);
    const flicker = Float64Array.from({ length: 3600 }, () => 500 + 100 * rng.normal());
    const p = [
      { values: flicker, origins: minuteOrigins(flicker.length, { fraction: 0.5, lookback: L, horizon: H }) },
    ];
    expect((await decide({ parts: p, lookback: L, horizon: H })).winner.version).toBe(meanVersion);
  });
});

describe("conformal interval", () => {
  test("covers about 80 % of new residuals from the same distribution", async () => {
    const rng = sfc32(2);
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

  /**
   * A mean-reverting walk around 300 W whose step size changes every 20 minutes (heteroscedastic):
   * persistence's error grows with the step size σ, and so does the window's own scale.
   */
  const regimes = (seed: number, sigmas: readonly number[], minutes: number) => {
    const rng = sfc32(seed);
    let v = 300;
    return Float64Array.from({ length: minutes * 60 }, (_, t) => {
      v = 300 + 0.98 * (v - 300) + sigmas[Math.floor(t / 1200) % sigmas.length]! * rng.normal();
      return v;
    });
  };
  const persistenceOn = (values: Float64Array): Promise<Scored> =>
    scorePredictor(
      persistencePredictor(L, H),
      [{ values, origins: minuteOrigins(values.length, { fraction: 1, lookback: L, horizon: H }) }],
      L,
      H,
    );
  /** Coverage of `band` on `s`'s residuals, over the origins `keep` selects (by scale). */
  const coverage = (band: Interval, s: Scored, keep: (scale: number) => boolean = () => true) => {
    let inside = 0;
    let n = 0;
    s.residuals.forEach((r, h) => {
      r.forEach((e, k) => {
        if (!keep(s.scales[k]!)) return;
        n++;
        if (inBand(band, h, s.scales[k]!, e)) inside++;
      });
    });
    return inside / n;
  };

  test("normalised by the window's scale, it carries over to a series 10× as volatile; absolute does not", async () => {
    const calm = await persistenceOn(regimes(11, [4], 400));
    const wild = await persistenceOn(regimes(12, [40], 400));
    const absolute = conformalInterval(calm.residuals);
    const scaled = conformalInterval(calm.residuals, { scales: calm.scales });
    expect(scaled.scale).toBe("window");
    expect(absolute.scale).toBeUndefined();
    // On its own series both are calibrated.
    expect(Math.abs(coverage(absolute, calm) - 0.8)).toBeLessThan(0.03);
    expect(Math.abs(coverage(scaled, calm) - 0.8)).toBeLessThan(0.03);
    // On the wild one the absolute band is a tenth of the width it needs; the scaled band grows with it.
    expect(coverage(absolute, wild)).toBeLessThan(0.2);
    expect(Math.abs(coverage(scaled, wild) - 0.8)).toBeLessThan(0.05);
  });

  test("on one series switching between calm and wild regimes, it covers both; absolute covers neither", async () => {
    const fit = await persistenceOn(regimes(21, [4, 40], 1200));
    const test = await persistenceOn(regimes(22, [4, 40], 1200));
    const absolute = conformalInterval(fit.residuals);
    const scaled = conformalInterval(fit.residuals, { scales: fit.scales });
    // Calm origins: a lookback of step size 4 W has a scale well under 60 W; a wild one (40 W) above.
    const calm = (scale: number) => scale < 60;
    const wild = (scale: number) => scale >= 60;
    // Pooled, the absolute band is about right on average, but far too wide when calm, too narrow when wild.
    expect(coverage(absolute, test, calm)).toBeGreaterThan(0.95);
    expect(coverage(absolute, test, wild)).toBeLessThan(0.7);
    expect(Math.abs(coverage(scaled, test, calm) - 0.8)).toBeLessThan(0.05);
    expect(Math.abs(coverage(scaled, test, wild) - 0.8)).toBeLessThan(0.05);
  });

  test("the origin scale: std + mean |1-s change| of the last 60 values, floored, finite on extremes", () => {
    // Alternating 0/10: std 5, mean |change| 10.
    const alt = Float64Array.from({ length: 60 }, (_, t) => (t % 2 ? 10 : 0));
    expect(originScale(alt)).toBeCloseTo(15, 9);
    // Only the last 60 of a longer lookback count (a 120-s window reads like the served 60-s one).
    const longer = new Float64Array(120);
    longer.set(alt, 60);
    longer.fill(1e6, 0, 60);
    expect(originScale(longer)).toBeCloseTo(15, 9);
    // Flat: the floor, 1 % of the level, at least 1 W.
    expect(originScale(new Float64Array(60).fill(5000))).toBe(50);
    expect(originScale(new Float64Array(60))).toBe(1);
    expect(originScale(new Float64Array(60).fill(-300))).toBe(3);
    expect(originScale(new Float64Array(0))).toBe(1);
    expect(originScale(Float64Array.of(42))).toBe(1);
    for (const x of [1e13, 1e300, 2 ** 31]) {
      const s = originScale(new Float64Array(60).fill(x));
      expect(Number.isFinite(s) && s > 0).toBe(true);
    }
    const big = Float64Array.from({ length: 60 }, (_, t) => (t % 2 ? 1e300 : -1e300));
    expect(Number.isFinite(originScale(big))).toBe(true);
    expect(originScale(Float64Array.from({ length: 60 }, (_, t) => (t === 30 ? Number.NaN : 7)))).toBe(1);
  });

  test("an absolute interval (older manifests) adds its offsets unscaled; a scaled one multiplies", () => {
    const absolute: Interval = { p10: [-10], p90: [20] };
    const scaled: Interval = { p10: [-1], p90: [2], scale: "window" };
    expect(bandAt(absolute, 0, 7)).toEqual({ lo: -10, hi: 20 });
    expect(bandAt(scaled, 0, 7)).toEqual({ lo: -7, hi: 14 });
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
