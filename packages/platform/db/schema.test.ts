/**
 * The tables against the records they store. `windowFields` (packages/contracts/records.ts) is the one definition of a
 * window; the drizzle table cannot be derived from it readably, so its columns are checked here instead.
 */
import { describe, expect, test } from "bun:test";
import { deadLetters, windows } from "@energy/contracts/db/schema.ts";
import { type DeadLetter, type WindowRecord, windowFields } from "@energy/contracts/records.ts";
import { getTableColumns } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { toDeadLetterRow, toWindowRow } from "./store.ts";

/** name → [SQL type, not null] of every column. */
function columnsOf(table: PgTable): Map<string, [string, boolean]> {
  return new Map(Object.values(getTableColumns(table)).map((c) => [c.name, [c.getSQLType(), c.notNull]]));
}

const sample: WindowRecord = {
  sensorId: 7,
  windowStartMs: 1_700_000_040_000,
  windowEndMs: 1_700_000_100_000,
  count: 3,
  sum: 6,
  mean: 2,
  min: 1,
  max: 3,
  firstEventMs: 1_700_000_041_000,
  lastEventMs: 1_700_000_099_000,
  slots: [1, 2, 3],
  imputed: [false, true, true],
  duplicates: 1,
  maxCreatedAtMs: 1_700_000_100_500,
  emittedAtMs: 1_700_000_101_000,
};

describe("windows table against windowFields", () => {
  /** Columns the table adds to a window's fields: derived on write, and set by the database. */
  const tableOnly = { imputed_count: ["integer", true], stored_at: ["timestamp with time zone", true] };

  test("every stored field has a not-null column of its declared type, and the table has no other", () => {
    const stored = Object.values(windowFields).flatMap((f) =>
      f.column === null ? [] : [[f.name, [f.column, true]]],
    );
    expect(Object.fromEntries(columnsOf(windows))).toEqual({ ...Object.fromEntries(stored), ...tableOnly });
  });

  test("a field declared unstored has no column", () => {
    const unstored = Object.values(windowFields).filter((f) => f.column === null);
    expect(unstored.map((f) => f.name)).toEqual(["max_created_at"]);
    for (const f of unstored) expect(columnsOf(windows).has(f.name)).toBe(false);
  });

  test("toWindowRow fills every column but stored_at, times as Dates, from the field of the same name", () => {
    const row = toWindowRow(sample) as Record<string, unknown>;
    const byName = Object.fromEntries(
      Object.entries(getTableColumns(windows)).map(([key, c]) => [c.name, row[key]]),
    );
    const expected: Record<string, unknown> = { imputed_count: 2, stored_at: undefined };
    for (const [key, f] of Object.entries(windowFields)) {
      if (f.column === null) continue;
      const value = sample[key as keyof WindowRecord];
      expected[f.name] = f.column.startsWith("timestamp") ? new Date(value as number) : value;
    }
    expect(byName).toEqual(expected);
  });
});

describe("dead_letters table against DeadLetter", () => {
  test("every DeadLetter field has its column, and every column but the id holds one", () => {
    // Typed as DeadLetter: a field added to the record fails to compile here until the sample has it, and
    // then fails the count below until toDeadLetterRow and the table carry it.
    const letter: DeadLetter = {
      source: "sensors/7/reading",
      reason: "not_json",
      detail: "Unexpected token",
      raw: new Uint8Array([1, 2]),
      receivedAtMs: 1_700_000_000_000,
    };
    const row = toDeadLetterRow(letter);
    expect(Object.keys(row)).toHaveLength(Object.keys(letter).length);
    const insertable = Object.keys(getTableColumns(deadLetters)).filter((key) => key !== "id");
    expect(Object.keys(row).sort()).toEqual(insertable.sort());
    expect(row).toEqual({
      source: letter.source,
      reason: letter.reason,
      detail: letter.detail,
      raw: letter.raw,
      receivedAt: new Date(letter.receivedAtMs),
    });
  });
});
