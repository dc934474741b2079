/**
 * From a training result to a storable version (ONNX bytes with the scaler folded in, scaler.json,
 * meta.json with validation metrics against persistence), and from a stored version to a warmed-up
 * onnxruntime session.
 */
import { OnnxForecaster } from "../inference.ts";
import { encodeOnnxModel } from "../onnx.ts";
import type { TrainResult } from "../train.ts";
import { holdoutOf, persistenceErrors, skillOf } from "./holdout.ts";
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
  series: ArrayLike<number>,
  info: ArtifactInfo,
): ModelArtifact {
  versionPrefix(info.scope, info.version); // validates scope and version before the work
  const outputs = result.model.config.outputs;
  const onnx = encodeOnnxModel(result.model, {
    lookback: result.lookback,
    scaler: result.scaler,
    head: result.head,
    horizon: result.horizon,
    metadata: { scope: String(info.scope), version: info.version },
  });
  const persistence = persistenceErrors(series, holdoutOf(result, series.length));
  const { mae, rmse, origins } = result.validation;
  return {
    meta: {
      scope: info.scope,
      version: info.version,
      lookback: result.lookback,
      horizon: result.horizon,
      outputs,
      head: result.head,
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
      },
    },
    onnx,
    scaler: result.scaler.toJSON(),
  };
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
