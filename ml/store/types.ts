/**
 * The model store's contract (S3 layout from the architecture sketch):
 *
 *   {bucket}/{device}/initial/model.onnx + scaler.json + meta.json      first model of a device
 *   {bucket}/{device}/{from}-{to}/model.onnx + scaler.json + meta.json   a retrained version (from/to: the
 *                                                                         training rows' time range, compact UTC)
 *   {bucket}/{device}/manifest.json                                       which version serves, and the history
 *
 * `device` is the sensor id, or `shared` for the fallback model serving sensors without a model of their own.
 * The manifest is the only object ever overwritten; versions are immutable once written.
 *
 * Trust model: the manifest is the root of trust. It carries the SHA-256 of every version's meta.json,
 * model.onnx and scaler.json, written only after the three objects were uploaded and read back intact, and
 * a version is loaded only when all three match it — so swapping model.onnx (even together with a
 * meta.json whose hash was edited to match) is refused. Whoever can write the manifest decides what serves:
 * protect write access to the bucket (or directory), not the objects one by one.
 */
import type { Interval } from "../policy.ts";
import type { MinMaxScalerJson } from "../scaler.ts";
import type { ForecastHead, ForecastTarget, ResidualScaling } from "../train.ts";

/** `shared` is the fallback model; anything else is a sensor id. */
export type ModelScope = number | "shared";

/** Validation figures of a version, in the series' units (watts). */
export interface ModelMetrics {
  mae: number;
  rmse: number;
  /** Persistence baseline (last value repeated) on the same held-out tail. */
  persistenceRmse: number;
  /**
   * > 0 means better than persistence: 1 − mae / persistenceMae on the policy's minute-aligned origins
   * (versions stored before the serving policy: 1 − rmse / persistenceRmse).
   */
  skill: number;
  /** Forecast origins evaluated. */
  origins: number;
  /** MAE of persistence and of the minute mean on the same (minute-aligned) origins, and 1 − mae/persistence. */
  persistenceMae?: number;
  meanMae?: number;
  maeSkill?: number;
}

/** Everything needed to serve a version, besides the ONNX bytes (written as meta.json). */
export interface ModelMeta {
  scope: ModelScope;
  version: string;
  lookback: number;
  horizon: number;
  /** ONNX output width: 1 for the recursive head, `horizon` for the direct head. */
  outputs: number;
  head: ForecastHead;
  /** Absent in versions from before residual targets: `absolute`. */
  target?: ForecastTarget;
  residual?: ResidualScaling;
  /** p10/p90 offsets per horizon step (conformal, from validation residuals). */
  interval?: Interval;
  hidden: number;
  /** Training rows' time range (ISO 8601), absent for models trained on seed CSVs without timestamps. */
  trainedFrom?: string;
  trainedTo?: string;
  trainSamples: number;
  createdAt: string;
  /** Hex SHA-256 of model.onnx: a truncated or swapped upload is refused at load time. */
  onnxSha256: string;
  onnxBytes: number;
  metrics: ModelMetrics;
}

export interface ModelArtifact {
  meta: ModelMeta;
  onnx: Uint8Array;
  scaler: MinMaxScalerJson;
}

export interface ManifestEntry {
  version: string;
  /** When the decision was made (ISO 8601). */
  at: string;
  promoted: boolean;
  /** Why, e.g. "retrained on 3600 rows; MAE on 15 minute-aligned origins: persistence 63.1, mean 90.2, candidate … W → persistence serves". */
  reason: string;
  metrics: ModelMetrics;
  /** What serves after this decision when it differs from `version`/the previous one (e.g. a baseline). */
  serves?: string;
  /** The p10/p90 offsets of what serves after this decision. */
  interval?: Interval;
}

/** SHA-256 (hex) of a version's three objects, recorded in the manifest once all three verified. */
export interface VersionHashes {
  metaSha256: string;
  onnxSha256: string;
  scalerSha256: string;
}

export interface Manifest {
  scope: ModelScope;
  /**
   * The serving version, or null before any decision. `baseline-persistence` / `baseline-mean` when a
   * baseline won: then that baseline serves this scope (no stored model).
   */
  promoted: string | null;
  /** p10/p90 offsets per horizon step of what serves. */
  interval?: Interval;
  /** Hashes of every stored version: the only versions that may load (see the trust model above). */
  versions?: Record<string, VersionHashes>;
  updatedAt: string;
  /** Newest last; bounded so the manifest stays small. */
  history: ManifestEntry[];
}
