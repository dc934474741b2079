/**
 * Writes the core's output to PostgreSQL. Upserts keyed by (sensor, window start) make every write
 * idempotent, so a replay after a crash or a late update never duplicates a row.
 */

import { deadLetters, windows } from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import { type DeadLetter, type WindowRecord, windowFields } from "@energy/contracts/records.ts";
import { count, getTableColumns, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { pgText, type RefusedRow, writeIsolating } from "./isolate.ts";
import { excludedSet, unnestRows } from "./unnest.ts";

type WindowInsert = typeof windows.$inferInsert;

// Windows go as unnest arrays (packages/platform/db/unnest.ts), so no parameter limit applies; this bounds one
// statement's size (~1 KB of slot text a row), and with it the memory a write takes at once: a statement's
// array literals, their escaped copies and postgres.js's query buffer all live until it is sent. A scratch
// script saving 3 × 10,000 windows (a minute of 10,000 sensors each) peaked at 265 MB RSS with 5,000 rows a
// statement, 202 MB with 1,000 and 176 MB with 500 (118 MB making the windows without saving them), in the
// same time within noise; the core's RSS peaked at each minute's emission (bench ab, issue 15).
// Dead letters are bound per column per row: PostgreSQL caps a statement at 65,535 parameters and a letter uses 5.
const windowsPerStatement = 500;
const lettersPerStatement = 2_000;

/**
 * [window field, row key, whether epoch ms becomes a Date] for every field the table keeps, found by column
 * name: the row follows `windowFields` (packages/contracts/records.ts), and a stored field without its column fails here,
 * at load, rather than on the first write.
 */
const storedFields = (() => {
  const byName = new Map(Object.entries(getTableColumns(windows)).map(([key, c]) => [c.name, key]));
  return Object.entries(windowFields).flatMap(([field, { name, column }]) => {
    if (column === null) return [];
    const key = byName.get(name);
    if (key === undefined) {
      throw new PipelineError("internal", `window field ${field} has no column "${name}" in windows`);
    }
    return [[field as keyof WindowRecord, key, column.startsWith("timestamp")] as const];
  });
})();

/** The table row of a window: its stored fields, plus the count of imputed slots the dashboards filter on. */
export function toWindowRow(w: WindowRecord): WindowInsert {
  const row: Record<string, unknown> = {};
  for (const [field, key, isTime] of storedFields)
    row[key] = isTime ? new Date(w[field] as number) : w[field];
  row.imputedCount = w.imputed.reduce((n, x) => n + (x ? 1 : 0), 0);
  return row as WindowInsert;
}

/**
 * On conflict every non-key column takes the newly emitted value, derived from the schema so a column added
 * later cannot be forgotten here; `stored_at` records when that happened.
 */
const upsertSet = { ...excludedSet(windows, ["sensorId", "windowStart", "storedAt"]), storedAt: sql`now()` };

/**
 * Upserts windows; a new emission of a window replaces the stored one unless it holds fewer readings. A
 * replay after a crash can rebuild a window from part of its readings (Pulsar acks are batched, so some of
 * them may already be acknowledged); that partial row must not overwrite the complete one.
 *
 * Rows PostgreSQL refuses (a data error such as a sensor id beyond the integer column) are returned with
 * its reason and every other row is stored; a connection error throws (packages/platform/db/isolate.ts).
 */
export async function saveWindows(
  db: Db,
  records: readonly WindowRecord[],
): Promise<RefusedRow<WindowRecord>[]> {
  const refused: RefusedRow<WindowRecord>[] = [];
  records = lastEmissions(records);
  for (let i = 0; i < records.length; i += windowsPerStatement) {
    const part = await writeIsolating(records.slice(i, i + windowsPerStatement), async (slice) => {
      await db
        .insert(windows)
        .select(unnestRows(windows, slice.map(toWindowRow)))
        .onConflictDoUpdate({
          target: [windows.sensorId, windows.windowStart],
          set: upsertSet,
          setWhere: sql`excluded."count" >= ${windows.count}`,
        });
    });
    refused.push(...part);
  }
  return refused;
}

/**
 * One record per (sensor, window start), chosen by the upsert's own rule (a later emission wins unless it
 * holds fewer readings). A window is emitted again when it changes (core/window.ts), so a batch of the
 * windows log can hold it twice, and PostgreSQL refuses an INSERT … ON CONFLICT that touches a row twice.
 */
function lastEmissions(records: readonly WindowRecord[]): readonly WindowRecord[] {
  const byKey = new Map<string, WindowRecord>();
  for (const r of records) {
    const key = `${r.sensorId}/${r.windowStartMs}`;
    const before = byKey.get(key);
    if (before === undefined || r.count >= before.count) byKey.set(key, r);
  }
  return byKey.size === records.length ? records : [...byKey.values()];
}

/** The table row of a dead letter, its text made safe for PostgreSQL and bounded. */
export function toDeadLetterRow(d: DeadLetter): typeof deadLetters.$inferInsert {
  return {
    source: pgText(d.source.slice(0, 1000)),
    reason: pgText(d.reason),
    detail: pgText(d.detail.slice(0, 1000)),
    raw: d.raw,
    receivedAt: new Date(d.receivedAtMs),
  };
}

/** Dead letters (rows: `toDeadLetterRow`); refused rows are returned as for windows. */
export async function saveDeadLetters(
  db: Db,
  letters: readonly DeadLetter[],
): Promise<RefusedRow<DeadLetter>[]> {
  const refused: RefusedRow<DeadLetter>[] = [];
  for (let i = 0; i < letters.length; i += lettersPerStatement) {
    const part = await writeIsolating(letters.slice(i, i + lettersPerStatement), async (slice) => {
      await db.insert(deadLetters).values(slice.map(toDeadLetterRow));
    });
    refused.push(...part);
  }
  return refused;
}

/** Windows stored per sensor, for summaries and tests. */
export async function windowCountsBySensor(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .select({ sensorId: windows.sensorId, n: count() })
    .from(windows)
    .groupBy(windows.sensorId);
  return new Map(rows.map((r) => [r.sensorId, Number(r.n)]));
}
