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
  pgTable,
  primaryKey,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** One row per closed event-time window (primary key sensor + window start: replays upsert, never duplicate). */
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

export type WindowRow = typeof windows.$inferSelect;
export type DeadLetterRow = typeof deadLetters.$inferSelect;
