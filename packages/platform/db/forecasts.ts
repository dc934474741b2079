/**
 * The forecaster's tables: per-second actuals and forecasts. Upserts keyed by the tables' primary keys make a
 * redelivered window idempotent: its actuals and forecasts are overwritten, not duplicated. Rows go as
 * `unnest` arrays (packages/platform/db/unnest.ts): at 10,000 sensors the forecaster writes 120 rows per window.
 */

import { actuals, forecasts } from "@energy/contracts/db/schema.ts";
import { count } from "drizzle-orm";
import type { Db } from "./client.ts";
import { excludedSet, lastPerKey, unnestRows } from "./unnest.ts";

export type ActualInsert = typeof actuals.$inferInsert;
export type ForecastInsert = typeof forecasts.$inferInsert;

// Bounds one statement's array parameters (a few MB of text); unnest has no parameter limit.
const rowsPerStatement = 50_000;

/** Upserts actuals; a re-emitted window's values and flags win. Returns the rows written. */
export async function saveActuals(db: Db, rows: readonly ActualInsert[]): Promise<number> {
  const unique = lastPerKey(rows, (r) => `${r.sensorId}/${r.ts.getTime()}`);
  for (let i = 0; i < unique.length; i += rowsPerStatement) {
    await db
      .insert(actuals)
      .select(unnestRows(actuals, unique.slice(i, i + rowsPerStatement)))
      .onConflictDoUpdate({
        target: [actuals.sensorId, actuals.ts],
        set: excludedSet(actuals, ["sensorId", "ts"]),
      });
  }
  return unique.length;
}

/** Upserts forecasts; a replay of the same version from the same window overwrites its values. */
export async function saveForecasts(db: Db, rows: readonly ForecastInsert[]): Promise<number> {
  const unique = lastPerKey(rows, (r) => `${r.sensorId}/${r.targetTs.getTime()}/${r.modelVersion}`);
  for (let i = 0; i < unique.length; i += rowsPerStatement) {
    await db
      .insert(forecasts)
      .select(unnestRows(forecasts, unique.slice(i, i + rowsPerStatement)))
      .onConflictDoUpdate({
        target: [forecasts.sensorId, forecasts.targetTs, forecasts.modelVersion],
        set: excludedSet(forecasts, ["sensorId", "targetTs", "modelVersion"]),
      });
  }
  return unique.length;
}

/** Row counts for summaries: actuals, forecasts, and forecasts per model version. */
export async function forecastSummary(
  db: Db,
): Promise<{ actuals: number; forecasts: number; byVersion: Record<string, number> }> {
  const [a] = await db.select({ n: count() }).from(actuals);
  const versions = await db
    .select({ version: forecasts.modelVersion, n: count() })
    .from(forecasts)
    .groupBy(forecasts.modelVersion);
  const byVersion = Object.fromEntries(versions.map((v) => [v.version, Number(v.n)]));
  return {
    actuals: Number(a?.n ?? 0),
    forecasts: Object.values(byVersion).reduce((s, n) => s + n, 0),
    byVersion,
  };
}
