/**
 * Bootstrap on a fresh clone: when the store has no promoted shared model, train one from the seed data in
 * a Worker, save it as version `initial` and promote it, then load it. Ingestion never waits for this: until
 * the model is loaded the persistence baseline forecasts, under its own version label.
 */
import { errorMessage } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { ForecasterMetrics } from "../../lib/metrics.ts";
import { slotsPerWindow } from "../../lib/records.ts";
import { initialVersion } from "../store/model-store.ts";
import type { ManifestEntry, ModelArtifact, ModelScope } from "../store/types.ts";
import type { ModelSet, ModelSource } from "./models.ts";
import type { SeedModelRequest } from "./seed-model.ts";
import { runWorkerTask, type WorkerTask } from "./worker-task.ts";

/** The bootstrap model is the shared scope's `initial` version (the study's `{device}/initial/` layout). */
export const bootstrapVersion = initialVersion;

/** The store operations bootstrap needs (ml/store's `ModelStore` has them). */
export interface BootstrapStore extends ModelSource {
  hasVersion(scope: ModelScope, version: string): Promise<boolean>;
  saveVersion(artifact: ModelArtifact): Promise<unknown>;
  recordDecision(scope: ModelScope, entry: ManifestEntry): Promise<unknown>;
}

export interface BootstrapOptions {
  csvPath: string;
  rows: number;
  epochs: number;
}

/**
 * `trained`: promoted and serving; `rejected`: trained but worse than persistence, not promoted; `stopped`:
 * the process stopped first.
 */
export type BootstrapOutcome = "not-needed" | "trained" | "rejected" | "failed" | "stopped";

export interface Bootstrap {
  /** Settles when the model serves, or was refused, or bootstrap was not needed or failed (counted, logged). */
  readonly done: Promise<BootstrapOutcome>;
  stop(): void;
}

/**
 * Starts bootstrap in the background; `done` tells how it ended.
 *
 * @example
 * const bootstrap = startBootstrap({ store, models, metrics, logger, options: { csvPath, rows: 1200, epochs: 20 } });
 * await bootstrap.done; // "trained" | "rejected" | "not-needed" | "failed" | "stopped"
 */
export function startBootstrap(deps: {
  store: BootstrapStore;
  models: ModelSet;
  metrics: ForecasterMetrics;
  logger: Logger;
  options: BootstrapOptions;
}): Bootstrap {
  const { store, models, metrics, logger, options } = deps;
  let task: WorkerTask<ModelArtifact> | undefined;
  let stopped = false;

  /**
   * Promotes the bootstrap model only when it beats persistence on its held-out tail, the rule retraining
   * follows too (issue 5): a model worse than repeating the last value would make every forecast worse than
   * the baseline already serving. A refusal is recorded in the manifest with its figures.
   */
  async function decide(artifact: ModelArtifact, what: string): Promise<BootstrapOutcome> {
    const m = artifact.meta.metrics;
    const figures = `validation rmse ${m.rmse.toFixed(1)} W, persistence ${m.persistenceRmse.toFixed(1)} W, skill ${m.skill.toFixed(3)}`;
    const promoted = m.skill > 0;
    await store.recordDecision("shared", {
      version: bootstrapVersion,
      at: new Date().toISOString(),
      promoted,
      reason: promoted
        ? `bootstrap: no shared model was promoted; ${what} (${figures})`
        : `bootstrap: not promoted, it does not beat persistence; ${what} (${figures})`,
      metrics: m,
    });
    if (stopped) return "stopped";
    if (!promoted) {
      logger.warn("bootstrap model does not beat persistence: not promoted; persistence keeps serving", {
        rmse: m.rmse,
        persistenceRmse: m.persistenceRmse,
      });
      return "rejected";
    }
    await models.refresh(["shared"]);
    return "trained";
  }

  async function run(): Promise<BootstrapOutcome> {
    try {
      const manifest = await store.readManifest("shared");
      // A promoted model that does not load is an operator's matter (the error is counted); bootstrapping
      // over it would silently replace their choice.
      if (manifest?.promoted) return "not-needed";
      const started = performance.now();
      // Saved but never promoted (a bootstrap that stopped in between, or `ml train` without promotion):
      // versions are immutable, so decide on the stored one rather than train another `initial`.
      if (await store.hasVersion("shared", bootstrapVersion)) {
        const stored = await store.loadVersion("shared", bootstrapVersion, { lookback: slotsPerWindow });
        return await decide(stored, "the stored initial version");
      }
      logger.info(
        "no promoted shared model: training the bootstrap model in a worker; persistence serves meanwhile",
        { csv: options.csvPath, rows: options.rows, epochs: options.epochs },
      );
      const request: SeedModelRequest = { ...options, version: bootstrapVersion };
      task = runWorkerTask<SeedModelRequest, ModelArtifact>(
        new URL("./train-worker.ts", import.meta.url),
        request,
        "bootstrap training",
      );
      const artifact = await task.result;
      if (stopped) return "stopped";
      await store.saveVersion(artifact);
      const outcome = await decide(
        artifact,
        `trained ${options.epochs} epochs on ${options.rows} values of ${options.csvPath}`,
      );
      logger.info(`bootstrap model ${outcome}`, {
        seconds: Math.round(performance.now() - started) / 1000,
        serving: models.hasShared(),
      });
      return outcome;
    } catch (error) {
      if (stopped) return "stopped";
      metrics.forecastErrors.inc({ stage: "bootstrap" });
      logger.error("bootstrap training failed; persistence keeps serving until a model is promoted", {
        error: errorMessage(error),
      });
      return "failed";
    }
  }

  return {
    done: run(),
    stop() {
      stopped = true;
      task?.terminate();
    },
  };
}
