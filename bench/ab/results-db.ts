/**
 * Read access to one sweep point's database after its core has stopped: the embedded PGlite directory the
 * core wrote, or a throw-away database created on the DATABASE_URL server for that point (dropped after).
 * Raw SQL on purpose: the bench reads aggregates and exact per-window times, not rows for the product.
 */
import { PGlite } from "@electric-sql/pglite";
import { PipelineError } from "@energy/contracts/errors.ts";
import postgres from "postgres";

export interface ResultsDb {
  query<T>(text: string): Promise<T[]>;
  close(): Promise<void>;
}

export async function openPgliteResults(dir: string): Promise<ResultsDb> {
  const db = await PGlite.create(dir);
  return {
    query: async <T>(text: string) => (await db.query<T>(text)).rows,
    close: () => db.close(),
  };
}

export async function openPostgresResults(url: URL): Promise<ResultsDb> {
  const sql = postgres(url.href, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  return {
    query: async <T>(text: string) => (await sql.unsafe(text)) as unknown as T[],
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Database names we create are ours alone: a fixed prefix plus our pid and a counter. */
const safeName = /^bench_ab_[a-z0-9_]+$/;

/** Creates an empty database on the server of `base` and returns its URL; `drop` removes it again. */
export async function createScratchDatabase(
  base: URL,
  name: string,
): Promise<{ url: URL; drop: () => Promise<void> }> {
  if (!safeName.test(name)) throw new PipelineError("internal", `unsafe scratch database name ${name}`);
  const admin = postgres(base.href, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await admin.unsafe(`create database "${name}"`);
  } catch (cause) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new PipelineError("storage", `cannot create scratch database ${name} on ${base.host}`, {
      hint: "the DATABASE_URL user needs CREATEDB, or unset DATABASE_URL to use embedded PGlite",
      cause,
    });
  }
  const url = new URL(base.href);
  url.pathname = `/${name}`;
  return {
    url,
    drop: async () => {
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

export interface StoredCounts {
  windows: number;
  readings: number;
  duplicates: number;
  deadLetters: Record<string, number>;
}

export async function storedCounts(db: ResultsDb): Promise<StoredCounts> {
  const [row] = await db.query<{ windows: number; readings: string | number; duplicates: string | number }>(
    "select count(*)::int as windows, coalesce(sum(count), 0)::bigint as readings, coalesce(sum(duplicates), 0)::bigint as duplicates from windows",
  );
  const letters = await db.query<{ reason: string; n: number }>(
    "select reason, count(*)::int as n from dead_letters group by reason",
  );
  return {
    windows: Number(row?.windows ?? 0),
    readings: Number(row?.readings ?? 0),
    duplicates: Number(row?.duplicates ?? 0),
    deadLetters: Object.fromEntries(letters.map((l) => [l.reason, Number(l.n)])),
  };
}

/**
 * emitted_at − window_end in ms for every window ending at or before `cutoffMs` (event time): those closed
 * by the watermark or a batch's `complete` promise, not by the idle timeout at the end of the run.
 */
export async function emitDelaysMs(db: ResultsDb, cutoffMs: number): Promise<number[]> {
  const rows = await db.query<{ ms: number }>(
    `select (extract(epoch from (emitted_at - window_end)) * 1000)::float8 as ms from windows where window_end <= to_timestamp(${cutoffMs / 1000})`,
  );
  return rows.map((r) => Number(r.ms));
}

/**
 * For every full window (no imputed slot: each slot got a reading, so the windower emits it when its last
 * slot fills, without waiting for the lateness), in ms: stored_at − window_end, stored_at − its newest
 * reading's event time (the time from the reading that completed it to the row in PostgreSQL), and that
 * time split at emitted_at: reading → emitted (MQTT, the readings log, the windower) and emitted → stored
 * (the windows log and the store).
 */
export async function fullWindowStoreDelaysMs(db: ResultsDb): Promise<{
  fromWindowEnd: number[];
  fromLastReading: number[];
  lastReadingToEmitted: number[];
  emittedToStored: number[];
}> {
  const ms = (a: string, b: string) => `(extract(epoch from (${a} - ${b})) * 1000)::float8`;
  const rows = await db.query<{ end_ms: number; last_ms: number; emit_ms: number; store_ms: number }>(
    `select ${ms("stored_at", "window_end")} as end_ms, ${ms("stored_at", "last_event")} as last_ms, ${ms("emitted_at", "last_event")} as emit_ms, ${ms("stored_at", "emitted_at")} as store_ms from windows where imputed_count = 0`,
  );
  return {
    fromWindowEnd: rows.map((r) => Number(r.end_ms)),
    fromLastReading: rows.map((r) => Number(r.last_ms)),
    lastReadingToEmitted: rows.map((r) => Number(r.emit_ms)),
    emittedToStored: rows.map((r) => Number(r.store_ms)),
  };
}

/** made_at − (origin window end) in ms for forecasts made from windows ending at or before `cutoffMs`. */
export async function forecastDelaysMs(db: ResultsDb, cutoffMs: number): Promise<number[]> {
  try {
    const rows = await db.query<{ ms: number }>(
      `select (extract(epoch from (min(made_at) - (origin_ts + interval '60 seconds'))) * 1000)::float8 as ms from forecasts where origin_ts + interval '60 seconds' <= to_timestamp(${cutoffMs / 1000}) group by sensor_id, origin_ts`,
    );
    return rows.map((r) => Number(r.ms));
  } catch {
    // No forecasts table in this schema version: nothing forecast, nothing to measure.
    return [];
  }
}
