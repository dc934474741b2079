/**
 * Tiled-trace detection: a series that is a shorter trace repeated (data/seed devices 2–5 are device 1's
 * 300 s tiled 8× with scale and noise) must not be split into "training" and "unseen" parts, or the test
 * repeats the training data. `detectPeriod` finds the repeat, `dedupe` keeps one period.
 */

/**
 * The smallest lag p (between `minPeriod` and half the length) at which the series nearly repeats itself:
 * mean |x[t] − x[t+p]| below `tolerance` × the series' own mean |x[t] − mean| (a tiled trace with noise
 * repeats up to its noise; a real load does not). Null when nothing repeats.
 *
 * @example
 * detectPeriod(device2Values); // 300
 */
export function detectPeriod(series: ArrayLike<number>, minPeriod = 30, tolerance = 0.1): number | null {
  const n = series.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += series[i]!;
  mean /= n || 1;
  let spread = 0;
  for (let i = 0; i < n; i++) spread += Math.abs(series[i]! - mean);
  spread /= n || 1;
  if (spread === 0) return null;
  for (let p = minPeriod; p <= Math.floor(n / 2); p++) {
    let d = 0;
    for (let t = 0; t + p < n; t++) d += Math.abs(series[t]! - series[t + p]!);
    if (d / (n - p) < tolerance * spread) {
      // The first lag under the tolerance can sit one off the true period (noise); take the best nearby.
      let best = p;
      let bestD = d / (n - p);
      for (let q = p + 1; q <= Math.min(Math.floor(n / 2), p + Math.ceil(p / 10)); q++) {
        let dq = 0;
        for (let t = 0; t + q < n; t++) dq += Math.abs(series[t]! - series[t + q]!);
        if (dq / (n - q) < bestD) {
          best = q;
          bestD = dq / (n - q);
        }
      }
      return best;
    }
  }
  return null;
}

/** The first period of a tiled series, or the series itself; `period` is null when it does not repeat. */
export function dedupe(series: Float64Array): { values: Float64Array; period: number | null } {
  const period = detectPeriod(series);
  return { values: period === null ? series : series.subarray(0, period), period };
}
