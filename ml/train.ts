/**
 * Training a forecaster on one device's series: supervised windows, a held-out tail for validation,
 * mini-batch Adam on the MSE, and the choice between the study's recursive one-step model and a direct
 * multi-horizon head by their 60-second-ahead validation error.
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import { sfc32, shuffle } from "@energy/platform/random.ts";
import { Adam } from "./adam.ts";
import {
  createLstmModel,
  fillDropoutMask,
  forward,
  type LstmModel,
  lossAndGradient,
  TrainingWorkspace,
} from "./lstm.ts";
import { MinMaxScaler } from "./scaler.ts";

/** `recursive`: Dense(1), fed back `horizon` times (the study). `direct`: Dense(horizon), one pass. */
export type ForecastHead = "recursive" | "direct";
/** What the network predicts: the next values' difference to the last reading, or their scaled level. */
export type ForecastTarget = "residual" | "absolute";

export interface TrainOptions {
  /** Input length in samples (seconds). */
  lookback: number;
  /** Forecast length in samples. */
  horizon: number;
  hidden: number;
  head: ForecastHead;
  epochs: number;
  batchSize: number;
  learningRate: number;
  dropout: number;
  /** Fraction of the series (its tail) held out for validation; the scaler is fitted on the rest. */
  validationFraction: number;
  /** Validation loss is recorded every this many epochs (and after the last); 0 = only after the last. */
  validateEvery: number;
  seed: number;
  /** `residual`: forecast the change from the last reading (level-invariant); `absolute`: min–max levels. */
  target: ForecastTarget;
  /** Training loss: `mae` (what the policy scores; its optimum is the median) or the study's `mse`. */
  objective: "mse" | "mae";
  /** Training windows per epoch (a random subset when there are more); 0 = all. */
  maxSamplesPerEpoch: number;
  /** Called after each epoch, e.g. for progress logs. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/**
 * LSTM(25), Dropout(0.1), Adam, batch 32, 60 s in, 60 s out as in the study, but the direct head on residual
 * targets (what won on unseen data, ml/EVALUATION.md) with fewer, faster epochs.
 */
export const defaultTrainOptions: TrainOptions = {
  lookback: 60,
  horizon: 60,
  hidden: 25,
  head: "direct",
  epochs: 30,
  batchSize: 32,
  learningRate: 0.003,
  dropout: 0.1,
  validationFraction: 0.25,
  validateEvery: 10,
  seed: 42,
  target: "residual",
  objective: "mae",
  maxSamplesPerEpoch: 1024,
};

/** Errors of the `horizon`-ahead forecasts from every validation origin, in the series' units. */
export interface ForecastMetrics {
  origins: number;
  mae: number;
  rmse: number;
  /** MSE in scaled units (what `trainBest` compares). */
  mseScaled: number;
}

export interface TrainResult {
  model: LstmModel;
  /** Fitted on the training part; the model's units when `target` is `absolute`. */
  scaler: MinMaxScaler;
  /** The model's units when `target` is `residual`. */
  residual?: ResidualScaling;
  head: ForecastHead;
  target: ForecastTarget;
  lookback: number;
  horizon: number;
  /** Mean training loss (scaled MSE, with dropout) per epoch. */
  loss: number[];
  /** [epoch, validation loss of the head's own target] pairs. */
  validationLoss: Array<[number, number]>;
  validation: ForecastMetrics;
  trainSamples: number;
  trainMs: number;
}

/**
 * Supervised windows of a scaled series: sample i has input s[i, i+lookback) and target
 * s[i+lookback, i+lookback+outputs), for i in [first, last]. Returns [count, lookback] and [count, outputs].
 */
export function buildWindows(
  series: ArrayLike<number>,
  lookback: number,
  outputs: number,
  first: number,
  last: number,
): { x: Float64Array; y: Float64Array; count: number } {
  const count = Math.max(0, last - first + 1);
  const x = new Float64Array(count * lookback);
  const y = new Float64Array(count * outputs);
  for (let s = 0; s < count; s++) {
    const i = first + s;
    for (let t = 0; t < lookback; t++) x[s * lookback + t] = series[i + t]!;
    for (let o = 0; o < outputs; o++) y[s * outputs + o] = series[i + lookback + o]!;
  }
  return { x, y, count };
}

function checkSeries(series: ArrayLike<number>, opts: TrainOptions): number {
  const n = series.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(series[i]!)) {
      throw new PipelineError(
        "validation",
        `training series value at index ${i} is ${series[i]}, not finite`,
      );
    }
  }
  for (const key of ["lookback", "horizon", "hidden", "epochs", "batchSize"] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) {
      throw new PipelineError("config", `training option ${key} = ${opts[key]} is not a positive integer`);
    }
  }
  if (!(opts.validationFraction > 0 && opts.validationFraction < 1)) {
    throw new PipelineError("config", `validationFraction ${opts.validationFraction} is not in (0, 1)`);
  }
  const split = Math.floor(n * (1 - opts.validationFraction));
  const outputs = opts.head === "direct" ? opts.horizon : 1;
  if (n - split < opts.horizon || split - opts.lookback - outputs + 1 < 1) {
    throw new PipelineError(
      "validation",
      `a series of ${n} values is too short for lookback ${opts.lookback}, horizon ${opts.horizon} and a ` +
        `${opts.validationFraction} validation tail`,
      {
        hint: `give at least ${Math.ceil((opts.lookback + 2 * opts.horizon) / opts.validationFraction)} values`,
      },
    );
  }
  return split;
}

/**
 * The residual target's scaling: inputs are `(x − last) / scale` clipped to ±`inputClip`, outputs are
 * `last + scale · clip(y, ±outputClip)` floored at `floor`. Nothing depends on the level the model was
 * trained at, so a sensor at 5 kW is forecast like one at 500 W, and the first forecast second starts at
 * the last reading instead of wherever a min–max range fitted to 600 rows put it.
 */
export interface ResidualScaling {
  scale: number;
  inputClip: number;
  outputClip: number;
  floor: number;
}

/** A robust scale: the 90th percentile of |x[t+h] − x[t]| over the training part (h = horizon / 2), ≥ 1. */
export function residualScaling(parts: readonly ArrayLike<number>[], horizon: number): ResidualScaling {
  const diffs: number[] = [];
  let min = Number.POSITIVE_INFINITY;
  const h = Math.max(1, Math.floor(horizon / 2));
  for (const part of parts) {
    for (let t = 0; t < part.length; t++) {
      if (part[t]! < min) min = part[t]!;
      if (t + h < part.length) diffs.push(Math.abs(part[t + h]! - part[t]!));
    }
  }
  diffs.sort((a, b) => a - b);
  const q = diffs.length ? diffs[Math.floor(0.9 * (diffs.length - 1))]! : 1;
  // Power readings are ≥ 0; a series that is negative somewhere keeps its own floor.
  return { scale: Math.max(1, q), inputClip: 20, outputClip: 20, floor: Math.min(0, min) };
}

/** Splits each part at (1 − validationFraction); training windows never straddle two parts. */
function partsOf(series: ArrayLike<number> | readonly ArrayLike<number>[]): ArrayLike<number>[] {
  const many = Array.isArray(series) && series.length > 0 && typeof series[0] !== "number";
  return many ? [...(series as ArrayLike<number>[])] : [series as ArrayLike<number>];
}

/**
 * Trains one model on `series` (raw units; several series train one shared model, windows never crossing
 * from one to the next). The last `validationFraction` of each series is held out: training windows end
 * before it, validation forecasts start inside it (their inputs may reach back into the training part, as
 * they would in production). Deterministic in `seed`.
 *
 * @example
 * const result = train(values, { head: "direct", target: "residual", epochs: 40 });
 * result.validation.mae; // watts
 */
export function train(
  series: ArrayLike<number> | readonly ArrayLike<number>[],
  options: Partial<TrainOptions> = {},
): TrainResult {
  const opts: TrainOptions = { ...defaultTrainOptions, ...options };
  const parts = partsOf(series);
  const splits = parts.map((p) => checkSeries(p, opts));
  const started = performance.now();
  const { lookback, horizon, batchSize } = opts;
  const outputs = opts.head === "direct" ? horizon : 1;
  const trainParts = parts.map((p, i) => Array.prototype.slice.call(p, 0, splits[i]) as number[]);
  const scaler = MinMaxScaler.fit(trainParts.flat());
  const residual = opts.target === "residual" ? residualScaling(trainParts, horizon) : undefined;
  const transform = { scaler, residual };

  const trainSets = parts.map((p, i) =>
    buildModelWindows(transform, p, lookback, outputs, 0, splits[i]! - lookback - outputs),
  );
  const valSets = parts.map((p, i) =>
    buildModelWindows(transform, p, lookback, outputs, splits[i]! - lookback, p.length - lookback - outputs),
  );
  const trainSet = concatWindows(trainSets, lookback, outputs);
  const valSet = concatWindows(valSets, lookback, outputs);

  const rng = sfc32(opts.seed);
  const model = createLstmModel(
    { inputSize: 1, hidden: opts.hidden, outputs, dropout: opts.dropout },
    Math.floor(rng.next() * 2 ** 32),
  );
  const ws = new TrainingWorkspace(model.config, batchSize, lookback);
  const grad = new Float64Array(model.params.length);
  const adam = new Adam(model.params.length, { learningRate: opts.learningRate });
  const order = new Uint32Array(trainSet.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // Epochs see at most `maxSamplesPerEpoch` shuffled windows: with hours of rows, a few passes over a random
  // subset converge as well as full passes, at a fraction of the time.
  const perEpoch = Math.min(
    order.length,
    opts.maxSamplesPerEpoch > 0 ? opts.maxSamplesPerEpoch : order.length,
  );

  const loss: number[] = [];
  const validationLoss: Array<[number, number]> = [];
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    shuffle(rng.next, order);
    let sum = 0;
    for (let start = 0; start < perEpoch; start += batchSize) {
      const batch = Math.min(batchSize, perEpoch - start);
      for (let b = 0; b < batch; b++) {
        const s = order[start + b]!;
        ws.x.set(trainSet.x.subarray(s * lookback, (s + 1) * lookback), b * lookback);
        ws.y.set(trainSet.y.subarray(s * outputs, (s + 1) * outputs), b * outputs);
      }
      fillDropoutMask(ws, batch, opts.dropout, rng.next);
      sum += lossAndGradient(model, ws, batch, grad, true, opts.objective) * batch;
      adam.step(model.params, grad);
    }
    const epochLoss = sum / perEpoch;
    loss.push(epochLoss);
    opts.onEpoch?.(epoch, epochLoss);
    if (
      valSet.count > 0 &&
      (epoch === opts.epochs || (opts.validateEvery > 0 && epoch % opts.validateEvery === 0))
    ) {
      validationLoss.push([
        epoch,
        meanSquaredError(forward(model, valSet.x, valSet.count, lookback), valSet.y),
      ]);
    }
  }
  const trainMs = performance.now() - started;
  const result: TrainResult = {
    model,
    scaler,
    ...(residual ? { residual } : {}),
    head: opts.head,
    target: opts.target,
    lookback,
    horizon,
    loss,
    validationLoss,
    validation: { origins: 0, mae: 0, rmse: 0, mseScaled: 0 },
    trainSamples: trainSet.count,
    trainMs,
  };
  result.validation = evaluateForecasts(result, parts, splits);
  return result;
}

interface Transform {
  scaler: MinMaxScaler;
  residual?: ResidualScaling | undefined;
}

/** Supervised windows in the model's own units (scaled levels, or scaled differences to the last input). */
function buildModelWindows(
  t: Transform,
  ...window: Parameters<typeof buildWindows>
): ReturnType<typeof buildWindows> {
  const [, lookback, outputs] = window;
  const { x, y, count } = buildWindows(...window);
  for (let s = 0; s < count; s++) {
    const xs = x.subarray(s * lookback, (s + 1) * lookback);
    const ys = y.subarray(s * outputs, (s + 1) * outputs);
    if (t.residual) {
      const { scale, inputClip } = t.residual;
      const lastValue = xs[lookback - 1]!;
      for (let i = 0; i < xs.length; i++) xs[i] = clip((xs[i]! - lastValue) / scale, inputClip);
      for (let i = 0; i < ys.length; i++) ys[i] = (ys[i]! - lastValue) / scale;
    } else {
      for (let i = 0; i < xs.length; i++) xs[i] = t.scaler.transformValue(xs[i]!);
      for (let i = 0; i < ys.length; i++) ys[i] = t.scaler.transformValue(ys[i]!);
    }
  }
  return { x, y, count };
}

function concatWindows(
  sets: Array<{ x: Float64Array; y: Float64Array; count: number }>,
  lookback: number,
  outputs: number,
): { x: Float64Array; y: Float64Array; count: number } {
  const count = sets.reduce((n, s) => n + s.count, 0);
  const x = new Float64Array(count * lookback);
  const y = new Float64Array(count * outputs);
  let at = 0;
  for (const s of sets) {
    x.set(s.x.subarray(0, s.count * lookback), at * lookback);
    y.set(s.y.subarray(0, s.count * outputs), at * outputs);
    at += s.count;
  }
  return { x, y, count };
}

const clip = (v: number, c: number) => (v > c ? c : Math.max(v, -c));

/**
 * Trains both heads with the same options and returns the one with the lower `horizon`-ahead validation
 * MSE (ties go to `recursive`, the study's choice), plus both candidates.
 */
export function trainBest(
  series: ArrayLike<number> | readonly ArrayLike<number>[],
  options: Partial<Omit<TrainOptions, "head">> = {},
): { best: TrainResult; candidates: TrainResult[] } {
  const recursive = train(series, { ...options, head: "recursive" });
  const direct = train(series, { ...options, head: "direct" });
  const best = direct.validation.mae < recursive.validation.mae ? direct : recursive;
  return { best, candidates: [recursive, direct] };
}

/**
 * `horizon`-step forecasts in scaled units for `batch` windows of `lookback` scaled values: one pass of the
 * direct head, or `horizon` passes of the one-step model, each appending its prediction to the window.
 */
export function forecastScaled(
  model: LstmModel,
  head: ForecastHead,
  windows: Float64Array,
  batch: number,
  lookback: number,
  horizon: number,
): Float64Array {
  if (head === "direct") {
    if (model.config.outputs < horizon) {
      throw new PipelineError(
        "model",
        `direct model has ${model.config.outputs} outputs, asked for ${horizon}`,
      );
    }
    const y = forward(model, windows, batch, lookback);
    const out = new Float64Array(batch * horizon);
    for (let b = 0; b < batch; b++) {
      out.set(y.subarray(b * model.config.outputs, b * model.config.outputs + horizon), b * horizon);
    }
    return out;
  }
  const out = new Float64Array(batch * horizon);
  const window = windows.slice();
  const step = new Float64Array(batch);
  for (let h = 0; h < horizon; h++) {
    forward(model, window, batch, lookback, step);
    for (let b = 0; b < batch; b++) {
      const w = window.subarray(b * lookback, (b + 1) * lookback);
      w.copyWithin(0, 1);
      w[lookback - 1] = step[b]!;
      out[b * horizon + h] = step[b]!;
    }
  }
  return out;
}

/**
 * `result.horizon` forecasts in raw units for `batch` windows of `lookback` raw values ([batch, lookback]
 * row-major), whatever the head and target: the JS twin of the exported ONNX graph.
 */
export function forecastRaw(result: TrainResult, windows: ArrayLike<number>, batch: number): Float64Array {
  const { lookback, horizon, head, residual, scaler, model } = result;
  if (windows.length !== batch * lookback) {
    throw new PipelineError("validation", `forecast got ${windows.length} values for ${batch} × ${lookback}`);
  }
  const out = new Float64Array(batch * horizon);
  const raw = Float64Array.from(windows);
  const x = new Float64Array(batch * lookback);
  const last = new Float64Array(batch);
  const steps = head === "direct" ? 1 : horizon;
  for (let step = 0; step < steps; step++) {
    for (let b = 0; b < batch; b++) {
      const w = raw.subarray(b * lookback, (b + 1) * lookback);
      last[b] = w[lookback - 1]!;
      for (let t = 0; t < lookback; t++) {
        x[b * lookback + t] = residual
          ? clip((w[t]! - last[b]!) / residual.scale, residual.inputClip)
          : scaler.transformValue(w[t]!);
      }
    }
    const y = forward(model, x, batch, lookback);
    const O = model.config.outputs;
    for (let b = 0; b < batch; b++) {
      const n = head === "direct" ? horizon : 1;
      for (let o = 0; o < n; o++) {
        const v = y[b * O + o]!;
        const value = residual
          ? Math.max(residual.floor, last[b]! + residual.scale * clip(v, residual.outputClip))
          : scaler.inverseValue(v);
        out[b * horizon + (head === "direct" ? o : step)] = value;
      }
      if (head === "recursive") {
        const w = raw.subarray(b * lookback, (b + 1) * lookback);
        w.copyWithin(0, 1);
        w[lookback - 1] = out[b * horizon + step]!;
      }
    }
  }
  return out;
}

/**
 * Forecast of the next `result.horizon` values (raw units) after `recent`, whose last `lookback` values are
 * used.
 *
 * @example
 * const next60 = forecast(result, lastMinute);
 */
export function forecast(result: TrainResult, recent: ArrayLike<number>): Float64Array {
  const { lookback } = result;
  if (recent.length < lookback) {
    throw new PipelineError("validation", `forecast needs ${lookback} recent values, got ${recent.length}`);
  }
  return forecastRaw(result, Array.prototype.slice.call(recent, recent.length - lookback), 1);
}

/** Forecasts from every origin whose full horizon lies in a validation tail (origins ≥ split). */
function evaluateForecasts(
  result: TrainResult,
  parts: readonly ArrayLike<number>[],
  splits: readonly number[],
): ForecastMetrics {
  const { lookback, horizon } = result;
  let se = 0;
  let ae = 0;
  let n = 0;
  let origins = 0;
  parts.forEach((series, i) => {
    const first = splits[i]! - lookback;
    const last = series.length - lookback - horizon;
    const { x, y, count } = buildWindows(series, lookback, horizon, first, last);
    if (count === 0) return;
    const predicted = forecastRaw(result, x, count);
    for (let k = 0; k < predicted.length; k++) {
      const e = predicted[k]! - y[k]!;
      se += e * e;
      ae += Math.abs(e);
    }
    n += predicted.length;
    origins += count;
  });
  const range = result.residual?.scale ?? result.scaler.range;
  return { origins, mae: ae / n, rmse: Math.sqrt(se / n), mseScaled: se / n / (range * range) };
}

function meanSquaredError(predicted: Float64Array, target: Float64Array): number {
  let se = 0;
  for (let i = 0; i < predicted.length; i++) se += (predicted[i]! - target[i]!) ** 2;
  return se / predicted.length;
}
