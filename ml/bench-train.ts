/**
 * Quick measurement (not a test): training time of one device's model (200 epochs on 600 rows of seed
 * device 2, the study's setup) and batched onnxruntime inference latency for 1 and 1,000 sensors.
 *
 *     bun ml/bench-train.ts [--head recursive|direct|both] [--epochs 200]
 */
import { parseArgs } from "node:util";
import { OnnxForecaster } from "./inference.ts";
import { encodeOnnxModel } from "./onnx.ts";
import { readSeedCsv } from "./seed.ts";
import { type ForecastHead, train } from "./train.ts";

const { values: args } = parseArgs({
  options: { head: { type: "string", default: "both" }, epochs: { type: "string", default: "200" } },
});
const heads: ForecastHead[] = args.head === "both" ? ["recursive", "direct"] : [args.head as ForecastHead];
const epochs = Number(args.epochs);

const seed = await readSeedCsv(
  new URL("../data/seed/device_2_batch_data_2025-12-08.csv", import.meta.url).pathname,
);
const series = seed.values.subarray(0, 600);
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

for (const head of heads) {
  const result = train(series, { head, epochs });
  const perEpoch = result.trainMs / epochs;
  console.log(
    `train ${head.padEnd(9)} ${epochs} epochs, ${result.trainSamples} windows (600 rows, lookback 60, H 25, batch 32): ` +
      `${(result.trainMs / 1000).toFixed(2)} s (${perEpoch.toFixed(1)} ms/epoch, incl. validation); ` +
      `validation 60-s-ahead MAE ${result.validation.mae.toFixed(1)} W, RMSE ${result.validation.rmse.toFixed(1)} W`,
  );

  const onnx = await OnnxForecaster.load(
    encodeOnnxModel(result.model, { lookback: 60, scaler: result.scaler, head, horizon: 60 }),
  );
  for (const sensors of [1, 1000]) {
    const windows = new Float32Array(sensors * 60);
    for (let s = 0; s < sensors; s++)
      windows.set(Float32Array.from(series.subarray(s % 500, (s % 500) + 60)), s * 60);
    const runs = sensors === 1 ? 200 : head === "recursive" ? 5 : 50;
    await onnx.forecast(windows, sensors, 60);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await onnx.forecast(windows, sensors, 60);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const p50 = quantile(times, 0.5);
    console.log(
      `infer ${head.padEnd(9)} ${String(sensors).padStart(4)} sensors × 60 s: p50 ${p50.toFixed(3)} ms, ` +
        `p99 ${quantile(times, 0.99).toFixed(3)} ms, ${((p50 * 1000) / sensors).toFixed(1)} µs/sensor, ` +
        `${Math.round((sensors * 1000) / p50)} forecasts/s`,
    );
  }
  await onnx.release();
}
