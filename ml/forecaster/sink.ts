/**
 * PostgreSQL writes of the forecaster (drizzle; the same code on PGlite and a server). Upserts keyed by the
 * tables' primary keys make a redelivered window idempotent: its actuals and forecasts are overwritten, not
 * duplicated.
 */
import { count, sql } from "drizzle-orm";
import type { Db } from "../../lib/db/client.ts";
import { actuals, forecasts } from "../../lib/db/schema.ts";
import type { ActualInsert, ForecastInsert } from "./rows.ts";

// Rows go to PostgreSQL as a handful of array parameters expanded by unnest(), not as one bound parameter
// per column per row: at 10,000 sensors the forecaster writes 120 rows per window, and building drizzle's
// per-row parameter lists cost ~30 µs of CPU per row on the core's thread (measured with bench ab).
// Arrays are passed as PostgreSQL array literals (text), which both postgres.js and PGlite bind alike.
const rowsPerStatement = 50_000;

const intArray = (xs: readonly number[]) => `{${xs.join(",")}}`;
/** Values as `float8[]`; they come from windows and finite model outputs (NaN would be spelled NaN). */
const floatArray = (xs: readonly number[]) => `{${xs.join(",")}}`;
const nullableFloatArray = (xs: ReadonlyArray<number | null | undefined>) =>
  `{${xs.map((x) => (x === null || x === undefined ? "NULL" : String(x))).join(",")}}`;
const boolArray = (xs: readonly boolean[]) => `{${xs.map((x) => (x ? "t" : "f")).join(",")}}`;
const textArray = (xs: readonly string[]) => `{${xs.map((x) => JSON.stringify(x)).join(",")}}`;

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
  for (let i = 0; i < unique.length; i += rowsPerStatement) {
    const part = unique.slice(i, i + rowsPerStatement);
    await db.execute(sql`
      insert into ${actuals} (sensor_id, ts, value, imputed)
      select s, to_timestamp(t / 1000.0), v, m
      from unnest(${intArray(part.map((r) => r.sensorId))}::int[], ${floatArray(part.map((r) => r.ts.getTime()))}::float8[],
                  ${floatArray(part.map((r) => r.value))}::float8[], ${boolArray(part.map((r) => r.imputed))}::bool[])
        as u(s, t, v, m)
      on conflict (sensor_id, ts) do update set value = excluded.value, imputed = excluded.imputed`);
  }
  return unique.length;
}

/** Upserts forecasts; a replay of the same version from the same window overwrites its values. */
export async function saveForecasts(db: Db, rows: readonly ForecastInsert[]): Promise<number> {
  const unique = lastPerKey(rows, (r) => `${r.sensorId}/${r.targetTs.getTime()}/${r.modelVersion}`);
  for (let i = 0; i < unique.length; i += rowsPerStatement) {
    const part = unique.slice(i, i + rowsPerStatement);
    await db.execute(sql`
      insert into ${forecasts} (sensor_id, target_ts, model_version, value, value_p10, value_p90, model_kind, origin_ts, made_at)
      select s, to_timestamp(t / 1000.0), v, x, lo, hi, k, to_timestamp(o / 1000.0), to_timestamp(m / 1000.0)
      from unnest(${intArray(part.map((r) => r.sensorId))}::int[], ${floatArray(part.map((r) => r.targetTs.getTime()))}::float8[],
                  ${textArray(part.map((r) => r.modelVersion))}::text[], ${floatArray(part.map((r) => r.value))}::float8[],
                  ${nullableFloatArray(part.map((r) => r.valueP10))}::float8[], ${nullableFloatArray(part.map((r) => r.valueP90))}::float8[],
                  ${textArray(part.map((r) => r.modelKind ?? "lstm"))}::text[],
                  ${floatArray(part.map((r) => r.originTs.getTime()))}::float8[], ${floatArray(part.map((r) => r.madeAt.getTime()))}::float8[])
        as u(s, t, v, x, lo, hi, k, o, m)
      on conflict (sensor_id, target_ts, model_version)
      do update set value = excluded.value, value_p10 = excluded.value_p10, value_p90 = excluded.value_p90,
        model_kind = excluded.model_kind, origin_ts = excluded.origin_ts, made_at = excluded.made_at`);
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
