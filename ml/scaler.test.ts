import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { MinMaxScaler } from "./scaler.ts";

describe("MinMaxScaler", () => {
  test("maps the fitted range to [0, 1] and back", () => {
    const values = [699.6, 1218.3672727272728, 537, 1731, 1000];
    const scaler = MinMaxScaler.fit(values);
    const scaled = scaler.transform(values);
    expect(Math.min(...scaled)).toBe(0);
    expect(Math.max(...scaled)).toBe(1);
    const back = scaler.inverse(scaled);
    for (let i = 0; i < values.length; i++) expect(back[i]!).toBeCloseTo(values[i]!, 10);
  });

  test("survives a JSON round trip", () => {
    const scaler = MinMaxScaler.fit([3, 9, 4]);
    const copy = MinMaxScaler.fromJSON(JSON.parse(JSON.stringify(scaler)));
    expect(copy.toJSON()).toEqual({ kind: "minmax", min: 3, max: 9 });
    expect(copy.transformValue(6)).toBe(scaler.transformValue(6));
  });

  test("a constant series scales to 0 and inverts to the constant, without NaN", () => {
    const scaler = MinMaxScaler.fit([50, 50, 50]);
    expect(Array.from(scaler.transform([50, 50]))).toEqual([0, 0]);
    expect(scaler.inverseValue(0)).toBe(50);
    expect(scaler.inverseValue(0.5)).toBe(50.5);
  });

  test("ignores non-finite values and rejects series without any finite one", () => {
    expect(MinMaxScaler.fit([Number.NaN, 2, 4]).toJSON()).toEqual({ kind: "minmax", min: 2, max: 4 });
    expect(() => MinMaxScaler.fit([Number.NaN])).toThrow(PipelineError);
    expect(() => MinMaxScaler.fit([])).toThrow(/none is finite/);
  });

  test("rejects malformed JSON with a model error naming the value", () => {
    expect(() => MinMaxScaler.fromJSON({ kind: "minmax", min: 1 })).toThrow(
      /is not \{kind:"minmax",min,max\}/,
    );
    expect(() => MinMaxScaler.fromJSON({ kind: "minmax", min: 5, max: 1 })).toThrow(/min ≤ max/);
  });
});
