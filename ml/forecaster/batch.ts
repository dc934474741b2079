/**
 * Batched inference for one handler batch of windows: windows are grouped by the model serving their
 * sensor (own model, else shared), and each group is one onnxruntime run, so 1,000 sensors closing their
 * minute in the same tick cost one call per model, not 1,000. Sensors without a model, and a group whose
 * run fails, get the persistence baseline under its own version label.
 */
import { errorMessage } from "@energy/contracts/errors.ts";
import { slotsPerWindow, type WindowRecord } from "@energy/contracts/records.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ForecasterMetrics } from "@energy/platform/metrics.ts";
import { type Interval, meanVersion, persistenceVersion, type ServedKind } from "../policy.ts";
import { baselineVersion, persistenceForecast } from "./baseline.ts";
import type { ModelKind, ModelSet, ServingModel } from "./models.ts";

export interface WindowForecast {
  window: WindowRecord;
  /** Which scope decided (metric label `model`). */
  kind: ModelKind;
  /** What made the values (`forecasts.model_kind`). */
  served: ServedKind;
  /** p10/p90 offsets per step, when what serves has one. */
  interval?: Interval | undefined;
  version: string;
  /** `slotsPerWindow` values in watts: second i targets window end + i s. */
  values: ArrayLike<number>;
}

/**
 * One forecast per window, in input order.
 *
 * @example
 * const [f] = await forecastWindows([window], models, metrics, logger);
 * f.version; // "initial", or "baseline-persistence" when no model serves the sensor
 */
export async function forecastWindows(
  windows: readonly WindowRecord[],
  models: ModelSet,
  metrics: ForecasterMetrics,
  logger: Logger,
): Promise<WindowForecast[]> {
  const out: WindowForecast[] = new Array(windows.length);
  const groups = new Map<ServingModel, { kind: ModelKind; indices: number[] }>();
  // Baselines are what serves wherever the policy chose them: their (tiny) compute is the batch's forecast
  // cost as much as a model's, so it is timed and counted the same way.
  const baselineStarted = performance.now();
  let baselines = 0;
  windows.forEach((window, i) => {
    const { kind, model } = models.pick(window.sensorId);
    if (!model) {
      out[i] = baseline(window);
      baselines++;
      return;
    }
    if (model.kind !== "lstm") {
      out[i] = baseline(window, kind, model.kind, model.interval);
      baselines++;
      return;
    }
    const group = groups.get(model);
    if (group) group.indices.push(i);
    else groups.set(model, { kind, indices: [i] });
  });

  if (baselines > 0) {
    metrics.inference.observe((performance.now() - baselineStarted) / 1000);
    metrics.batchSize.observe(baselines);
  }
  for (const [model, { kind, indices }] of groups) {
    const n = indices.length;
    const input = new Float32Array(n * slotsPerWindow);
    indices.forEach((w, b) => {
      input.set(windows[w]!.slots, b * slotsPerWindow);
    });
    try {
      const started = performance.now();
      const y = await models.use(model, (f) => f.forecast(input, n, slotsPerWindow));
      metrics.inference.observe((performance.now() - started) / 1000);
      metrics.batchSize.observe(n);
      indices.forEach((w, b) => {
        out[w] = {
          window: windows[w]!,
          kind,
          served: "lstm",
          interval: model.interval,
          version: model.version,
          values: y.subarray(b * slotsPerWindow, (b + 1) * slotsPerWindow),
        };
      });
    } catch (error) {
      // The windows still get honest (labelled) forecasts; the failure is counted and visible.
      metrics.forecastErrors.inc({ stage: "inference" });
      logger.error(`inference with ${model.scope}/${model.version} failed; persistence serves this batch`, {
        windows: n,
        error: errorMessage(error),
      });
      for (const w of indices) out[w] = baseline(windows[w]!);
    }
  }
  return out;
}

/**
 * A baseline forecast: persistence by default (nothing serves yet, or inference failed — no interval then,
 * since nothing calibrated it), or the baseline the policy chose for the scope, with its interval.
 */
function baseline(
  window: WindowRecord,
  kind: ModelKind = "baseline",
  served: ServedKind = "persistence",
  interval?: Interval,
): WindowForecast {
  const values =
    served === "mean"
      ? new Float64Array(slotsPerWindow).fill(window.mean)
      : persistenceForecast(window, slotsPerWindow);
  return {
    window,
    kind,
    served,
    interval,
    version: served === "mean" ? meanVersion : kind === "baseline" ? baselineVersion : persistenceVersion,
    values,
  };
}
