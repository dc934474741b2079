import { describe, expect, test } from "bun:test";
import { bucketQuantile, percentile, ratePerSecond, summarize } from "./stats.ts";

describe("percentile (nearest rank)", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  test("p50 and p99 of 1..100 are the 50th and 99th values", () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(sorted, 0)).toBe(1);
  });

  test("a small sample rounds the rank up, never interpolates", () => {
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30], 99)).toBe(30);
    expect(percentile([7], 99)).toBe(7);
  });

  test("empty sample is NaN; a percentile outside 0..100 is a RangeError", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe("summarize", () => {
  test("sorts a copy numerically (not as strings) and leaves the input alone", () => {
    const values = [100, 9, 20, 3];
    const s = summarize(values);
    expect(values).toEqual([100, 9, 20, 3]);
    expect(s).toEqual({ count: 4, min: 3, mean: 33, p50: 9, p99: 100, max: 100 });
  });

  test("empty sample gives count 0 and NaN figures", () => {
    const s = summarize(new Float64Array(0));
    expect(s.count).toBe(0);
    expect(s.p50).toBeNaN();
    expect(s.mean).toBeNaN();
  });
});

describe("ratePerSecond", () => {
  test("events per second, NaN when no time passed", () => {
    expect(ratePerSecond(100_000, 4_000)).toBe(25_000);
    expect(ratePerSecond(5, 0)).toBeNaN();
  });
});

describe("bucketQuantile (Prometheus histogram_quantile rule)", () => {
  const buckets = [
    { le: 10, count: 50 },
    { le: 20, count: 90 },
    { le: Number.POSITIVE_INFINITY, count: 100 },
  ];

  test("interpolates linearly inside the bucket holding the rank", () => {
    expect(bucketQuantile(buckets, 0.5)).toBe(10);
    expect(bucketQuantile(buckets, 0.7)).toBe(15);
    expect(bucketQuantile(buckets, 0.25)).toBe(5);
  });

  test("a rank in the +Inf bucket gives the highest finite bound; empty is NaN", () => {
    expect(bucketQuantile(buckets, 0.99)).toBe(20);
    expect(bucketQuantile([{ le: Number.POSITIVE_INFINITY, count: 0 }], 0.5)).toBeNaN();
  });
});
