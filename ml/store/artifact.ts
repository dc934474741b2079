/**
 * From a training result to a storable version (ONNX bytes with the scaler folded in, scaler.json,
 * meta.json with validation metrics against persistence), and from a stored version to a warmed-up
 * onnxruntime session.
 */
import { OnnxForecaster } from "../inference.ts";
import { encodeOnnxModel } from "../onnx.ts";
import { maeSkill as skillOf } from "../policy.ts";
import type { TrainResult } from "../train.ts";
import { sha256Hex, versionPrefix } from "./model-store.ts";
import type { ModelArtifact, ModelScope } from "./types.ts";

export interface ArtifactInfo {
  scope: ModelScope;
  version: string;
  /** Time range of the training rows (absent for seed CSVs replayed without meaningful time). */
  trainedFrom?: Date | undefined;
  trainedTo?: Date | undefined;
  /** Defaults to now. */
  createdAt?: Date;
}

/**
 * Packs a trained model as a version. `series` must be the series `result` was trained on: persistence is
 * scored on the same validation origins as the model, which is what makes `skill` meaningful.
 *
 * @example
 * const { best } = trainBest(values, { epochs: 200 });
 * const artifact = artifactFromTraining(best, values, { scope: 2, version: "initial" });
 * await store.saveVersion(artifact);
 */
export function artifactFromTraining(
  result: TrainResult,
  series: ArrayLike<number> | readonly ArrayLike<number>[],
  info: ArtifactInfo,
): ModelArtifact {
  versionPrefix(info.scope, info.version); // validates scope and version before the work
  const outputs = result.model.config.outputs;
  const onnx = encodeOnnxModel(result.model, {
    lookback: result.lookback,
    scaler: result.scaler,
    ...(result.residual ? { residual: result.residual } : {}),
    head: result.head,
    horizon: result.horizon,
    metadata: { scope: String(info.scope), version: info.version },
  });
  const persistence = persistenceOnValidation(result, series);
  const { mae, rmse, origins } = result.validation;
  return {
    meta: {
      scope: info.scope,
      version: info.version,
      lookback: result.lookback,
      horizon: result.horizon,
      outputs,
      head: result.head,
      target: result.target,
      ...(result.residual ? { residual: result.residual } : {}),
      hidden: result.model.config.hidden,
      ...(info.trainedFrom ? { trainedFrom: info.trainedFrom.toISOString() } : {}),
      ...(info.trainedTo ? { trainedTo: info.trainedTo.toISOString() } : {}),
      trainSamples: result.trainSamples,
      createdAt: (info.createdAt ?? new Date()).toISOString(),
      onnxSha256: sha256Hex(onnx),
      onnxBytes: onnx.byteLength,
      metrics: {
        mae,
        rmse,
        persistenceRmse: persistence.rmse,
        skill: skillOf(rmse, persistence.rmse),
        origins,
        persistenceMae: persistence.mae,
        maeSkill: skillOf(mae, persistence.mae),
      },
    },
    onnx,
    scaler: result.scaler.toJSON(),
  };
}

/**
 * Persistence on the origins `train()` validated on (every second of each series' tail), so the figures
 * stored with a version compare like with like. The promotion decision itself uses minute-aligned origins
 * (ml/policy.ts) and overwrites these metrics.
 */
function persistenceOnValidation(
  result: TrainResult,
  series: ArrayLike<number> | readonly ArrayLike<number>[],
): { mae: number; rmse: number } {
  const many = Array.isArray(series) && series.length > 0 && typeof series[0] !== "number";
  const parts = many ? (series as ArrayLike<number>[]) : [series as ArrayLike<number>];
  const total = parts.reduce((n, p) => n + p.length, 0);
  let ae = 0;
  let se = 0;
  let n = 0;
  for (const part of parts) {
    // train() holds out the same fraction of each part; its origin count tells where the tail starts.
    const origins = Math.round((result.validation.origins * part.length) / total);
    const last = part.length - result.horizon;
    for (let o = Math.max(1, last - origins + 1); o <= last; o++) {
      for (let h = 0; h < result.horizon; h++) {
        const e = part[o - 1]! - part[o + h]!;
        ae += Math.abs(e);
        se += e * e;
        n++;
      }
    }
  }
  return n === 0 ? { mae: 0, rmse: 0 } : { mae: ae / n, rmse: Math.sqrt(se / n) };
}

/**
 * Loads a version into onnxruntime (one intra-op thread by default), checking the graph's lookback and
 * outputs against its meta.json: a version whose graph disagrees with its meta is refused here.
 *
 * @example
 * const model = await openForecaster(await store.loadVersion(2, "initial"));
 * const next = await model.forecast(lastMinute, 1, model.outputs === 1 ? 60 : model.outputs);
 */
export function openForecaster(artifact: ModelArtifact, threads = 1): Promise<OnnxForecaster> {
  const { meta } = artifact;
  return OnnxForecaster.load(artifact.onnx, {
    lookback: meta.lookback,
    outputs: meta.outputs,
    threads,
    source: `${versionPrefix(meta.scope, meta.version)}model.onnx`,
  });
}
