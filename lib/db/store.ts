/**
 * Writes the core's output to PostgreSQL. Upserts keyed by (sensor, window start) make every write
 * idempotent, so a replay after a crash or a late update never duplicates a row.
 */
import { count, getTableColumns, sql } from "drizzle-orm";
import type { DeadLetter, WindowRecord } from "../records.ts";
import type { Db } from "./client.ts";
import { deadLetters, windows } from "./schema.ts";

// PostgreSQL caps a statement at 65,535 parameters; a window row uses 15.
const rowsPerStatement = 2_000;

export function toWindowRow(w: WindowRecord): typeof windows.$inferInsert {
  return {
    sensorId: w.sensorId,
    windowStart: new Date(w.windowStartMs),
    windowEnd: new Date(w.windowEndMs),
    count: w.count,
    sum: w.sum,
    mean: w.mean,
    min: w.min,
    max: w.max,
    firstEvent: new Date(w.firstEventMs),
    lastEvent: new Date(w.lastEventMs),
    slots: w.slots,
    imputed: w.imputed,
    imputedCount: w.imputed.reduce((n, x) => n + (x ? 1 : 0), 0),
    duplicates: w.duplicates,
    emittedAt: new Date(w.emittedAtMs),
  };
}

/**
 * On conflict every non-key column takes the newly emitted value, derived from the schema so a column added
 * later cannot be forgotten here; `stored_at` records when that happened.
 */
const upsertSet = {
  ...Object.fromEntries(
    Object.entries(getTableColumns(windows))
      .filter(([key]) => key !== "sensorId" && key !== "windowStart" && key !== "storedAt")
      .map(([key, column]) => [key, sql.raw(`excluded."${column.name}"`)]),
  ),
  storedAt: sql`now()`,
};

/**
 * Upserts windows; a new emission of a window replaces the stored one unless it holds fewer readings. A
 * replay after a crash can rebuild a window from part of its readings (Pulsar acks are batched, so some of
 * them may already be acknowledged); that partial row must not overwrite the complete one.
 */
export async function saveWindows(db: Db, records: readonly WindowRecord[]): Promise<void> {
  records = lastEmissions(records);
  for (let i = 0; i < records.length; i += rowsPerStatement) {
    const rows = records.slice(i, i + rowsPerStatement).map(toWindowRow);
    await db
      .insert(windows)
      .values(rows)
      .onConflictDoUpdate({
        target: [windows.sensorId, windows.windowStart],
        set: upsertSet,
        setWhere: sql`excluded."count" >= ${windows.count}`,
      });
  }
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

export async function saveDeadLetters(db: Db, letters: readonly DeadLetter[]): Promise<void> {
  for (let i = 0; i < letters.length; i += rowsPerStatement) {
    await db.insert(deadLetters).values(
      letters.slice(i, i + rowsPerStatement).map((d) => ({
        source: d.source,
        reason: d.reason,
        detail: d.detail.slice(0, 1000),
        raw: d.raw,
        receivedAt: new Date(d.receivedAtMs),
      })),
    );
  }
}

/** Windows stored per sensor, for summaries and tests. */
export async function windowCountsBySensor(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .select({ sensorId: windows.sensorId, n: count() })
    .from(windows)
    .groupBy(windows.sensorId);
  return new Map(rows.map((r) => [r.sensorId, Number(r.n)]));
}
