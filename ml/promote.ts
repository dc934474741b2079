/**
 * The serving policy applied to a store (ml/policy.ts does the scoring): score a freshly trained candidate,
 * the scope's serving model, persistence and the minute mean on the same minute-aligned validation origins,
 * store the candidate (promoted or not: it is the history), and record what serves now — possibly a
 * baseline — with its prediction interval. `ml train`, `ml retrain`, scheduled retraining and the bootstrap
 * all promote through `promoteByPolicy`.
 */
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { slotsPerWindow } from "@energy/contracts/records.ts";
import type { OnnxForecaster } from "./inference.ts";
import {
  conformalInterval,
  type Decision,
  decide,
  isBaselineVersion,
  maeSkill,
  minuteOrigins,
  type Predictor,
  type ValidationPart,
} from "./policy.ts";
import { openForecaster } from "./store/artifact.ts";
import type { Manifest, ManifestEntry, ModelArtifact, ModelMetrics, ModelScope } from "./store/types.ts";

/** The store operations promotion needs (ml/store's `ModelStore` has them). */
export interface PromotionStore {
  readManifest(scope: ModelScope): Promise<Manifest | null>;
  loadVersion(scope: ModelScope, version: string, expect?: { lookback?: number }): Promise<ModelArtifact>;
  saveVersion(artifact: ModelArtifact): Promise<unknown>;
  recordDecision(scope: ModelScope, entry: ManifestEntry): Promise<unknown>;
}

/** A series to validate on, with the epoch ms of its first value when known (for minute alignment). */
export interface SeriesPart {
  values: ArrayLike<number>;
  startMs?: number | undefined;
}

/** The minute-aligned origins of each part's last `fraction` (the served shape: 60 s in, 60 s out). */
export function validationParts(parts: readonly SeriesPart[], fraction: number): ValidationPart[] {
  return parts.map((p) => ({
    values: p.values,
    origins: minuteOrigins(p.values.length, {
      fraction,
      lookback: slotsPerWindow,
      horizon: slotsPerWindow,
      startMs: p.startMs,
    }),
  }));
}

export function onnxPredictor(model: OnnxForecaster, horizon = slotsPerWindow): Predictor {
  return (windows, batch) => model.forecast(Float32Array.from(windows), batch, horizon);
}

export interface PromotionResult {
  decision: Decision;
  /** The candidate's figures (also in its meta.json). */
  metrics: ModelMetrics;
  /** Set when the serving model could not be scored (broken, other shape): it does not block a winner. */
  note: string;
  /** The reason recorded in the manifest. */
  reason: string;
}

/**
 * Decides and records. The candidate is stored whatever the outcome (versions are the history); the
 * manifest's `promoted` becomes the winner — the candidate, the serving model, or a baseline.
 *
 * @example
 * const { decision } = await promoteByPolicy({ store, scope: 2, candidate: artifact, parts, fraction: 0.25,
 *   what: "retrained on 3600 rows" });
 */
export async function promoteByPolicy(input: {
  store: PromotionStore;
  scope: ModelScope;
  candidate: ModelArtifact | null;
  parts: readonly SeriesPart[];
  fraction: number;
  /** Why this decision is made (start of the recorded reason). */
  what: string;
  now?: () => Date;
}): Promise<PromotionResult> {
  const { store, scope, candidate } = input;
  const parts = validationParts(input.parts, input.fraction);
  const lookback = slotsPerWindow;
  const horizon = slotsPerWindow;
  let note = "";
  let serving: { version: string; predict: Predictor; model: OnnxForecaster } | undefined;
  let candidateModel: OnnxForecaster | undefined;
  try {
    const promoted = (await store.readManifest(scope))?.promoted ?? null;
    if (promoted && !isBaselineVersion(promoted) && promoted !== candidate?.meta.version) {
      try {
        const model = await openForecaster(await store.loadVersion(scope, promoted, { lookback }));
        serving = { version: promoted, predict: onnxPredictor(model), model };
      } catch (error) {
        // A serving model that is broken or of another shape must not block a better forecast; a store that
        // is unreachable must not make the candidate look unopposed.
        const unusable =
          error instanceof PipelineError &&
          (error.code === "model" || error.code === "validation" || error.code === "not-found");
        if (!unusable) throw error;
        note = `serving model ${promoted} could not be scored: ${errorMessage(error)}`;
      }
    }
    if (candidate) candidateModel = await openForecaster(candidate);
    const decision = await decide({
      parts,
      calibrationParts: validationParts(input.parts, 1),
      lookback,
      horizon,
      ...(serving ? { serving } : {}),
      ...(candidate && candidateModel
        ? { candidate: { version: candidate.meta.version, predict: onnxPredictor(candidateModel) } }
        : {}),
    });
    const persistence = decision.contenders.find((c) => c.kind === "persistence")!.scored;
    const mean = decision.contenders.find((c) => c.kind === "mean")!.scored;
    const own = decision.contenders.find((c) => c.role === "candidate")?.scored ?? persistence;
    const metrics: ModelMetrics = {
      mae: own.mae,
      rmse: own.rmse,
      persistenceRmse: persistence.rmse,
      skill: maeSkill(own.mae, persistence.mae),
      origins: own.origins,
      persistenceMae: persistence.mae,
      meanMae: mean.mae,
      maeSkill: maeSkill(own.mae, persistence.mae),
    };
    const at = (input.now ?? (() => new Date()))().toISOString();
    if (candidate) {
      candidate.meta.metrics = metrics;
      candidate.meta.interval = conformalInterval(own.residuals, { scales: own.scales });
      await store.saveVersion(candidate);
    }
    const reason = `${input.what}; ${decision.reason}${note ? ` (${note})` : ""}`;
    await store.recordDecision(scope, {
      version: candidate?.meta.version ?? decision.winner.version,
      at,
      promoted: decision.candidatePromoted,
      serves: decision.winner.version,
      interval: decision.interval,
      reason,
      metrics,
    });
    return { decision, metrics, note, reason };
  } finally {
    await serving?.model.release().catch(() => {});
    await candidateModel?.release().catch(() => {});
  }
}
