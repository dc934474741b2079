/**
 * The persistence baseline: the next minute repeats the last measured value. It serves while no model is
 * loaded (fresh clone, bootstrap training still running) and when a model's inference fails, under its own
 * version label so such rows are never mistaken for a model's.
 */
import type { WindowRecord } from "@energy/contracts/records.ts";

/** `model_version` of forecasts made by the persistence baseline. */
export const baselineVersion = "baseline-persistence";

/**
 * The last non-imputed slot value (an imputed slot holds the minute's mean, not a measurement), or the
 * window mean when every slot is imputed (a window always has at least one reading, so this is rare).
 */
export function lastMeasuredValue(window: WindowRecord): number {
  for (let i = window.slots.length - 1; i >= 0; i--) {
    if (!window.imputed[i]) return window.slots[i]!;
  }
  return window.mean;
}

/** `horizon` copies of the last measured value. */
export function persistenceForecast(window: WindowRecord, horizon: number): Float64Array {
  return new Float64Array(horizon).fill(lastMeasuredValue(window));
}
