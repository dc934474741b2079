/**
 * Training a forecaster on one device's series: supervised windows, a held-out tail for validation,
 * mini-batch Adam on the MSE, and the choice between the study's recursive one-step model and a direct
 * multi-horizon head by their 60-second-ahead validation error.
 */
import { PipelineError } from "../lib/errors.ts";
import { Adam } from "./adam.ts";
import {
  createLstmModel,
  fillDropoutMask,
  forward,
  type LstmModel,
  lossAndGradient,
  TrainingWorkspace,
} from "./lstm.ts";
import { createRng, shuffleInPlace } from "./random.ts";
import { MinMaxScaler } from "./scaler.ts";

/** `recursive`: Dense(1), fed back `horizon` times (the study). `direct`: Dense(horizon), one pass. */
export type ForecastHead = "recursive" | "direct";

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
  /** Called after each epoch, e.g. for progress logs. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** The study's setup (LSTM(25), Dropout(0.1), Adam, 200 epochs, batch 32, 60 s in, 60 s out). */
export const defaultTrainOptions: TrainOptions = {
  lookback: 60,
  horizon: 60,
  hidden: 25,
  head: "recursive",
  epochs: 200,
  batchSize: 32,
  learningRate: 0.001,
  dropout: 0.1,
  validationFraction: 0.2,
  validateEvery: 10,
  seed: 42,
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
  scaler: MinMaxScaler;
  head: ForecastHead;
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
 * Trains one model on `series` (raw units). The last `validationFraction` of the series is held out:
 * training windows end before it, validation forecasts start inside it (their inputs may reach back into
 * the training part, as they would in production). Deterministic in `seed`.
 *
 * @example
 * const result = train(values, { head: "direct", epochs: 200 });
 * result.validation.rmse; // watts
 */
export function train(series: ArrayLike<number>, options: Partial<TrainOptions> = {}): TrainResult {
  const opts: TrainOptions = { ...defaultTrainOptions, ...options };
  const split = checkSeries(series, opts);
  const started = performance.now();
  const { lookback, horizon, batchSize } = opts;
  const outputs = opts.head === "direct" ? horizon : 1;
  const scaler = MinMaxScaler.fit(Array.prototype.slice.call(series, 0, split) as number[]);
  const scaled = scaler.transform(series);

  const trainSet = buildWindows(scaled, lookback, outputs, 0, split - lookback - outputs);
  const valSet = buildWindows(
    scaled,
    lookback,
    outputs,
    split - lookback,
    scaled.length - lookback - outputs,
  );

  const rng = createRng(opts.seed);
  const model = createLstmModel(
    { inputSize: 1, hidden: opts.hidden, outputs, dropout: opts.dropout },
    Math.floor(rng.next() * 2 ** 32),
  );
  const ws = new TrainingWorkspace(model.config, batchSize, lookback);
  const grad = new Float64Array(model.params.length);
  const adam = new Adam(model.params.length, { learningRate: opts.learningRate });
  const order = new Uint32Array(trainSet.count);
  for (let i = 0; i < order.length; i++) order[i] = i;

  const loss: number[] = [];
  const validationLoss: Array<[number, number]> = [];
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    shuffleInPlace(order, rng);
    let sum = 0;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = Math.min(batchSize, order.length - start);
      for (let b = 0; b < batch; b++) {
        const s = order[start + b]!;
        ws.x.set(trainSet.x.subarray(s * lookback, (s + 1) * lookback), b * lookback);
        ws.y.set(trainSet.y.subarray(s * outputs, (s + 1) * outputs), b * outputs);
      }
      fillDropoutMask(ws, batch, opts.dropout, rng.next);
      sum += lossAndGradient(model, ws, batch, grad, true) * batch;
      adam.step(model.params, grad);
    }
    const epochLoss = sum / order.length;
    loss.push(epochLoss);
    opts.onEpoch?.(epoch, epochLoss);
    if (epoch === opts.epochs || (opts.validateEvery > 0 && epoch % opts.validateEvery === 0)) {
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
    head: opts.head,
    lookback,
    horizon,
    loss,
    validationLoss,
    validation: { origins: 0, mae: 0, rmse: 0, mseScaled: 0 },
    trainSamples: trainSet.count,
    trainMs,
  };
  result.validation = evaluateForecasts(result, series, split);
  return result;
}

/**
 * Trains both heads with the same options and returns the one with the lower `horizon`-ahead validation
 * MSE (ties go to `recursive`, the study's choice), plus both candidates.
 */
export function trainBest(
  series: ArrayLike<number>,
  options: Partial<Omit<TrainOptions, "head">> = {},
): { best: TrainResult; candidates: TrainResult[] } {
  const recursive = train(series, { ...options, head: "recursive" });
  const direct = train(series, { ...options, head: "direct" });
  const best = direct.validation.mseScaled < recursive.validation.mseScaled ? direct : recursive;
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
 * Forecast of the next `result.horizon` values (raw units) after `recent`, whose last `lookback` values are
 * used.
 *
 * @example
 * const next60 = forecast(result, lastMinute);
 */
export function forecast(result: TrainResult, recent: ArrayLike<number>): Float64Array {
  const { lookback, horizon, scaler } = result;
  if (recent.length < lookback) {
    throw new PipelineError("validation", `forecast needs ${lookback} recent values, got ${recent.length}`);
  }
  const window = new Float64Array(lookback);
  for (let t = 0; t < lookback; t++) window[t] = scaler.transformValue(recent[recent.length - lookback + t]!);
  return scaler.inverse(forecastScaled(result.model, result.head, window, 1, lookback, horizon));
}

/** Forecasts from every origin whose full horizon lies in the validation tail (origins ≥ split). */
function evaluateForecasts(result: TrainResult, series: ArrayLike<number>, split: number): ForecastMetrics {
  const { lookback, horizon, scaler } = result;
  const scaled = scaler.transform(series);
  const first = split - lookback;
  const last = series.length - lookback - horizon;
  const { x, y, count } = buildWindows(scaled, lookback, horizon, first, last);
  const predicted = forecastScaled(result.model, result.head, x, count, lookback, horizon);
  let se = 0;
  let ae = 0;
  for (let i = 0; i < predicted.length; i++) {
    const e = predicted[i]! - y[i]!;
    se += e * e;
    ae += Math.abs(e);
  }
  const n = predicted.length;
  return {
    origins: count,
    mae: (ae / n) * scaler.range,
    rmse: Math.sqrt(se / n) * scaler.range,
    mseScaled: se / n,
  };
}

function meanSquaredError(predicted: Float64Array, target: Float64Array): number {
  let se = 0;
  for (let i = 0; i < predicted.length; i++) se += (predicted[i]! - target[i]!) ** 2;
  return se / predicted.length;
}
