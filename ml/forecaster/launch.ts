/**
 * Starting a forecaster from parsed command-line values, shared by `bun run forecaster`, `bun run core`
 * (in-process, `--forecast`) and the demo, so the three cannot drift apart: opens the model store, maps the
 * options, starts the service, and closes the store again on stop.
 */

import type { WindowRecord } from "@energy/contracts/records.ts";
import type { RecordLog } from "@energy/logs/log.ts";
import type { Database } from "@energy/platform/db/client.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ServiceProcess } from "@energy/platform/process.ts";
import type { Registry } from "prom-client";
import { ModelStore } from "../store/model-store.ts";
import { modelStoreConfig } from "../store/options.ts";
import type { ForecasterRunValues } from "./options.ts";
import { type Forecaster, startForecaster } from "./service.ts";

export interface LaunchedForecaster extends Forecaster {
  /** Where the models come from, for logs and banners (no credentials). */
  readonly storeLocation: string;
}

/**
 * @example
 * const forecaster = await launchForecaster({ values: o, windowsLog: core.windowsLog, database, registry, logger });
 * await forecaster.stop();
 */
export async function launchForecaster(deps: {
  values: ForecasterRunValues;
  windowsLog: RecordLog<WindowRecord>;
  database: Database;
  registry: Registry;
  logger: Logger;
}): Promise<LaunchedForecaster> {
  const { values } = deps;
  const storeConfig = modelStoreConfig(values);
  const store = await ModelStore.open(storeConfig);
  let forecaster: Forecaster;
  try {
    forecaster = await startForecaster({
      windowsLog: deps.windowsLog,
      database: deps.database,
      store,
      registry: deps.registry,
      logger: deps.logger,
      modelPollIntervalMs: Math.round(values.modelPollInterval * 1000),
      bootstrap: values.bootstrap
        ? { csvPath: values.bootstrapCsv, rows: values.bootstrapRows, epochs: values.bootstrapEpochs }
        : false,
      demoteAfterMs: Math.round(values.demoteAfter * 1000),
      retrain: {
        everyMs: Math.round(values.retrainEvery * 1000),
        store: storeConfig,
        rows: values.retrainRows,
        options: { epochs: values.retrainEpochs },
      },
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    ...forecaster,
    storeLocation: store.location,
    async stop() {
      await forecaster.stop();
      await store.close();
    },
  };
}

/** launchForecaster as the part "forecaster" of an entry point's process, stopped in its shutdown order. */
export function launchForecasterIn(
  proc: ServiceProcess,
  deps: Parameters<typeof launchForecaster>[0],
): Promise<LaunchedForecaster> {
  return proc.start(
    "forecaster",
    () => launchForecaster(deps),
    (f) => f.stop(),
  );
}
