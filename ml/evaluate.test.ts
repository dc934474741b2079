import { describe, expect, test } from "bun:test";
import { PipelineError } from "../lib/errors.ts";
import {
  actualsAt,
  errorMetrics,
  evaluateDevice,
  persistenceForecasts,
  renderMarkdown,
  renderPlot,
  rollingOrigins,
  skillScore,
  windowMeanForecasts,
} from "./evaluate.ts";

describe("error metrics (hand-computed)", () => {
  test("MAE, RMSE and MAPE of three forecasts", () => {
    // errors +10, −20, 0 on actuals 100, 200, 400
    const m = errorMetrics([100, 200, 400], [110, 180, 400]);
    expect(m.n).toBe(3);
    expect(m.mae).toBeCloseTo(10, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(500 / 3), 12); // 12.9099…
    expect(m.mape).toBeCloseTo((100 * (0.1 + 0.1 + 0)) / 3, 12); // 6.67 %
    expect(m.mapeExcluded).toBe(0);
  });

  test("a zero actual counts in MAE/RMSE but is left out of MAPE", () => {
    const m = errorMetrics([0, 100], [5, 90]);
    expect(m.mae).toBeCloseTo(7.5, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(62.5), 12);
    expect(m.mape).toBeCloseTo(10, 12);
    expect(m.mapeExcluded).toBe(1);
    expect(Number.isNaN(errorMetrics([0, 0], [1, 2]).mape)).toBe(true);
  });

  test("rejects mismatched or empty inputs", () => {
    expect(() => errorMetrics([1, 2], [1])).toThrow(PipelineError);
    expect(() => errorMetrics([], [])).toThrow(/at least one/);
  });

  test("skill is 1 − RMSE/RMSE_persistence", () => {
    expect(skillScore(5, 10)).toBe(0.5);
    expect(skillScore(10, 10)).toBe(0);
    expect(skillScore(15, 10)).toBe(-0.5);
    expect(Number.isNaN(skillScore(1, 0))).toBe(true);
  });
});

describe("baselines and origins", () => {
  const series = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  test("origins step through the held-out rest, each with a lookback before and a full horizon after", () => {
    expect(rollingOrigins(10, 4, 2, 2, 3)).toEqual([4, 6, 8]);
    expect(rollingOrigins(10, 0, 2, 3, 3)).toEqual([3, 6]);
    expect(rollingOrigins(10, 9, 2, 1, 3)).toEqual([]);
    expect(() => rollingOrigins(10, 0, 2, 0, 3)).toThrow(/step 0/);
  });

  test("persistence repeats the last value, the window mean the mean before the origin", () => {
    expect(Array.from(persistenceForecasts(series, [3, 6], 2))).toEqual([3, 3, 6, 6]);
    expect(Array.from(windowMeanForecasts(series, [3, 6], 2, 3))).toEqual([2, 2, 5, 5]);
    expect(Array.from(actualsAt(series, [3, 6], 2))).toEqual([4, 5, 7, 8]);
    // persistence on a ramp of slope 1 is off by 1, 2 in the horizon: MAE 1.5
    const m = errorMetrics(actualsAt(series, [3, 6], 2), persistenceForecasts(series, [3, 6], 2));
    expect(m.mae).toBe(1.5);
  });
});

describe("evaluateDevice", () => {
  // A small periodic signal and a tiny model so the test trains in well under a second.
  const signal = Float64Array.from({ length: 260 }, (_, i) => 1000 + 300 * Math.sin((2 * Math.PI * i) / 25));
  const result = evaluateDevice(7, signal, {
    trainRows: 200,
    step: 5,
    train: { lookback: 20, horizon: 10, hidden: 6, epochs: 3, batchSize: 16, seed: 3 },
  });

  test("scores every method on the same origins, persistence with skill 0", () => {
    expect(result.trainRows).toBe(200);
    expect(result.firstOrigin).toBe(200);
    expect(result.origins).toBe(11); // 200, 205, …, 250 (250 + 10 ≤ 260)
    expect(result.methods.persistence.skill).toBe(0);
    for (const m of Object.values(result.methods)) expect(m.n).toBe(11 * 10);
    // The study row is the recursive candidate: identical to ours whenever the recursive head was chosen.
    if (result.chosenHead === "recursive") expect(result.methods.study).toEqual(result.methods.lstm);
    expect(result.example.actual.length).toBe(10);
    expect(result.example.history.length).toBe(60);
  });

  test("is deterministic in the seed", () => {
    const again = evaluateDevice(7, signal, {
      trainRows: 200,
      step: 5,
      train: { lookback: 20, horizon: 10, hidden: 6, epochs: 3, batchSize: 16, seed: 3 },
    });
    expect(again.methods).toEqual(result.methods);
  });

  test("renders a markdown table row per device and one chart per device", () => {
    const md = renderMarkdown([result], { command: "test", seed: 3, quick: true });
    expect(md).toContain("| 7 | 200 / 260 | 11 |");
    expect(md).toContain("| persistence (last value) |");
    const svg = renderPlot([result, { ...result, device: 8 }]);
    expect(svg).toContain("device 7, origin at row");
    expect(svg).toContain("device 8, origin at row");
  });
});
