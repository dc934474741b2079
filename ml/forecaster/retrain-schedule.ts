/**
 * Scheduled retraining inside the forecaster (ml/retrain.ts): every `everyMs` the shared model and each
 * sensor that already has a model of its own (and that this forecaster serves) are retrained from the
 * latest rows of `actuals`. The rows are read here, on the forecaster's thread (an embedded PGlite has one
 * owner); training, scoring and the promotion decision run in a Worker, so ingestion never waits for them.
 * Outcomes are counted in forecaster_retrains_total{outcome}; a promotion reloads the models at once.
 */

import { errorMessage } from "@energy/contracts/errors.ts";
import type { Db } from "@energy/platform/db/client.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ForecasterMetrics } from "@energy/platform/metrics.ts";
import { loadTrainingSeries, type RetrainOptions, type RetrainOutcome, recordModelRow } from "../retrain.ts";
import type { ModelStoreOptions } from "../store/model-store.ts";
import type { ModelScope } from "../store/types.ts";
import type { RetrainRequest } from "./retrain-worker.ts";
import { runWorkerTask, type WorkerTask } from "./worker-task.ts";

export interface RetrainScheduleOptions {
  /** Period, ms; 0 = off. */
  everyMs: number;
  /** Plain store options: the worker opens its own store. Required when `everyMs` > 0. */
  store?: ModelStoreOptions;
  /** Latest rows per sensor (default: ml/retrain.ts's, the study's 600). */
  rows?: number;
  options?: Partial<RetrainOptions>;
}

export interface RetrainSchedule {
  /** One run now (what the timer calls); resolves when every scope is decided. Skipped while one runs. */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * forecaster_retrains_total's outcome label: `skipped` = nothing trained (no new rows since the stored
 * version, or too few rows for a held-out tail), `failed` = an error (counted, logged).
 */
export type RetrainCount = "promoted" | "rejected" | "skipped" | "failed";

/** The metric label of an outcome. */
export function outcomeLabel(outcome: RetrainOutcome): RetrainCount {
  if (!outcome.trained) return "skipped";
  return outcome.promoted ? "promoted" : "rejected";
}

/**
 * Starts the timer; the first run is one period after the start (a fresh forecaster has no rows yet).
 *
 * @example
 * const schedule = startRetrainSchedule({ everyMs: 600_000, store: { localDir: "data/models" }, db, metrics,
 *   logger, scopes: async () => ["shared"], onPromoted: reloadModels });
 */
export function startRetrainSchedule(
  options: RetrainScheduleOptions & {
    store: ModelStoreOptions;
    db: Db;
    metrics: ForecasterMetrics;
    logger: Logger;
    /** Scopes to retrain on this run. */
    scopes: () => Promise<ModelScope[]>;
    onPromoted: () => Promise<void>;
  },
): RetrainSchedule {
  const { metrics, logger } = options;
  let running: Promise<void> | undefined;
  let task: WorkerTask<RetrainOutcome> | undefined;
  let stopped = false;

  async function retrainOne(scope: ModelScope): Promise<boolean> {
    try {
      const series = await loadTrainingSeries(options.db, scope, options.rows);
      const request: RetrainRequest = {
        store: options.store,
        series,
        ...(options.options ? { options: options.options } : {}),
      };
      task = runWorkerTask<RetrainRequest, RetrainOutcome>(
        new URL("./retrain-worker.ts", import.meta.url),
        request,
        `retrain ${scope}`,
      );
      const outcome = await task.result;
      await recordModelRow(options.db, outcome);
      metrics.retrains.inc({ outcome: outcomeLabel(outcome) });
      logger.info(`retrain ${scope}: ${outcome.version} ${outcomeLabel(outcome)}`, {
        reason: outcome.reason,
      });
      return outcome.promoted && outcome.trained;
    } catch (error) {
      if (stopped) return false;
      metrics.retrains.inc({ outcome: "failed" });
      logger.warn(`retrain ${scope} failed; the serving model is unchanged`, { error: errorMessage(error) });
      return false;
    }
  }

  async function run(): Promise<void> {
    let promoted = false;
    let scopes: ModelScope[];
    try {
      scopes = await options.scopes();
    } catch (error) {
      metrics.retrains.inc({ outcome: "failed" });
      logger.warn("cannot list what to retrain", { error: errorMessage(error) });
      return;
    }
    // One scope at a time: one training worker never takes more than one of the cores ingestion shares.
    for (const scope of scopes) {
      if (stopped) return;
      if (await retrainOne(scope)) promoted = true;
    }
    if (promoted && !stopped) await options.onPromoted();
  }

  const runOnce = (): Promise<void> => {
    if (running) return running;
    running = run().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.everyMs);
  logger.info(`retraining every ${options.everyMs / 1000} s in a worker`);
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      task?.terminate();
      await running;
    },
  };
}
