import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { buildWindows, forecast, train, trainBest } from "./train.ts";

// A noisy-free periodic signal in watts; small sizes keep each training run well under a second.
const signal = Float64Array.from({ length: 300 }, (_, i) => 1000 + 300 * Math.sin((2 * Math.PI * i) / 25));
const small = { lookback: 20, horizon: 10, hidden: 8, epochs: 25, batchSize: 16, validateEvery: 5 };

describe("train", () => {
  test("reduces the training loss on a simple signal and forecasts it", () => {
    const result = train(signal, { ...small, head: "direct", seed: 1 });
    expect(result.loss.at(-1)!).toBeLessThan(result.loss[0]! / 3);
    expect(result.validationLoss.map(([epoch]) => epoch)).toEqual([5, 10, 15, 20, 25]);
    // validation RMSE well below the signal's standard deviation (≈212 W)
    expect(result.validation.rmse).toBeLessThan(120);
    const next = forecast(result, signal.subarray(0, 200));
    expect(next.length).toBe(10);
  });

  test("is deterministic in the seed", () => {
    const a = train(signal, { ...small, epochs: 5, seed: 7 });
    const b = train(signal, { ...small, epochs: 5, seed: 7 });
    const c = train(signal, { ...small, epochs: 5, seed: 8 });
    expect(a.model.params).toEqual(b.model.params);
    expect(a.loss).toEqual(b.loss);
    expect(a.model.params).not.toEqual(c.model.params);
  });

  test("trainBest keeps the head with the lower validation error", () => {
    const { best, candidates } = trainBest(signal, { ...small, epochs: 5 });
    expect(candidates.map((c) => c.head)).toEqual(["recursive", "direct"]);
    const lowest = Math.min(...candidates.map((c) => c.validation.mseScaled));
    expect(best.validation.mseScaled).toBe(lowest);
  });

  test("rejects a series too short for the windows and the validation tail", () => {
    expect(() => train(signal.subarray(0, 35), small)).toThrow(PipelineError);
    expect(() => train(signal.subarray(0, 35), small)).toThrow(/too short/);
    expect(() => train([1, 2, Number.NaN, ...signal], small)).toThrow(/index 2 is NaN/);
  });
});

describe("buildWindows", () => {
  test("pairs each lookback window with the values that follow it", () => {
    const { x, y, count } = buildWindows([0, 1, 2, 3, 4, 5], 3, 2, 0, 1);
    expect(count).toBe(2);
    expect(Array.from(x)).toEqual([0, 1, 2, 1, 2, 3]);
    expect(Array.from(y)).toEqual([3, 4, 4, 5]);
  });
});
