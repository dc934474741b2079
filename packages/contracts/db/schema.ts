/**
 * The PostgreSQL schema, as typed data: the single source of truth for tables, row types and the
 * migrations drizzle-kit generates from it (`bun run db:generate`). The same schema runs on the embedded
 * PGlite and on a real PostgreSQL server.
 */
import { sql } from "drizzle-orm";
import {
  bigserial,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * One row per closed event-time window (primary key sensor + window start: replays upsert, never duplicate).
 * Its columns are `windowFields` (packages/contracts/records.ts) plus imputed_count and stored_at; schema.test.ts checks them.
 */
export const windows = pgTable(
  "windows",
  {
    sensorId: integer("sensor_id").notNull(),
    windowStart: ts("window_start").notNull(),
    windowEnd: ts("window_end").notNull(),
    count: integer("count").notNull(),
    sum: doublePrecision("sum").notNull(),
    mean: doublePrecision("mean").notNull(),
    min: doublePrecision("min").notNull(),
    max: doublePrecision("max").notNull(),
    firstEvent: ts("first_event").notNull(),
    lastEvent: ts("last_event").notNull(),
    /** 60 one-second values; imputed[i] tells whether slots[i] was filled with the window mean. */
    slots: doublePrecision("slots").array().notNull(),
    imputed: boolean("imputed").array().notNull(),
    imputedCount: integer("imputed_count").notNull(),
    duplicates: integer("duplicates").notNull().default(0),
    emittedAt: ts("emitted_at").notNull(),
    storedAt: ts("stored_at").notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.sensorId, t.windowStart] }), index("windows_start_idx").on(t.windowStart)],
);

/** Messages and readings the core refused, with their raw bytes and the reason: nothing is silently lost. */
export const deadLetters = pgTable(
  "dead_letters",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    source: text("source").notNull(),
    reason: text("reason").notNull(),
    detail: text("detail").notNull(),
    raw: bytea("raw").notNull(),
    receivedAt: ts("received_at").notNull(),
  },
  (t) => [index("dead_letters_reason_idx").on(t.reason)],
);

/**
 * One row per sensor-second the forecaster has seen, from the windows' 60 slots. `imputed` keeps the
 * study's gap filling (the minute's mean) distinguishable from measured values, so training can skip or
 * weight them.
 */
export const actuals = pgTable(
  "actuals",
  {
    sensorId: integer("sensor_id").notNull(),
    ts: ts("ts").notNull(),
    value: doublePrecision("value").notNull(),
    imputed: boolean("imputed").notNull(),
  },
  (t) => [primaryKey({ columns: [t.sensorId, t.ts] })],
);

/**
 * One row per forecast value: the key includes the model version, so two versions forecasting the same
 * second are both kept (for comparing them) and a replay of the same version upserts.
 */
export const forecasts = pgTable(
  "forecasts",
  {
    sensorId: integer("sensor_id").notNull(),
    targetTs: ts("target_ts").notNull(),
    modelVersion: text("model_version").notNull(),
    value: doublePrecision("value").notNull(),
    /**
     * 80 % prediction interval (conformal p10/p90 from the served model's validation residuals at this
     * horizon step); null on rows written before intervals existed.
     */
    valueP10: doublePrecision("value_p10"),
    valueP90: doublePrecision("value_p90"),
    /** What made the forecast: `lstm`, or the `persistence` / `mean` baseline serving in its place. */
    modelKind: text("model_kind").notNull().default("lstm"),
    /** Start of the window the forecast was made from (its input minute). */
    originTs: ts("origin_ts").notNull(),
    madeAt: ts("made_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.sensorId, t.targetTs, t.modelVersion] }),
    index("forecasts_made_at_idx").on(t.madeAt),
  ],
);

/**
 * The model registry: every trained version, promoted or not, with its validation metrics and, when it was
 * not promoted, why. `sensor_id` 0 is the shared fallback model.
 */
export const models = pgTable(
  "models",
  {
    sensorId: integer("sensor_id").notNull(),
    version: text("version").notNull(),
    /** Object key prefix in the model store (`{device}/{version}/`). */
    location: text("location").notNull(),
    trainedFrom: ts("trained_from"),
    trainedTo: ts("trained_to"),
    metrics: jsonb("metrics").$type<Record<string, number>>().notNull(),
    promoted: boolean("promoted").notNull().default(false),
    decision: text("decision").notNull(),
    createdAt: ts("created_at").notNull().default(sql`now()`),
    promotedAt: ts("promoted_at"),
  },
  (t) => [primaryKey({ columns: [t.sensorId, t.version] })],
);

export type WindowRow = typeof windows.$inferSelect;
export type ActualRow = typeof actuals.$inferSelect;
export type ForecastRow = typeof forecasts.$inferSelect;
export type ModelRow = typeof models.$inferSelect;
export type DeadLetterRow = typeof deadLetters.$inferSelect;
