/**
 * Live error of what serves, against persistence, from the forecasts and the actuals that follow them: when
 * a sensor's next window arrives, the forecast made from its previous window is scored against it, and so
 * is persistence (the previous window's last measured value). Per serving scope, rolling MAEs of both are
 * kept; a model whose rolling MAE stays above persistence's for `demoteAfterMs` (event time) is demoted:
 * persistence serves the scope, and the decision is recorded in the manifest like any other.
 */

import type { WindowRecord } from "@energy/contracts/records.ts";
import { Gauge, type Registry } from "prom-client";
import type { ModelScope } from "../store/types.ts";
import { lastMeasuredValue } from "./baseline.ts";
import type { WindowForecast } from "./batch.ts";

/** Minutes in the rolling MAE (exponential, half-life in scored windows). */
const halfLife = 10;
const decay = 0.5 ** (1 / halfLife);

interface Pending {
  targetStartMs: number;
  scope: ModelScope | null;
  version: string;
  values: Float64Array;
  persistence: number;
}

interface Rolling {
  version: string;
  model: number;
  persistence: number;
  weight: number;
  scored: number;
  /** Event time since when the model has been worse, or null. */
  worseSinceMs: number | null;
}

export interface Demotion {
  scope: ModelScope;
  version: string;
  liveMae: number;
  persistenceMae: number;
  windows: number;
  forMs: number;
}

/**
 * @example
 * const live = new LiveError({ demoteAfterMs: 600_000, registry });
 * for (const d of live.observe(windows, forecasts)) await demote(d);
 */
export class LiveError {
  private readonly pending = new Map<number, Pending>();
  private readonly rolling = new Map<string, Rolling>();
  /** Scope and version pairs demoted (bounded by the versions ever served). */
  private readonly demoted = new Set<string>();
  private readonly demoteAfterMs: number;
  private readonly minWindows: number;
  private readonly gauge: Gauge<"scope" | "forecast"> | undefined;

  constructor(options: { demoteAfterMs: number; minWindows?: number; registry?: Registry }) {
    this.demoteAfterMs = options.demoteAfterMs;
    this.minWindows = options.minWindows ?? 5;
    const existing = options.registry?.getSingleMetric("forecaster_live_mae_watts");
    this.gauge = options.registry
      ? ((existing as Gauge<"scope" | "forecast"> | undefined) ??
        new Gauge({
          name: "forecaster_live_mae_watts",
          help: "Rolling MAE of served forecasts against the actuals that followed, per serving scope; forecast=served|persistence",
          labelNames: ["scope", "forecast"],
          registers: [options.registry],
        }))
      : undefined;
  }

  /**
   * Scores the forecasts made from each window's predecessor against it, remembers this batch's forecasts,
   * and returns the scopes to demote now.
   */
  observe(windows: readonly WindowRecord[], forecasts: readonly WindowForecast[]): Demotion[] {
    const demote: Demotion[] = [];
    for (const w of windows) {
      const p = this.pending.get(w.sensorId);
      if (!p || p.targetStartMs !== w.windowStartMs || p.scope === null) continue;
      let model = 0;
      let persistence = 0;
      let n = 0;
      for (let i = 0; i < w.slots.length && i < p.values.length; i++) {
        if (w.imputed[i]) continue;
        model += Math.abs(p.values[i]! - w.slots[i]!);
        persistence += Math.abs(p.persistence - w.slots[i]!);
        n++;
      }
      if (n === 0) continue;
      const key = String(p.scope);
      // Forecasts the demoted version made before persistence took over are still scored here otherwise,
      // and would export its error again for a scope it no longer serves.
      const demotedKey = `${key}\u0000${p.version}`;
      if (this.demoted.has(demotedKey)) continue;
      let r = this.rolling.get(key);
      if (!r || r.version !== p.version) {
        r = { version: p.version, model: 0, persistence: 0, weight: 0, scored: 0, worseSinceMs: null };
        this.rolling.set(key, r);
      }
      r.model = r.model * decay + model / n;
      r.persistence = r.persistence * decay + persistence / n;
      r.weight = r.weight * decay + 1;
      r.scored++;
      const liveMae = r.model / r.weight;
      const persistenceMae = r.persistence / r.weight;
      this.gauge?.set({ scope: key, forecast: "served" }, liveMae);
      this.gauge?.set({ scope: key, forecast: "persistence" }, persistenceMae);
      const eventMs = w.windowEndMs;
      if (liveMae > persistenceMae && r.scored >= this.minWindows) {
        r.worseSinceMs ??= eventMs;
        const forMs = eventMs - r.worseSinceMs;
        if (this.demoteAfterMs > 0 && forMs >= this.demoteAfterMs) {
          demote.push({
            scope: p.scope,
            version: p.version,
            liveMae,
            persistenceMae,
            windows: r.scored,
            forMs,
          });
          this.rolling.delete(key);
          this.demoted.add(demotedKey);
          // Persistence serves the scope now: a stale "served" error would keep the alert on it firing.
          this.gauge?.remove({ scope: key, forecast: "served" });
          this.gauge?.remove({ scope: key, forecast: "persistence" });
        }
      } else {
        r.worseSinceMs = null;
      }
    }
    for (const f of forecasts) {
      // Only models are watched: a baseline serving is what demotion falls back to.
      const scope = f.served === "lstm" ? (f.kind === "sensor" ? f.window.sensorId : "shared") : null;
      this.pending.set(f.window.sensorId, {
        targetStartMs: f.window.windowEndMs,
        scope,
        version: f.version,
        values: Float64Array.from(f.values),
        persistence: lastMeasuredValue(f.window),
      });
    }
    return demote;
  }
}
