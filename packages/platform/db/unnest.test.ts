import { expect, test } from "bun:test";
import { actuals, deadLetters, windows } from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import { makePgArray, PgDialect } from "drizzle-orm/pg-core";
import fc from "fast-check";
import { pgArrayLiteral, unnestRows } from "./unnest.ts";

const dialect = new PgDialect();

test("one array parameter per column, whatever the number of rows", () => {
  const rows = Array.from({ length: 3 }, (_, i) => ({
    sensorId: i,
    ts: new Date(1_700_000_000_123 + i),
    value: i / 2,
    imputed: i === 1,
  }));
  const query = dialect.sqlToQuery(unnestRows(actuals, rows));
  expect(query.params).toEqual([
    "{0,1,2}",
    "{1700000000123,1700000000124,1700000000125}",
    "{0,0.5,1}",
    "{false,true,false}",
  ]);
  expect(query.sql).toContain("to_timestamp(");
});

const oneWindow = {
  sensorId: 1,
  windowStart: new Date(0),
  windowEnd: new Date(60_000),
  count: 1,
  sum: 1,
  mean: 1,
  min: 1,
  max: 1,
  firstEvent: new Date(0),
  lastEvent: new Date(0),
  slots: [1, 2.5],
  imputed: [true, false],
  imputedCount: 1,
  emittedAt: new Date(61_000),
};

test("a column no row gives selects its SQL default; a 2-D value travels as text cast back per row", () => {
  const { sql, params } = dialect.sqlToQuery(unnestRows(windows, [oneWindow]));
  expect(sql).toContain("now()");
  expect(sql).toContain("::double precision[]");
  // stored_at has no parameter; duplicates (the 14th) takes its literal default 0.
  expect(params).toHaveLength(15);
  expect(params[10]).toBe('{"{1,2.5}"}');
  expect(params[13]).toBe("{0}");
});

test("a table with a column unnest cannot carry is refused, naming the column", () => {
  expect(() => unnestRows(deadLetters, [])).toThrow(PipelineError);
  expect(() => unnestRows(deadLetters, [])).toThrow(/dead_letters\.id \(bigserial\)/);
});

test("the array literal is drizzle's makePgArray byte for byte, quotes, backslashes and nesting included", () => {
  const scalar = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.constantFrom('"', "\\", '\\"', 'a"b\\c', "", "NULL", "{,}"),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const items = fc.array(fc.oneof(scalar, fc.array(scalar, { maxLength: 5 })), { maxLength: 20 });
  fc.assert(
    fc.property(items, (xs) => {
      expect(pgArrayLiteral(xs)).toBe(makePgArray(xs as never));
    }),
    { numRuns: 2_000 },
  );
});

test("a window's slots and imputed flags become the literal drizzle's own array columns would make", () => {
  const values = fc.oneof(
    fc.array(fc.double(), { maxLength: 70 }),
    fc.array(fc.boolean(), { maxLength: 70 }),
    fc.array(fc.oneof(fc.double(), fc.constant(null)), { maxLength: 5 }),
  );
  fc.assert(
    fc.property(values, (slots) => {
      for (const column of [windows.slots, windows.imputed]) {
        const { params } = dialect.sqlToQuery(
          unnestRows(windows, [{ ...oneWindow, [column === windows.slots ? "slots" : "imputed"]: slots }]),
        );
        expect(params).toContain(makePgArray([column.mapToDriverValue(slots)]));
      }
    }),
    { numRuns: 500 },
  );
});
