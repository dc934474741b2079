/**
 * Saturation detection for a rate ramp: the offered rate at which the pipeline stops keeping up. Pure, so the
 * rule the report states is the rule the test checks.
 */

/** Achieved below this share of the offered rate counts as saturated (issue 7: "achieved < 95 %"). */
export const saturationThreshold = 0.95;

export interface RampStep {
  /** Readings/s the edge was asked to produce. */
  offered: number;
  /** Readings/s that reached the windows, end to end. */
  achieved: number;
  /** Readings lost between edge and windows; any loss is saturation whatever the rate says. */
  lost: number;
}

export interface Saturation {
  /** First offered rate at which the pipeline fell behind; undefined if it kept up at every step. */
  saturatedAt: number | undefined;
  /** Highest offered rate it kept up with (undefined if it fell behind at the first step). */
  sustained: number | undefined;
  /** Highest achieved rate over the ramp: the measured capacity when saturated, a lower bound otherwise. */
  maxAchieved: number;
}

/** Whether one step kept up. */
export function keptUp(step: RampStep, threshold = saturationThreshold): boolean {
  return step.lost === 0 && step.achieved >= threshold * step.offered;
}

/**
 * Walks the steps in order of offered rate; the first that did not keep up is the saturation point.
 *
 * @example findSaturation([{ offered: 1000, achieved: 1000, lost: 0 }, { offered: 5000, achieved: 3900, lost: 0 }])
 * // { saturatedAt: 5000, sustained: 1000, maxAchieved: 3900 }
 */
export function findSaturation(steps: readonly RampStep[], threshold = saturationThreshold): Saturation {
  const sorted = [...steps].sort((a, b) => a.offered - b.offered);
  let sustained: number | undefined;
  let saturatedAt: number | undefined;
  let maxAchieved = 0;
  for (const s of sorted) {
    maxAchieved = Math.max(maxAchieved, s.achieved);
    if (saturatedAt !== undefined) continue;
    if (keptUp(s, threshold)) sustained = s.offered;
    else saturatedAt = s.offered;
  }
  return { saturatedAt, sustained, maxAchieved };
}

/**
 * The fastest the core took readings in over any `spanMs` (or longer) stretch of a trace of its accepted
 * count: for B, whose sensors deliver each interval in one burst, how fast the pipeline absorbs a burst,
 * which the achieved rate (readings over the whole run, final burst included) hides. 0 for a trace that
 * never spans `spanMs`.
 *
 * @example peakRate([{ atMs: 0, readings: 0 }, { atMs: 5000, readings: 500 }, { atMs: 10000, readings: 3000 }], 5000) // 500 (0→5 s: 100/s, 5→10 s: 500/s)
 */
export function peakRate(trace: readonly { atMs: number; readings: number }[], spanMs: number): number {
  let best = 0;
  let from = 0;
  for (let to = 0; to < trace.length; to++) {
    // Shortest stretch ending at `to` that is still at least `spanMs` long.
    while (from + 1 < to && trace[to]!.atMs - trace[from + 1]!.atMs >= spanMs) from++;
    const dt = trace[to]!.atMs - trace[from]!.atMs;
    if (dt >= spanMs) best = Math.max(best, ((trace[to]!.readings - trace[from]!.readings) * 1000) / dt);
  }
  return best;
}
