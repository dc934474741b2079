import { describe, expect, test } from "bun:test";
import { sfc32 } from "@energy/platform/random.ts";
import {
  createLstmModel,
  fillDropoutMask,
  forward,
  lossAndGradient,
  paramLayout,
  TrainingWorkspace,
} from "./lstm.ts";

/** Loss only, via the same code path (the gradient it writes is discarded). */
function lossAt(
  model: ReturnType<typeof createLstmModel>,
  ws: TrainingWorkspace,
  batch: number,
  mask: boolean,
) {
  return lossAndGradient(model, ws, batch, new Float64Array(model.params.length), mask);
}

function gradientCheck(config: { inputSize: number; hidden: number; outputs: number }, useMask: boolean) {
  const steps = 6;
  const batch = 3;
  const model = createLstmModel({ ...config, dropout: 0.5 }, 11);
  const rng = sfc32(5);
  // Larger-than-default weights so every gate works away from its linear region.
  for (let i = 0; i < model.params.length; i++) model.params[i]! += rng.normal() * 0.3;
  const ws = new TrainingWorkspace(model.config, 4, steps);
  for (let i = 0; i < batch * steps * config.inputSize; i++) ws.x[i] = rng.next() * 2 - 1;
  for (let i = 0; i < batch * config.outputs; i++) ws.y[i] = rng.next();
  fillDropoutMask(ws, batch, 0.5, rng.next);
  const grad = new Float64Array(model.params.length);
  lossAndGradient(model, ws, batch, grad, useMask);
  const eps = 1e-6;
  let worst = 0;
  let diffNorm = 0;
  let sumNorm = 0;
  for (let i = 0; i < model.params.length; i++) {
    const keep = model.params[i]!;
    model.params[i] = keep + eps;
    const up = lossAt(model, ws, batch, useMask);
    model.params[i] = keep - eps;
    const down = lossAt(model, ws, batch, useMask);
    model.params[i] = keep;
    const numeric = (up - down) / (2 * eps);
    const analytic = grad[i]!;
    // Floor 1e-4 on the denominator: central differences in float64 carry ~1e-10 absolute round-off,
    // so relative error is meaningless for gradients much smaller than that.
    worst = Math.max(
      worst,
      Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-4),
    );
    diffNorm += (analytic - numeric) ** 2;
    sumNorm += (analytic + numeric) ** 2;
  }
  return { worst, global: Math.sqrt(diffNorm) / Math.sqrt(sumNorm) };
}

describe("LSTM gradient", () => {
  test("matches central finite differences (float64), one input, one output", () => {
    const { worst, global } = gradientCheck({ inputSize: 1, hidden: 5, outputs: 1 }, false);
    expect(worst).toBeLessThan(1e-5);
    expect(global).toBeLessThan(1e-7);
  });

  test("matches finite differences with two inputs, three outputs and a dropout mask", () => {
    const { worst, global } = gradientCheck({ inputSize: 2, hidden: 7, outputs: 3 }, true);
    expect(worst).toBeLessThan(1e-5);
    expect(global).toBeLessThan(1e-7);
  });
});

describe("LSTM forward", () => {
  test("a batch predicts bit-identically to its samples one at a time (paired and odd rows)", () => {
    const model = createLstmModel({ hidden: 25, outputs: 3 }, 4);
    const rng = sfc32(8);
    for (const batch of [2, 7]) {
      const x = Float64Array.from({ length: batch * 20 }, () => rng.next());
      const together = forward(model, x, batch, 20);
      for (let b = 0; b < batch; b++) {
        const alone = forward(model, x.subarray(b * 20, (b + 1) * 20), 1, 20);
        expect(together.subarray(b * 3, (b + 1) * 3)).toEqual(alone);
      }
    }
  });

  test("the training pass without dropout predicts what forward() predicts", () => {
    const model = createLstmModel({ hidden: 6, outputs: 4 }, 3);
    const ws = new TrainingWorkspace(model.config, 5, 10);
    const rng = sfc32(9);
    for (let i = 0; i < ws.x.length; i++) ws.x[i] = rng.next();
    lossAndGradient(model, ws, 5, new Float64Array(model.params.length), false);
    const y = forward(model, ws.x, 5, 10);
    for (let i = 0; i < y.length; i++) expect(ws.yhat[i]!).toBeCloseTo(y[i]!, 12);
  });

  test("initialisation is deterministic in the seed and follows the documented layout", () => {
    const a = createLstmModel({ hidden: 4 }, 1);
    const b = createLstmModel({ hidden: 4 }, 1);
    const c = createLstmModel({ hidden: 4 }, 2);
    expect(a.params).toEqual(b.params);
    expect(a.params).not.toEqual(c.params);
    const L = paramLayout(a.config);
    // forget-gate bias (third block in i, o, f, c order) starts at 1
    expect(Array.from(a.params.subarray(L.b, L.b + 16))).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0,
    ]);
    // R has orthonormal columns
    const H = 4;
    for (let k = 0; k < H; k++) {
      for (let q = 0; q < H; q++) {
        let dot = 0;
        for (let j = 0; j < 4 * H; j++) dot += a.params[L.r + j * H + k]! * a.params[L.r + j * H + q]!;
        expect(dot).toBeCloseTo(k === q ? 1 : 0, 12);
      }
    }
  });
});
