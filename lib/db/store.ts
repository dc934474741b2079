/**
 * Writes the core's output to PostgreSQL. Upserts keyed by (sensor, window start) make every write
 * idempotent, so a replay after a crash or a late update never duplicates a row.
 */
import { count, getTableColumns, sql } from "drizzle-orm";
import type { DeadLetter, WindowRecord } from "../records.ts";
import type { Db } from "./client.ts";
import { pgText, type RefusedRow, writeIsolating } from "./isolate.ts";
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
 *
 * Rows PostgreSQL refuses (a data error such as a sensor id beyond the integer column) are returned with
 * its reason and every other row is stored; a connection error throws (lib/db/isolate.ts).
 */
export async function saveWindows(
  db: Db,
  records: readonly WindowRecord[],
): Promise<RefusedRow<WindowRecord>[]> {
  const refused: RefusedRow<WindowRecord>[] = [];
  records = lastEmissions(records);
  for (let i = 0; i < records.length; i += rowsPerStatement) {
    const part = await writeIsolating(records.slice(i, i + rowsPerStatement), async (slice) => {
      await db
        .insert(windows)
        .values(slice.map(toWindowRow))
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

/** Dead letters, their text made safe for PostgreSQL; refused rows are returned as for windows. */
export async function saveDeadLetters(
  db: Db,
  letters: readonly DeadLetter[],
): Promise<RefusedRow<DeadLetter>[]> {
  const refused: RefusedRow<DeadLetter>[] = [];
  for (let i = 0; i < letters.length; i += rowsPerStatement) {
    const part = await writeIsolating(letters.slice(i, i + rowsPerStatement), async (slice) => {
      await db.insert(deadLetters).values(
        slice.map((d) => ({
          source: pgText(d.source.slice(0, 1000)),
          reason: pgText(d.reason),
          detail: pgText(d.detail.slice(0, 1000)),
          raw: d.raw,
          receivedAt: new Date(d.receivedAtMs),
        })),
      );
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
