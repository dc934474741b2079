/**
 * What the web page shows, read from PostgreSQL (PGlite or a server, through the product's drizzle client):
 * table totals, per-sensor series of actuals and forecasts (with the forecast band when the forecasts table
 * has the interval columns), the latest windows and the dead letters by reason. Times leave as epoch ms and
 * counts as JSON numbers, so the page and the tests see the same values on both drivers.
 */
import { sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";

/** The optional columns of `forecasts` the page uses when a migration has added them. */
export const bandColumns = ["value_p10", "value_p90", "model_kind"] as const;
export type BandColumn = (typeof bandColumns)[number];

export interface Totals {
  windows: number;
  actuals: number;
  forecasts: number;
  deadLetters: number;
  sensors: number;
}

export interface SensorSummary {
  sensorId: number;
  windows: number;
  /** End of the newest stored window (event time), epoch ms. */
  lastWindowEnd: number;
  /** Mean of the newest stored window. */
  lastMean: number;
}

export interface SensorSeries {
  sensorId: number;
  /** [epoch ms, value] of measured or imputed seconds, oldest first. */
  actual: { ts: number[]; value: number[]; imputed: boolean[] };
  /** The newest forecast of each target second (the latest made wins when versions overlap). */
  forecast: {
    ts: number[];
    value: number[];
    /** Present only when the table has the interval columns; null where a row has none. */
    p10?: (number | null)[];
    p90?: (number | null)[];
    modelVersion: string[];
    modelKind?: (string | null)[];
  };
}

export interface WindowSummary {
  sensorId: number;
  windowStart: number;
  count: number;
  mean: number;
  min: number;
  max: number;
  imputedCount: number;
  duplicates: number;
  storedAt: number;
}

type Row = Record<string, unknown>;

/** drizzle's execute answers an array on postgres.js and `{ rows }` on PGlite. */
function rowsOf(result: unknown): Row[] {
  if (Array.isArray(result)) return result as Row[];
  return ((result as { rows?: Row[] }).rows ?? []) as Row[];
}

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Which of {@link bandColumns} the forecasts table has now (a migration may add them while running). */
export async function forecastBandColumns(db: Db): Promise<Set<BandColumn>> {
  const rows = rowsOf(
    await db.execute(sql`
      select column_name from information_schema.columns
      where table_schema = current_schema() and table_name = 'forecasts'`),
  );
  const have = new Set(rows.map((r) => String(r.column_name)));
  return new Set(bandColumns.filter((c) => have.has(c)));
}

export async function readTotals(db: Db): Promise<Totals> {
  const [row] = rowsOf(
    await db.execute(sql`
      select (select count(*) from windows)::float8 as windows,
             (select count(*) from actuals)::float8 as actuals,
             (select count(*) from forecasts)::float8 as forecasts,
             (select count(*) from dead_letters)::float8 as dead_letters,
             (select count(distinct sensor_id) from windows)::float8 as sensors`),
  );
  return {
    windows: num(row?.windows),
    actuals: num(row?.actuals),
    forecasts: num(row?.forecasts),
    deadLetters: num(row?.dead_letters),
    sensors: num(row?.sensors),
  };
}

export async function readDeadLettersByReason(db: Db): Promise<Record<string, number>> {
  const rows = rowsOf(
    await db.execute(
      sql`select reason, count(*)::float8 as n from dead_letters group by reason order by reason`,
    ),
  );
  return Object.fromEntries(rows.map((r) => [String(r.reason), num(r.n)]));
}

/** Every sensor with stored windows, by id, with its newest window (the page's sensor list). */
export async function readSensors(db: Db): Promise<SensorSummary[]> {
  const rows = rowsOf(
    await db.execute(sql`
      select distinct on (sensor_id) sensor_id, mean,
             extract(epoch from window_end) * 1000 as last_end,
             count(*) over (partition by sensor_id)::float8 as windows
      from windows order by sensor_id, window_start desc`),
  );
  return rows.map((r) => ({
    sensorId: num(r.sensor_id),
    windows: num(r.windows),
    lastWindowEnd: num(r.last_end),
    lastMean: num(r.mean),
  }));
}

/**
 * The last `minutes` of a sensor in event time, ending at its newest actual (a replay's clock is not the
 * wall clock), and every forecast from that start on (they reach one minute past the newest actual).
 */
export async function readSeries(
  db: Db,
  sensorId: number,
  minutes: number,
  band: ReadonlySet<BandColumn>,
): Promise<SensorSeries> {
  const [last] = rowsOf(
    await db.execute(
      sql`select extract(epoch from max(ts)) * 1000 as ts from actuals where sensor_id = ${sensorId}`,
    ),
  );
  const series: SensorSeries = {
    sensorId,
    actual: { ts: [], value: [], imputed: [] },
    forecast: { ts: [], value: [], modelVersion: [] },
  };
  const hasBand = band.has("value_p10") && band.has("value_p90");
  if (hasBand) {
    series.forecast.p10 = [];
    series.forecast.p90 = [];
  }
  if (band.has("model_kind")) series.forecast.modelKind = [];
  if (last?.ts === null || last?.ts === undefined) return series;
  const from = new Date(num(last.ts) - minutes * 60_000);
  const actual = rowsOf(
    await db.execute(sql`
      select extract(epoch from ts) * 1000 as ts, value, imputed from actuals
      where sensor_id = ${sensorId} and ts > ${from.toISOString()}::timestamptz order by ts`),
  );
  for (const r of actual) {
    series.actual.ts.push(num(r.ts));
    series.actual.value.push(num(r.value));
    series.actual.imputed.push(r.imputed === true || r.imputed === "t");
  }
  // Column names are fixed strings from bandColumns, never user input.
  const extra = [
    ...(hasBand ? ["value_p10", "value_p90"] : []),
    ...(band.has("model_kind") ? ["model_kind"] : []),
  ];
  const extraSql = extra.length > 0 ? sql.raw(`, ${extra.join(", ")}`) : sql.raw("");
  const forecast = rowsOf(
    await db.execute(sql`
      select distinct on (target_ts) extract(epoch from target_ts) * 1000 as ts, value, model_version${extraSql}
      from forecasts where sensor_id = ${sensorId} and target_ts > ${from.toISOString()}::timestamptz
      order by target_ts, made_at desc`),
  );
  for (const r of forecast) {
    series.forecast.ts.push(num(r.ts));
    series.forecast.value.push(num(r.value));
    series.forecast.modelVersion.push(String(r.model_version));
    series.forecast.p10?.push(numOrNull(r.value_p10));
    series.forecast.p90?.push(numOrNull(r.value_p90));
    series.forecast.modelKind?.push(r.model_kind === null ? null : String(r.model_kind));
  }
  return series;
}

/** The newest windows by event time (the index on window_start keeps this cheap on a large table). */
export async function readLatestWindows(db: Db, limit: number): Promise<WindowSummary[]> {
  const rows = rowsOf(
    await db.execute(sql`
      select sensor_id, extract(epoch from window_start) * 1000 as window_start, count, mean, min, max,
             imputed_count, duplicates, extract(epoch from stored_at) * 1000 as stored_at
      from windows order by window_start desc, sensor_id limit ${limit}`),
  );
  return rows.map((r) => ({
    sensorId: num(r.sensor_id),
    windowStart: num(r.window_start),
    count: num(r.count),
    mean: num(r.mean),
    min: num(r.min),
    max: num(r.max),
    imputedCount: num(r.imputed_count),
    duplicates: num(r.duplicates),
    storedAt: num(r.stored_at),
  }));
}

/** Forecast rows made since `since` (made_at is the writing process's clock), per model version. */
export async function readForecastsMadeSince(db: Db, since: Date): Promise<Record<string, number>> {
  const rows = rowsOf(
    await db.execute(sql`
      select model_version, count(*)::float8 as n from forecasts
      where made_at >= ${since.toISOString()}::timestamptz group by model_version order by model_version`),
  );
  return Object.fromEntries(rows.map((r) => [String(r.model_version), num(r.n)]));
}
