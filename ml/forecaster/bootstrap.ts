/**
 * Bootstrap on a fresh clone: when the store has no decision for the shared scope, train a model from the
 * seed data in a Worker, and let the serving policy decide between it, persistence and the minute mean on
 * the same held-out origins (ml/promote.ts): the winner serves. Ingestion never waits for this: until the
 * decision the persistence baseline forecasts, under its own version label.
 */
import { errorMessage } from "@energy/contracts/errors.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ForecasterMetrics } from "@energy/platform/metrics.ts";
import { promoteByPolicy } from "../promote.ts";
import { initialVersion, versionForRange } from "../store/model-store.ts";
import type { ManifestEntry, ModelArtifact, ModelScope } from "../store/types.ts";
import type { ModelSet, ModelSource } from "./models.ts";
import type { SeedModel, SeedModelRequest } from "./seed-model.ts";
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
 * `trained`: the model won the policy and serves; `rejected`: a baseline beat it and serves instead;
 * `stopped`: the process stopped first.
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
  let task: WorkerTask<SeedModel> | undefined;
  let stopped = false;

  async function decide(model: SeedModel | null, what: string): Promise<BootstrapOutcome> {
    if (!model) return "failed";
    const { decision } = await promoteByPolicy({
      store,
      scope: "shared",
      candidate: model.artifact,
      parts: model.parts,
      fraction: 0.25,
      what: `bootstrap (${what})`,
    });
    if (stopped) return "stopped";
    await models.refresh(["shared"]);
    if (!decision.candidatePromoted) {
      logger.warn(`bootstrap model does not beat ${decision.winner.kind}: ${decision.winner.kind} serves`, {
        reason: decision.reason,
      });
      return "rejected";
    }
    return "trained";
  }

  async function run(): Promise<BootstrapOutcome> {
    try {
      const manifest = await store.readManifest("shared");
      // A promoted model (or baseline) that was decided is an operator's matter; bootstrapping over it would
      // silently replace their choice.
      if (manifest?.promoted) return "not-needed";
      const started = performance.now();
      logger.info(
        "no decision for the shared scope: training the bootstrap model in a worker; persistence serves meanwhile",
        { csv: options.csvPath, rows: options.rows, epochs: options.epochs },
      );
      // Versions are immutable: a stored `initial` that was never decided (a bootstrap stopped in between)
      // gets a fresh name instead.
      const version = (await store.hasVersion("shared", bootstrapVersion))
        ? `${bootstrapVersion}-${Date.now()}`
        : bootstrapVersion;
      const request: SeedModelRequest = {
        ...options,
        version: version === bootstrapVersion ? version : bootstrapVersion,
      };
      task = runWorkerTask<SeedModelRequest, SeedModel>(
        new URL("./train-worker.ts", import.meta.url),
        request,
        "bootstrap training",
      );
      const model = await task.result;
      if (stopped) return "stopped";
      if (version !== bootstrapVersion) {
        // Retrain-style name from now, so the immutable stored `initial` is not overwritten.
        const now = new Date();
        model.artifact.meta.version = versionForRange(now, now);
      }
      const outcome = await decide(model, model.about);
      logger.info(`bootstrap model ${outcome}`, {
        seconds: Math.round(performance.now() - started) / 1000,
        serving: models.serving().find((m) => m.scope === "shared")?.version ?? null,
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
