import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { sfc32 } from "@energy/platform/random.ts";
import { OnnxForecaster } from "./inference.ts";
import { createLstmModel, forward, type LstmModel } from "./lstm.ts";
import { encodeOnnxModel } from "./onnx.ts";
import { MinMaxScaler } from "./scaler.ts";
import { forecastScaled } from "./train.ts";

/** A model with random (not trained) weights, scaled up so every gate leaves its linear region. */
function randomModel(hidden: number, outputs: number, seed: number): LstmModel {
  const model = createLstmModel({ hidden, outputs }, seed);
  const rng = sfc32(seed + 100);
  for (let i = 0; i < model.params.length; i++) model.params[i]! += rng.normal() * 0.5;
  return model;
}

function randomInputs(count: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rng = sfc32(seed);
  return Float32Array.from({ length: count }, () => lo + (hi - lo) * rng.next());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

async function expectModelError(promise: Promise<unknown>, code: string, pattern: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PipelineError);
  expect((error as PipelineError).code).toBe(code as PipelineError["code"]);
  expect((error as PipelineError).message).toMatch(pattern);
}

describe("ONNX export run by onnxruntime-node", () => {
  for (const [hidden, outputs, lookback, batch] of [
    [25, 60, 60, 7],
    [25, 1, 60, 5],
    [7, 3, 13, 4],
  ] as const) {
    test(`equals the TypeScript forward pass within 1e-4 (H=${hidden}, out=${outputs}, lookback=${lookback}, batch=${batch})`, async () => {
      const model = randomModel(hidden, outputs, hidden * 31 + outputs);
      const onnx = await OnnxForecaster.load(encodeOnnxModel(model, { lookback }), { lookback, outputs });
      const x = randomInputs(batch * lookback, 77);
      const expected = forward(model, x, batch, lookback);
      const actual = await onnx.predict(x, batch);
      expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-4);
      await onnx.release();
    });
  }

  test("with the scaler folded in, takes and returns watts (error < 1e-4 of the range)", async () => {
    const model = randomModel(25, 60, 5);
    const scaler = new MinMaxScaler(537, 1731);
    const onnx = await OnnxForecaster.load(encodeOnnxModel(model, { lookback: 60, scaler, head: "direct" }));
    const raw = randomInputs(3 * 60, 8, 537, 1731);
    const expected = scaler.inverse(forward(model, scaler.transform(raw), 3, 60));
    const actual = await onnx.predict(raw, 3);
    expect(maxAbsDiff(actual, expected) / scaler.range).toBeLessThan(1e-4);
    await onnx.release();
  });

  test("recursive forecast through onnxruntime equals the TypeScript recursive forecast", async () => {
    const model = randomModel(10, 1, 9);
    const onnx = await OnnxForecaster.load(encodeOnnxModel(model, { lookback: 20 }));
    const x = randomInputs(6 * 20, 3);
    const expected = forecastScaled(model, "recursive", Float64Array.from(x), 6, 20, 15);
    const actual = await onnx.forecast(x, 6, 15);
    expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-4);
    await onnx.release();
  });
});

describe("loading a bad model fails with a typed error", () => {
  const good = encodeOnnxModel(randomModel(4, 2, 1), { lookback: 10 });

  test("empty bytes", async () => {
    await expectModelError(
      OnnxForecaster.load(new Uint8Array(0), { source: "m.onnx" }),
      "model",
      /m\.onnx is empty/,
    );
  });

  test("truncated model", async () => {
    await expectModelError(
      OnnxForecaster.load(good.subarray(0, good.length >> 1)),
      "model",
      /could not be loaded/,
    );
  });

  test("random bytes", async () => {
    const junk = Uint8Array.from(randomInputs(500, 4), (v) => Math.floor(v * 256));
    await expectModelError(OnnxForecaster.load(junk), "model", /could not be loaded/);
  });

  test("flipped bytes in the weights' header", async () => {
    const corrupt = good.slice();
    for (let i = 20; i < 60; i++) corrupt[i] = 0xff;
    await expectModelError(OnnxForecaster.load(corrupt), "model", /could not be loaded|failed its warm-up/);
  });

  test("wrong input length or output count", async () => {
    await expectModelError(
      OnnxForecaster.load(good, { lookback: 60 }),
      "model",
      /takes lookback 10, expected 60/,
    );
    await expectModelError(OnnxForecaster.load(good, { outputs: 60 }), "model", /has 2 outputs, expected 60/);
  });

  test("missing file", async () => {
    await expectModelError(OnnxForecaster.loadFile("/nonexistent/model.onnx"), "not-found", /does not exist/);
  });

  test("predict with a window of the wrong length", async () => {
    const onnx = await OnnxForecaster.load(good);
    await expectModelError(
      onnx.predict(new Float32Array(9), 1),
      "validation",
      /expected batch × lookback 10/,
    );
    await onnx.release();
  });
});
