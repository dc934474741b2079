/**
 * Errors on a held-out tail, shared by the metrics stored with a version (`artifactFromTraining`) and the
 * promotion decision of a retrain, so the candidate, the serving model and persistence are always scored
 * on exactly the same forecast origins.
 *
 * A forecast origin `o` means: inputs are the values before `o`, targets are `series[o, o + horizon)`.
 * Defining the tail by origins (not by input windows) lets models of different lookbacks be compared.
 */
import { PipelineError } from "../../lib/errors.ts";
import type { OnnxForecaster } from "../inference.ts";
import type { TrainResult } from "../train.ts";

export interface Holdout {
  /** First and last forecast origin (indices into the series), inclusive. */
  first: number;
  last: number;
  horizon: number;
}

export interface HoldoutErrors {
  mae: number;
  rmse: number;
  origins: number;
}

/** Number of origins of a holdout. */
export const originCount = (h: Holdout) => Math.max(0, h.last - h.first + 1);

/**
 * The origins `train()` validated `result` on, for the series it was trained on: its validation tail
 * starts at `split` and every origin whose full horizon fits is used, so `split = n − horizon + 1 − origins`.
 * Derived from the result rather than recomputed from `validationFraction`, so the two cannot drift.
 */
export function holdoutOf(result: TrainResult, seriesLength: number): Holdout {
  const { origins } = result.validation;
  const last = seriesLength - result.horizon;
  return { first: last - origins + 1, last, horizon: result.horizon };
}

/** Persistence baseline: the last known value repeated over the horizon. */
export function persistenceErrors(series: ArrayLike<number>, holdout: Holdout): HoldoutErrors {
  const { first, last, horizon } = holdout;
  if (first < 1 || last + horizon > series.length) {
    throw new PipelineError(
      "validation",
      `holdout origins ${first}..${last} (horizon ${horizon}) do not fit a series of ${series.length}`,
    );
  }
  let se = 0;
  let ae = 0;
  for (let o = first; o <= last; o++) {
    const prev = series[o - 1]!;
    for (let h = 0; h < horizon; h++) {
      const e = prev - series[o + h]!;
      se += e * e;
      ae += Math.abs(e);
    }
  }
  const n = originCount(holdout) * horizon;
  return { mae: ae / n, rmse: Math.sqrt(se / n), origins: originCount(holdout) };
}

/** Errors of forecasts `predicted` ([origins, horizon] row-major, raw units) against the series. */
export function forecastErrors(
  predicted: ArrayLike<number>,
  series: ArrayLike<number>,
  holdout: Holdout,
): HoldoutErrors {
  const { first, horizon } = holdout;
  const origins = originCount(holdout);
  if (predicted.length !== origins * horizon) {
    throw new PipelineError(
      "validation",
      `got ${predicted.length} forecast values for ${origins} origins × horizon ${horizon}`,
    );
  }
  let se = 0;
  let ae = 0;
  for (let k = 0; k < origins; k++) {
    for (let h = 0; h < horizon; h++) {
      const e = predicted[k * horizon + h]! - series[first + k + h]!;
      se += e * e;
      ae += Math.abs(e);
    }
  }
  const n = origins * horizon;
  return { mae: ae / n, rmse: Math.sqrt(se / n), origins };
}

/** 1 − rmse / persistence: > 0 beats persistence. Finite even for a constant series (JSON has no ∞). */
export function skillOf(rmse: number, persistenceRmse: number): number {
  return 1 - rmse / Math.max(persistenceRmse, Number.EPSILON);
}

/**
 * Scores an ONNX model (input and output in watts: the scaler is folded into the graph) on the holdout,
 * all origins in one batch. Its own lookback decides how far back the inputs reach.
 */
export async function onnxErrors(
  model: OnnxForecaster,
  series: ArrayLike<number>,
  holdout: Holdout,
): Promise<HoldoutErrors> {
  const { first, horizon } = holdout;
  const L = model.lookback;
  const origins = originCount(holdout);
  if (first - L < 0) {
    throw new PipelineError(
      "validation",
      `model ${model.source} needs ${L} values before the first holdout origin ${first}`,
    );
  }
  const windows = new Float32Array(origins * L);
  for (let k = 0; k < origins; k++) {
    for (let t = 0; t < L; t++) windows[k * L + t] = series[first + k - L + t]!;
  }
  const predicted = await model.forecast(windows, origins, horizon);
  return forecastErrors(predicted, series, holdout);
}
