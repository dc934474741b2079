/**
 * The serving policy: which forecast a scope serves. Every path that can make a model servable (`ml train`,
 * `ml retrain`, scheduled retraining, the bootstrap worker, `ml evaluate --walk-forward`) scores the
 * candidate, the serving model, persistence (repeat the last reading) and the minute mean on the same
 * minute-aligned validation origins by MAE, and serves the winner. Baselines are candidates, not
 * thresholds: when persistence wins, persistence is served and labelled as such.
 *
 * Origins are minute-aligned because that is what the forecaster serves: one forecast per closed window,
 * from its 60 one-second slots, for the next 60 seconds.
 */
import { PipelineError } from "@energy/contracts/errors.ts";

/** What produces a served forecast: a trained network, or one of the two baselines. */
export type ServedKind = "lstm" | "persistence" | "mean";

/** Reserved version names of the baselines (manifest `promoted`, `forecasts.model_version`). */
export const persistenceVersion = "baseline-persistence";
export const meanVersion = "baseline-mean";

export function isBaselineVersion(version: string): boolean {
  return version === persistenceVersion || version === meanVersion;
}

export function kindOfVersion(version: string): ServedKind {
  return version === persistenceVersion ? "persistence" : version === meanVersion ? "mean" : "lstm";
}

/** `[batch, lookback]` raw windows → `[batch, horizon]` raw forecasts. */
export type Predictor = (
  windows: Float64Array,
  batch: number,
) => Promise<ArrayLike<number>> | ArrayLike<number>;

/** Persistence: the last value of each window, `horizon` times. */
export function persistencePredictor(lookback: number, horizon: number): Predictor {
  return (windows, batch) => {
    const out = new Float64Array(batch * horizon);
    for (let b = 0; b < batch; b++)
      out.fill(windows[b * lookback + lookback - 1]!, b * horizon, (b + 1) * horizon);
    return out;
  };
}

/** The minute mean: the mean of each window's last 60 values (the served window's mean), `horizon` times. */
export function meanPredictor(lookback: number, horizon: number): Predictor {
  const span = Math.min(60, lookback);
  return (windows, batch) => {
    const out = new Float64Array(batch * horizon);
    for (let b = 0; b < batch; b++) {
      let sum = 0;
      for (let t = lookback - span; t < lookback; t++) sum += windows[b * lookback + t]!;
      out.fill(sum / span, b * horizon, (b + 1) * horizon);
    }
    return out;
  };
}

/** A series and the forecast origins to score on it (origin o: inputs before o, targets [o, o + horizon)). */
export interface ValidationPart {
  values: ArrayLike<number>;
  origins: number[];
}

/**
 * Minute-aligned origins in the last `fraction` of a series: `o` with `o ≥ max(split, lookback)`,
 * `o + horizon ≤ n`, and `startMs + o s` on a minute boundary (index multiple of 60 without `startMs`).
 */
export function minuteOrigins(
  n: number,
  options: { fraction: number; lookback: number; horizon: number; startMs?: number | undefined },
): number[] {
  const split = Math.floor(n * (1 - options.fraction));
  const offset =
    options.startMs === undefined ? 0 : (((60 - Math.round(options.startMs / 1000)) % 60) + 60) % 60;
  const origins: number[] = [];
  for (let o = Math.max(split, options.lookback); o + options.horizon <= n; o++) {
    if ((o - offset) % 60 === 0) origins.push(o);
  }
  return origins;
}

export interface Scored {
  origins: number;
  mae: number;
  rmse: number;
  /** MAE per horizon step (1 … horizon s). */
  maeByStep: number[];
  /** actual − forecast per horizon step, every origin: what the conformal interval is made of. */
  residuals: Float64Array[];
  /** `originScale` of each origin's window, in the order of `residuals[h]`: what normalises them. */
  scales: Float64Array;
}

/** Scores a predictor on every origin of `parts` (one batched call per part). */
export async function scorePredictor(
  predict: Predictor,
  parts: readonly ValidationPart[],
  lookback: number,
  horizon: number,
): Promise<Scored> {
  const total = parts.reduce((n, p) => n + p.origins.length, 0);
  if (total === 0) {
    throw new PipelineError(
      "validation",
      "no validation origins: the series are too short for a minute-aligned holdout",
      {
        hint: `give at least ${lookback + horizon + 60} values per series (more rows: --rows)`,
      },
    );
  }
  const residuals = Array.from({ length: horizon }, () => new Float64Array(total));
  const scales = new Float64Array(total);
  const stepAe = new Float64Array(horizon);
  let se = 0;
  let k = 0;
  for (const part of parts) {
    const batch = part.origins.length;
    if (batch === 0) continue;
    const windows = new Float64Array(batch * lookback);
    part.origins.forEach((o, b) => {
      if (o < lookback || o + horizon > part.values.length) {
        throw new PipelineError("validation", `origin ${o} does not fit a series of ${part.values.length}`);
      }
      for (let t = 0; t < lookback; t++) windows[b * lookback + t] = part.values[o - lookback + t]!;
    });
    const y = await predict(windows, batch);
    part.origins.forEach((o, b) => {
      scales[k] = originScale(windows.subarray(b * lookback, (b + 1) * lookback));
      for (let h = 0; h < horizon; h++) {
        const r = part.values[o + h]! - y[b * horizon + h]!;
        residuals[h]![k] = r;
        stepAe[h]! += Math.abs(r);
        se += r * r;
      }
      k++;
    });
  }
  const maeByStep = Array.from(stepAe, (s) => s / total);
  return {
    origins: total,
    mae: maeByStep.reduce((a, b) => a + b, 0) / horizon,
    rmse: Math.sqrt(se / (total * horizon)),
    maeByStep,
    residuals,
    scales,
  };
}

/** 1 − mae / persistence's mae: > 0 beats persistence. Finite for a constant series. */
export function maeSkill(mae: number, persistenceMae: number): number {
  return 1 - mae / Math.max(persistenceMae, Number.EPSILON);
}

/**
 * The p10/p90 band per horizon step. Without `scale` the offsets are watts added to the forecast (the first,
 * absolute calibration; older manifests carry it). With `scale: "window"` they are multiples of the origin
 * window's `originScale`: the band widens and narrows with the series' own volatility.
 */
export interface Interval {
  p10: number[];
  p90: number[];
  scale?: "window";
}

/**
 * The volatility the band is scaled by, from what the forecaster has at the origin — the last (up to) 60
 * one-second values: their standard deviation (a step or ramp inside the minute: appliances switching) plus
 * their mean absolute 1-s change (ripple and noise). Floored at 1 % of the last reading and 1 W, so a flat
 * minute (an idle appliance, a stuck sensor) keeps a band and calibration never divides by zero.
 *
 * Why this scale: on 12 series of the synthetic training seeds (1000–1011, never the test seeds),
 * leave-one-series-out, absolute offsets covered 64–93 % per series (nominal 80 %); this scale 76–83 %,
 * the narrowest spread of the scales tried (mean |1-s change| 73–87 %, MAD 66–86 %, std 77–84 %, range
 * 75–85 %).
 */
export function originScale(window: ArrayLike<number>): number {
  const n = window.length;
  const span = Math.min(60, n);
  if (span === 0) return 1;
  let mean = 0;
  for (let t = n - span; t < n; t++) mean += window[t]!;
  mean /= span;
  let sq = 0;
  let change = 0;
  for (let t = n - span; t < n; t++) {
    sq += (window[t]! - mean) ** 2;
    if (t > n - span) change += Math.abs(window[t]! - window[t - 1]!);
  }
  const scale = Math.sqrt(sq / span) + (span > 1 ? change / (span - 1) : 0);
  const floor = Math.max(1, 0.01 * Math.abs(window[n - 1]!));
  // NaN/∞ in a window (the store rejects them; belt and braces): the floor, not a NaN band.
  return Number.isFinite(scale) ? Math.max(scale, floor) : floor;
}

/** The band's offsets (watts, added to the forecast) at step `h` for an origin of scale `scale`. */
export function bandAt(interval: Interval, h: number, scale: number): { lo: number; hi: number } {
  const k = interval.scale === "window" ? scale : 1;
  return { lo: interval.p10[h]! * k, hi: interval.p90[h]! * k };
}

/** Whether residual `e` (actual − forecast) at step `h` of an origin of scale `scale` is inside the band. */
export function inBand(interval: Interval, h: number, scale: number, e: number): boolean {
  const { lo, hi } = bandAt(interval, h, scale);
  return e >= lo && e <= hi;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Split-conformal p10/p90 per step from validation residuals (actual − forecast). Steps within ±`pool` are
 * pooled: a few dozen origins per step give a noisy quantile, and neighbouring steps' errors are alike.
 *
 * With `scales` (each origin's `originScale`, as `Scored.scales`) the calibration is locally scaled
 * (normalised conformal): the quantiles are of residual / scale, and serving multiplies them by the new
 * origin's scale. Absolute offsets calibrated on one series are wrong for a calmer or wilder one (issue 12:
 * 72–88 % on unseen series); normalised ones carry over as long as error grows with the window's volatility.
 */
export function conformalInterval(
  residuals: readonly Float64Array[],
  options: { pool?: number; scales?: Float64Array | undefined } = {},
): Interval {
  const pool = options.pool ?? 5;
  const scales = options.scales;
  const H = residuals.length;
  const p10: number[] = [];
  const p90: number[] = [];
  for (let h = 0; h < H; h++) {
    const lo = Math.max(0, h - pool);
    const hi = Math.min(H - 1, h + pool);
    const n = residuals.slice(lo, hi + 1).reduce((s, r) => s + r.length, 0);
    const all = new Float64Array(n);
    let at = 0;
    for (let j = lo; j <= hi; j++) {
      const r = residuals[j]!;
      if (scales) for (let k = 0; k < r.length; k++) all[at + k] = r[k]! / scales[k]!;
      else all.set(r, at);
      at += r.length;
    }
    all.sort();
    // Normalised quantiles are small numbers (multiples of the scale): keep more digits.
    const digits = scales ? 1e6 : 1e3;
    p10.push(Math.round(quantile(all, 0.1) * digits) / digits);
    p90.push(Math.round(quantile(all, 0.9) * digits) / digits);
  }
  return scales ? { p10, p90, scale: "window" } : { p10, p90 };
}

export function checkInterval(value: unknown, horizon?: number): value is Interval {
  const v = value as Partial<Interval> | null;
  const ok = (a: unknown) =>
    Array.isArray(a) &&
    a.every((x) => typeof x === "number" && Number.isFinite(x)) &&
    (horizon === undefined || a.length === horizon);
  return (
    v !== null &&
    typeof v === "object" &&
    ok(v.p10) &&
    ok(v.p90) &&
    v.p10!.length === v.p90!.length &&
    (v.scale === undefined || v.scale === "window")
  );
}

/**
 * A model needs this many held-out minutes to serve: the MAE over fewer is mostly chance (one origin decided
 * device 1's model in issue 12).
 */
export const defaultMinOrigins = 10;

/**
 * Anything but persistence must beat persistence's validation MAE by 2 % to serve: a tie or a hair's
 * advantage on a few dozen origins is noise, and flipping to it made the walk-forward worse than persistence.
 */
export const defaultMargin = 0.02;

export interface Contender {
  version: string;
  kind: ServedKind;
  /** `candidate` (just trained), `serving` (what serves now), or a baseline. */
  role: "candidate" | "serving" | "baseline";
  scored: Scored;
}

export interface Decision {
  winner: Contender;
  contenders: Contender[];
  /** The winner's prediction interval from its validation residuals. */
  interval: Interval;
  /** True when the candidate won (it becomes the serving version). */
  candidatePromoted: boolean;
  reason: string;
}

const w = (x: number) => x.toFixed(1);

/**
 * Scores everything on the same origins and picks the lowest MAE. Anything but persistence must beat
 * persistence by `margin`; ties keep the simpler or incumbent (persistence, the mean, the serving model,
 * the candidate), so a candidate must be strictly better than what serves.
 *
 * @example
 * const d = await decide({ parts, lookback: 60, horizon: 60, candidate: { version, predict } });
 * d.winner.version; // e.g. "baseline-persistence"
 */
export async function decide(input: {
  parts: readonly ValidationPart[];
  lookback: number;
  horizon: number;
  candidate?: { version: string; predict: Predictor } | undefined;
  serving?: { version: string; predict: Predictor } | undefined;
  /** Fewer origins than this are too little evidence for anything to replace persistence. */
  minOrigins?: number;
  /** A challenger of persistence must beat it by this fraction of its MAE (default `defaultMargin`). */
  margin?: number;
  /**
   * Where a baseline winner's interval is calibrated (default `parts`): a baseline learns nothing, so every
   * origin of the series may calibrate it, not only the held-out tail.
   */
  calibrationParts?: readonly ValidationPart[];
}): Promise<Decision> {
  const { parts, lookback, horizon } = input;
  const contenders: Contender[] = [
    {
      version: persistenceVersion,
      kind: "persistence",
      role: "baseline",
      scored: await scorePredictor(persistencePredictor(lookback, horizon), parts, lookback, horizon),
    },
    {
      version: meanVersion,
      kind: "mean",
      role: "baseline",
      scored: await scorePredictor(meanPredictor(lookback, horizon), parts, lookback, horizon),
    },
  ];
  if (input.serving && !isBaselineVersion(input.serving.version)) {
    contenders.push({
      version: input.serving.version,
      kind: "lstm",
      role: "serving",
      scored: await scorePredictor(input.serving.predict, parts, lookback, horizon),
    });
  }
  if (input.candidate) {
    contenders.push({
      version: input.candidate.version,
      kind: "lstm",
      role: "candidate",
      scored: await scorePredictor(input.candidate.predict, parts, lookback, horizon),
    });
  }
  let meanBarred = 0;
  // The mean learns nothing, so every origin of the series is out-of-sample for it: it must also beat
  // persistence there, not only on the tail (a tail of 15 minutes made it flip in and out, and lose).
  if (input.calibrationParts) {
    const wide = [persistencePredictor, meanPredictor].map((p) =>
      scorePredictor(p(lookback, horizon), input.calibrationParts!, lookback, horizon),
    );
    const [p, m] = await Promise.all(wide);
    if (!(m!.mae < p!.mae * (1 - (input.margin ?? defaultMargin)))) meanBarred = m!.origins;
  }
  const origins = contenders[0]!.scored.origins;
  const evidence = origins >= (input.minOrigins ?? defaultMinOrigins);
  const bar = contenders[0]!.scored.mae * (1 - (input.margin ?? defaultMargin));
  let winner = contenders[0]!;
  for (const c of contenders) {
    if (c.kind !== "persistence" && !evidence) continue;
    if (c.kind === "mean" && meanBarred > 0) continue;
    if (c.kind !== "persistence" && !(c.scored.mae < bar)) continue;
    if (c.scored.mae < winner.scored.mae) winner = c;
  }
  const figures = contenders
    .map((c) => `${c.role === "baseline" ? c.kind : `${c.role} ${c.version}`} ${w(c.scored.mae)}`)
    .join(", ");
  const reason =
    `MAE on ${origins} minute-aligned origins: ${figures} W → ${winner.role === "baseline" ? winner.kind : winner.version} serves` +
    (meanBarred > 0 && winner.kind === "persistence" && contenders[1]!.scored.mae < contenders[0]!.scored.mae
      ? ` (mean not better than persistence over all ${meanBarred} origins)`
      : "") +
    (evidence
      ? ""
      : ` (fewer than ${input.minOrigins ?? defaultMinOrigins} origins: too little evidence to replace persistence)`);
  let calibration = winner.scored;
  if (winner.role === "baseline" && input.calibrationParts) {
    const predict =
      winner.kind === "mean" ? meanPredictor(lookback, horizon) : persistencePredictor(lookback, horizon);
    calibration = await scorePredictor(predict, input.calibrationParts, lookback, horizon);
  }
  return {
    winner,
    contenders,
    interval: conformalInterval(calibration.residuals, { scales: calibration.scales }),
    candidatePromoted: winner.role === "candidate",
    reason,
  };
}
