/**
 * Latency and throughput arithmetic shared by the benchmarks: pure, no I/O.
 *
 * Percentiles use the nearest-rank definition (the value at rank ⌈p/100 · n⌉ of the sorted sample), the
 * one HdrHistogram and pulsar-perf report, so our p99 and theirs mean the same thing.
 *
 * @example
 * const s = summarize(latenciesMs); // { count, min, mean, p50, p99, max }
 * const r = ratePerSecond(100_000, 4_200); // ≈ 23,810 msgs/s
 */

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending-sorted sample; NaN for an empty one. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not within [0, 100]`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Count, min, mean, p50, p99, max of a sample (not modified: a sorted copy is taken). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const n = sorted.length;
  return {
    count: n,
    min: n ? sorted[0]! : Number.NaN,
    mean: n ? sum / n : Number.NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : Number.NaN,
  };
}

/** Events per second for `count` events in `elapsedMs`; NaN when no time elapsed. */
export function ratePerSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : Number.NaN;
}

/** One cumulative histogram bucket, as Prometheus exposes them: `count` observations were ≤ `le`. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0..1) of a cumulative histogram, interpolated linearly inside the bucket that holds it
 * (Prometheus' `histogram_quantile` rule); the highest finite bound when it falls in +Inf; NaN when empty.
 */
export function bucketQuantile(buckets: readonly Bucket[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not within [0, 1]`);
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower;
      const inBucket = b.count - below;
      return inBucket === 0 ? b.le : lower + ((b.le - lower) * (rank - below)) / inBucket;
    }
    lower = Number.isFinite(b.le) ? b.le : lower;
    below = b.count;
  }
  return lower;
}

/** `x` rounded to `digits` decimals, for figures in JSON results and tables (no float noise). */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
