import { expect, test } from "bun:test";
import { actuals, deadLetters, windows } from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import { makePgArray, PgDialect } from "drizzle-orm/pg-core";
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

test("a column no row gives selects its SQL default; a 2-D value travels as text cast back per row", () => {
  const { sql, params } = dialect.sqlToQuery(
    unnestRows(windows, [
      {
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
      },
    ]),
  );
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

test("array literals are drizzle's, with or without the fast path for numbers and booleans", () => {
  const cases: unknown[][] = [
    [],
    [1, 2.5, -0, 1e21, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, -1.7976931348623157e308],
    [true, false, true],
    [1, null, 2],
    ["a", 'b"c', "d\\e"],
    [1, "x", false],
  ];
  for (const elements of cases) expect(pgArrayLiteral(elements)).toBe(makePgArray(elements));
});
