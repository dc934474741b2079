/**
 * Rows the forecaster writes, derived from a window (pure): the 60 per-second actuals with their `imputed`
 * flags, and the 60 per-second forecast values of the following minute.
 */
import type { actuals, forecasts } from "../../lib/db/schema.ts";
import { slotMs, type WindowRecord } from "../../lib/records.ts";

export type ActualInsert = typeof actuals.$inferInsert;
export type ForecastInsert = typeof forecasts.$inferInsert;

/** One row per slot: `ts` = window start + i s; imputed slots (the minute's mean) keep their flag. */
export function actualRows(window: WindowRecord): ActualInsert[] {
  return window.slots.map((value, i) => ({
    sensorId: window.sensorId,
    ts: new Date(window.windowStartMs + i * slotMs),
    value,
    imputed: window.imputed[i] ?? false,
  }));
}

/**
 * One row per forecast second: the forecast made from the minute [start, end) covers the next minute, so
 * value i targets end + i s. `origin_ts` is the input minute's start.
 */
export function forecastRows(
  window: WindowRecord,
  values: ArrayLike<number>,
  modelVersion: string,
  madeAt: Date,
): ForecastInsert[] {
  const rows: ForecastInsert[] = [];
  const originTs = new Date(window.windowStartMs);
  for (let i = 0; i < values.length; i++) {
    rows.push({
      sensorId: window.sensorId,
      targetTs: new Date(window.windowEndMs + i * slotMs),
      modelVersion,
      value: values[i]!,
      originTs,
      madeAt,
    });
  }
  return rows;
}
