/**
 * Rows the forecaster writes, derived from a window (pure): the 60 per-second actuals with their `imputed`
 * flags, and the 60 per-second forecast values of the following minute.
 */

import { slotMs, type WindowRecord } from "@energy/contracts/records.ts";
import type { ActualInsert, ForecastInsert } from "@energy/platform/db/forecasts.ts";
import { bandAt, type Interval, originScale, type ServedKind } from "../policy.ts";

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
  modelKind: ServedKind = "lstm",
  interval?: Interval,
): ForecastInsert[] {
  const rows: ForecastInsert[] = [];
  const originTs = new Date(window.windowStartMs);
  // The band scales with this minute's own volatility when it was calibrated that way (policy.ts).
  const scale = originScale(window.slots);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const band = interval && i < interval.p10.length ? bandAt(interval, i, scale) : undefined;
    const lo = band?.lo;
    const hi = band?.hi;
    rows.push({
      sensorId: window.sensorId,
      targetTs: new Date(window.windowEndMs + i * slotMs),
      modelVersion,
      value,
      // Power is not negative: a band reaching below 0 W is cut there, like the forecast itself.
      valueP10: lo === undefined ? null : Math.max(0, value + lo),
      valueP90: hi === undefined ? null : Math.max(0, value + hi),
      modelKind,
      originTs,
      madeAt,
    });
  }
  return rows;
}
