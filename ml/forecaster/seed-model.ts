/**
 * The bootstrap model: what may serve on a fresh clone, where the store has no promoted shared model yet.
 * It trains with few epochs so it is decided within seconds, on the seed CSV deduplicated to one period
 * (seed devices 2–5 are one 300-s trace tiled, data/seed/PROVENANCE.md) plus a short, clearly labelled
 * synthetic set (ml/synthetic.ts) — the held-out tails of all of them are what the serving policy scores it
 * on, against persistence and the minute mean (ml/promote.ts, on the forecaster's thread).
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import { slotsPerWindow } from "@energy/contracts/records.ts";
import { dedupe } from "../dedupe.ts";
import type { SeriesPart } from "../promote.ts";
import { readSeedCsv } from "../seed.ts";
import { artifactFromTraining } from "../store/artifact.ts";
import type { ModelArtifact } from "../store/types.ts";
import { syntheticSet } from "../synthetic.ts";
import { defaultTrainOptions, train } from "../train.ts";

/** Plain data, so it crosses the Worker boundary. */
export interface SeedModelRequest {
  csvPath: string;
  /** Leading values of the CSV to train on (before deduplication). */
  rows: number;
  epochs: number;
  version: string;
  seed?: number;
  /** Synthetic 1-h series added (default 2). */
  synthetic?: number;
}

export interface SeedModel {
  artifact: ModelArtifact;
  /** The series it trained on, whose tails the policy scores it on. */
  parts: SeriesPart[];
  about: string;
}

/**
 * Trains a shared model on the first `rows` values of one seed CSV (one period of it) plus synthetic series.
 * The direct head on residual targets: one onnxruntime pass per batch, level-invariant.
 */
export async function trainSeedModel(request: SeedModelRequest): Promise<SeedModel> {
  const seed = await readSeedCsv(request.csvPath);
  if (seed.values.length < request.rows) {
    throw new PipelineError(
      "validation",
      `bootstrap CSV ${request.csvPath} has ${seed.values.length} values, ${request.rows} requested`,
      { hint: "lower --bootstrap-rows or point --bootstrap-csv at a longer series" },
    );
  }
  const { values, period } = dedupe(seed.values.subarray(0, request.rows));
  const synthetic = syntheticSet(request.synthetic ?? 2, 3600, 3000);
  const parts: SeriesPart[] = [
    { values, startMs: seed.timestampsMs[0] },
    ...synthetic.map((v) => ({ values: v })),
  ];
  const result = train(
    parts.map((p) => p.values),
    {
      lookback: slotsPerWindow,
      horizon: slotsPerWindow,
      head: "direct",
      epochs: request.epochs,
      // Small and fast is what a stop-gap model needs; `ml train` trains the full-size ones.
      hidden: 8,
      learningRate: 0.01,
      maxSamplesPerEpoch: 512,
      validationFraction: defaultTrainOptions.validationFraction,
      seed: request.seed ?? 42,
    },
  );
  const about =
    `${values.length} values of ${request.csvPath}${period === null ? "" : ` (one ${period}-s period of a tiled trace)`}` +
    ` + ${synthetic.length} synthetic 1-h series, ${request.epochs} epochs`;
  return {
    artifact: artifactFromTraining(
      result,
      parts.map((p) => p.values),
      { scope: "shared", version: request.version },
    ),
    parts,
    about,
  };
}
