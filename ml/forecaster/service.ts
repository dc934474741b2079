/**
 * The forecaster, assembled: windows log → actuals + batched next-minute forecasts → PostgreSQL, with the
 * serving models hot-reloaded from the model store, a bootstrap model trained in a worker on a fresh clone,
 * and optional scheduled retraining in a worker. Runs in its own process on the Pulsar windows topic
 * (`bun run forecaster`) or in-process on the core's windows log (`bun run core`, the demo).
 *
 * @example
 * const forecaster = await startForecaster({ windowsLog: core.windowsLog, database, store, registry });
 * serveOps({ service: "forecaster", registry, checks: forecaster.checks, port: 9103 });
 */

import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import type { RecordLog, Subscription } from "@energy/logs/log.ts";
import type { Database } from "@energy/platform/db/client.ts";
import { createLogger, type Logger } from "@energy/platform/log.ts";
import { type ForecasterMetrics, forecasterMetrics } from "@energy/platform/metrics.ts";
import type { Registry } from "prom-client";
import { persistenceVersion } from "../policy.ts";
import type { ModelScope } from "../store/types.ts";
import {
  type Bootstrap,
  type BootstrapOptions,
  type BootstrapOutcome,
  type BootstrapStore,
  startBootstrap,
} from "./bootstrap.ts";
import { windowBatchHandler } from "./consume.ts";
import { type Demotion, LiveError } from "./live-error.ts";
import { ModelSet } from "./models.ts";
import {
  type RetrainSchedule,
  type RetrainScheduleOptions,
  startRetrainSchedule,
} from "./retrain-schedule.ts";

/** The store operations the forecaster uses (ml/store's `ModelStore` has them). */
export type ForecasterStore = BootstrapStore;

export interface ForecasterOptions {
  windowsLog: RecordLog<WindowRecord>;
  database: Database;
  store: ForecasterStore;
  registry: Registry;
  logger?: Logger;
  /** Subscription name on the windows log; one per consumer group (Failover on Pulsar). */
  subscription?: string;
  /** Manifest poll period for hot reload, ms (default 10 s). */
  modelPollIntervalMs?: number;
  /** Train a shared model when none is promoted; `false` leaves the persistence baseline serving. */
  bootstrap?: BootstrapOptions | false;
  /** Scheduled retraining in a worker; absent or `everyMs` 0 = off. */
  retrain?: RetrainScheduleOptions;
  /**
   * Event-time ms a served model's rolling live MAE may exceed persistence's before persistence replaces it
   * (recorded in the manifest); 0 or absent = never.
   */
  demoteAfterMs?: number;
}

export interface Forecaster {
  readonly metrics: ForecasterMetrics;
  /** Readiness per dependency, for /ready: the database answers, a model (not only persistence) serves. */
  readonly checks: Record<string, () => boolean | Promise<boolean>>;
  /** Settles once bootstrap is over (or was not needed); for tests and the demo's summary. */
  readonly bootstrapped: Promise<BootstrapOutcome | "off">;
  /** Reads the manifests now (also done every poll interval). */
  reloadModels(): Promise<void>;
  /** Versions serving now, by scope (`shared` or the sensor id). */
  servingVersions(): Record<string, string>;
  /** Runs scheduled retraining once now (resolves when decided); undefined when the schedule is off. */
  retrainNow(): Promise<void> | undefined;
  /** Finishes the batch in hand (its rows stored and acked), stops workers, releases the models. */
  stop(): Promise<void>;
}

export const defaultModelPollIntervalMs = 10_000;

/** Starts consuming; resolves once the promoted shared model (if any) is loaded. See the module example. */
export async function startForecaster(options: ForecasterOptions): Promise<Forecaster> {
  const retrainStore = options.retrain?.store;
  if (options.retrain && options.retrain.everyMs > 0 && !retrainStore) {
    throw new PipelineError(
      "config",
      "scheduled retraining needs the model store's plain options (retrain.store)",
    );
  }
  const logger = options.logger ?? createLogger("forecaster");
  const metrics = forecasterMetrics(options.registry);
  const db = options.database.db;
  const models = new ModelSet({ source: options.store, metrics, logger: logger.child("models") });

  // Per-sensor models are loaded only for sensors this forecaster has seen: with Pulsar partitions each
  // forecaster sees a share of the sensors, and a model in memory per sensor of the whole fleet would waste it.
  const seen = new Set<number>();
  const reloadModels = async (): Promise<void> => {
    let stored: ModelScope[];
    try {
      stored = await options.store.listScopes();
    } catch (error) {
      metrics.forecastErrors.inc({ stage: "manifest" });
      logger.warn("cannot list the model store; keeping the serving models", { error: errorMessage(error) });
      return;
    }
    await models.refresh(stored.filter((s) => s === "shared" || seen.has(s)));
  };

  // The shared model, if one is promoted, serves from the first window on.
  await models.refresh(["shared"]);
  const bootstrap: Bootstrap | undefined = options.bootstrap
    ? startBootstrap({
        store: options.store,
        models,
        metrics,
        logger: logger.child("bootstrap"),
        options: options.bootstrap,
      })
    : undefined;

  const live = new LiveError({ demoteAfterMs: options.demoteAfterMs ?? 0, registry: options.registry });
  const demote = async (d: Demotion): Promise<void> => {
    const reason =
      `demoted: live MAE ${d.liveMae.toFixed(1)} W > persistence ${d.persistenceMae.toFixed(1)} W ` +
      `for ${Math.round(d.forMs / 1000)} s (${d.windows} windows scored); persistence serves`;
    logger.warn(`${d.scope}/${d.version} ${reason}`);
    await models.serveBaseline(d.scope, persistenceVersion);
    try {
      await options.store.recordDecision(d.scope, {
        version: d.version,
        at: new Date().toISOString(),
        promoted: false,
        serves: persistenceVersion,
        reason,
        metrics: {
          mae: d.liveMae,
          rmse: 0,
          persistenceRmse: 0,
          skill: 1 - d.liveMae / Math.max(d.persistenceMae, Number.EPSILON),
          origins: d.windows,
          persistenceMae: d.persistenceMae,
        },
      });
    } catch (error) {
      // Serving persistence already happened here; the next poll may reload the model until the store
      // records the demotion, which is counted and logged.
      metrics.forecastErrors.inc({ stage: "manifest" });
      logger.warn("cannot record the demotion in the model store", { error: errorMessage(error) });
    }
  };
  const subscription: Subscription = options.windowsLog.subscribe(
    options.subscription ?? "forecaster",
    windowBatchHandler({
      db,
      models,
      metrics,
      logger,
      onSensors: (ids) => {
        for (const id of ids) seen.add(id);
      },
      onForecasts: (windows, forecasts) => {
        for (const d of live.observe(windows, forecasts)) void demote(d);
      },
    }),
  );

  const pollMs = options.modelPollIntervalMs ?? defaultModelPollIntervalMs;
  // A poll is skipped while the previous one still runs (a slow store must not stack them up).
  let polling: Promise<void> | undefined;
  const poll = setInterval(() => {
    polling ??= reloadModels().finally(() => {
      polling = undefined;
    });
  }, pollMs);
  const retrain: RetrainSchedule | undefined =
    options.retrain && options.retrain.everyMs > 0 && retrainStore
      ? startRetrainSchedule({
          ...options.retrain,
          store: retrainStore,
          db,
          metrics,
          logger: logger.child("retrain"),
          // The shared fallback, and the sensors served here that have a model of their own: creating a
          // model per sensor of the fleet is an operator's decision (`bun run ml retrain --sensor`).
          scopes: async () => {
            const stored = await options.store.listScopes();
            return ["shared", ...stored.filter((s): s is number => s !== "shared" && seen.has(s))];
          },
          onPromoted: reloadModels,
        })
      : undefined;

  logger.info("forecaster consuming windows", {
    log: options.windowsLog.name,
    serving: models.serving().map((m) => `${m.scope}/${m.version}`),
    pollSeconds: pollMs / 1000,
  });

  return {
    metrics,
    checks: {
      database: () => options.database.ping(),
      model: () => models.hasShared(),
    },
    bootstrapped: bootstrap?.done ?? Promise.resolve("off"),
    reloadModels,
    retrainNow: () => retrain?.runOnce(),
    servingVersions: () => Object.fromEntries(models.serving().map((m) => [String(m.scope), m.version])),
    async stop() {
      clearInterval(poll);
      await polling;
      bootstrap?.stop();
      await retrain?.stop();
      await subscription.stop();
      await bootstrap?.done;
      await models.close();
    },
  };
}
