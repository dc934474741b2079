/**
 * Worker entry: one scheduled retrain (train, export, score against the serving model and persistence,
 * store, decide) off the forecaster's thread; the database side stays on the main thread (ml/retrain.ts).
 */
import {
  type RetrainOptions,
  type RetrainOutcome,
  retrainSeriesFromConfig,
  type TrainingSeries,
} from "../retrain.ts";
import type { ModelStoreOptions } from "../store/model-store.ts";
import { serveWorkerTask } from "./worker-task.ts";

export interface RetrainRequest {
  store: ModelStoreOptions;
  series: TrainingSeries;
  options?: Partial<RetrainOptions>;
}

serveWorkerTask<RetrainRequest, RetrainOutcome>(retrainSeriesFromConfig);
