/**
 * What the forecaster does with one batch from the windows log: forecast every window (batched inference),
 * upsert the actuals and the forecasts, then acknowledge. Nothing is acked before its rows are stored, so a
 * crash or a failed write means redelivery, and the upserts make the redelivery idempotent.
 */

import { errorMessage } from "@energy/contracts/errors.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import type { BatchHandler } from "@energy/logs/log.ts";
import type { Db } from "@energy/platform/db/client.ts";
import { saveActuals, saveForecasts } from "@energy/platform/db/forecasts.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ForecasterMetrics } from "@energy/platform/metrics.ts";
import { forecastWindows, type WindowForecast } from "./batch.ts";
import type { ModelSet } from "./models.ts";
import { actualRows, forecastRows } from "./rows.ts";

/**
 * The windows-log handler of the forecaster.
 *
 * @example
 * windowsLog.subscribe("forecaster", windowBatchHandler({ db, models, metrics, logger }));
 */
export function windowBatchHandler(deps: {
  db: Db;
  models: ModelSet;
  metrics: ForecasterMetrics;
  logger: Logger;
  /** Called with each batch's sensors before forecasting (the service tracks which sensors it serves). */
  onSensors?: (sensorIds: Iterable<number>) => void;
  /** Called with each stored batch's windows and forecasts (live error monitoring). */
  onForecasts?: (windows: readonly WindowRecord[], forecasts: readonly WindowForecast[]) => void;
}): BatchHandler<WindowRecord> {
  const { db, models, metrics, logger } = deps;
  return async (batch) => {
    const windows = batch.map((m) => m.value);
    metrics.windowsConsumed.inc(windows.length);
    deps.onSensors?.(windows.map((w) => w.sensorId));
    const forecasts = await forecastWindows(windows, models, metrics, logger);
    const madeAt = new Date();
    try {
      const actualsStored = await saveActuals(db, windows.flatMap(actualRows));
      await saveForecasts(
        db,
        forecasts.flatMap((f) => forecastRows(f.window, f.values, f.version, madeAt, f.served, f.interval)),
      );
      metrics.actualsStored.inc(actualsStored);
    } catch (error) {
      // Thrown on: the log redelivers the batch (nothing acked).
      metrics.forecastErrors.inc({ stage: "store" });
      logger.warn("storing actuals and forecasts failed; the batch will be redelivered", {
        windows: windows.length,
        error: errorMessage(error),
      });
      throw error;
    }
    deps.onForecasts?.(windows, forecasts);
    const storedAt = Date.now();
    for (const f of forecasts) {
      metrics.forecasts.inc({ model: f.kind });
      // 0 = the sender did not say when it created the readings (e.g. CSV replays without the field).
      if (f.window.maxCreatedAtMs > 0) metrics.endToEnd.observe((storedAt - f.window.maxCreatedAtMs) / 1000);
    }
    for (const m of batch) m.ack();
  };
}
