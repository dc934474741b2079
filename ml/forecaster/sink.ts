/**
 * PostgreSQL writes of the forecaster (drizzle; the same code on PGlite and a server). Upserts keyed by the
 * tables' primary keys make a redelivered window idempotent: its actuals and forecasts are overwritten, not
 * duplicated.
 */
import { count, sql } from "drizzle-orm";
import type { Db } from "../../lib/db/client.ts";
import { actuals, forecasts } from "../../lib/db/schema.ts";
import type { ActualInsert, ForecastInsert } from "./rows.ts";

// PostgreSQL caps a statement at 65,535 parameters: actuals use 4 per row, forecasts 6.
const actualsPerStatement = 10_000;
const forecastsPerStatement = 8_000;

/**
 * Keeps the last row per key. One INSERT … ON CONFLICT DO UPDATE may not touch the same row twice
 * (PostgreSQL: "command cannot affect row a second time"), which a batch holding a window and its
 * re-emission would otherwise do.
 */
function lastPerKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return byKey.size === rows.length ? (rows as T[]) : [...byKey.values()];
}

/** Upserts actuals; a re-emitted window's values and flags win. Returns the rows written. */
export async function saveActuals(db: Db, rows: readonly ActualInsert[]): Promise<number> {
  const unique = lastPerKey(rows, (r) => `${r.sensorId}/${r.ts.getTime()}`);
  for (let i = 0; i < unique.length; i += actualsPerStatement) {
    await db
      .insert(actuals)
      .values(unique.slice(i, i + actualsPerStatement))
      .onConflictDoUpdate({
        target: [actuals.sensorId, actuals.ts],
        set: { value: sql.raw(`excluded."value"`), imputed: sql.raw(`excluded."imputed"`) },
      });
  }
  return unique.length;
}

/** Upserts forecasts; a replay of the same version from the same window overwrites its values. */
export async function saveForecasts(db: Db, rows: readonly ForecastInsert[]): Promise<number> {
  const unique = lastPerKey(rows, (r) => `${r.sensorId}/${r.targetTs.getTime()}/${r.modelVersion}`);
  for (let i = 0; i < unique.length; i += forecastsPerStatement) {
    await db
      .insert(forecasts)
      .values(unique.slice(i, i + forecastsPerStatement))
      .onConflictDoUpdate({
        target: [forecasts.sensorId, forecasts.targetTs, forecasts.modelVersion],
        set: {
          value: sql.raw(`excluded."value"`),
          originTs: sql.raw(`excluded."origin_ts"`),
          madeAt: sql.raw(`excluded."made_at"`),
        },
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
