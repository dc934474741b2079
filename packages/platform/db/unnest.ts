/**
 * Bulk inserts as `insert into t (…) select … from unnest($1::integer[], $2::text[], …)`: one array
 * parameter per column instead of one bound parameter per column per row. Building drizzle's per-row
 * parameter lists cost ~30 µs of CPU per row on the writer's thread (measured with bench ab), and a
 * statement holds at most 65,535 parameters.
 *
 * Everything comes from the drizzle table: the column order (drizzle's `insert … select` names every
 * column), each column's SQL type for the casts, and each value's encoding: the column's own
 * `mapToDriverValue`, and drizzle's `makePgArray` for the array literal, the form in which drizzle binds
 * array columns on both postgres.js and PGlite (postgres.js infers a JS array of booleans or Dates as one
 * scalar, so plain arrays do not bind alike). Two exceptions: a timestamp travels as epoch ms, and an array
 * column (`double precision[]`) as a `text[]` of its rows' literals, cast back per row, since `unnest`
 * would flatten a 2-D array.
 *
 * @example
 * await db.insert(actuals).select(unnestRows(actuals, rows))
 *   .onConflictDoUpdate({ target: [actuals.sensorId, actuals.ts], set: excludedSet(actuals, ["sensorId", "ts"]) });
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { type Column, getTableColumns, getTableName, is, SQL, sql } from "drizzle-orm";
import { makePgArray, type PgTable } from "drizzle-orm/pg-core";

/** Column types whose driver values are text, numbers or booleans, which an array literal carries as is. */
const scalarTypes = new Set(["integer", "bigint", "double precision", "text", "boolean"]);

interface ColumnPlan {
  key: string;
  column: Column;
  /** A present, non-null value as an element of the parameter's array literal. */
  encode: (value: unknown) => unknown;
  /** The cast of the unnest parameter. */
  paramType: string;
  /** The selected expression of an unnested value. */
  select: (value: SQL) => SQL;
}

const plans = new WeakMap<PgTable, ColumnPlan[]>();

/** How each column travels, checked once per table: a column this module cannot carry is a bug, not a row's fault. */
function planOf(table: PgTable): ColumnPlan[] {
  const known = plans.get(table);
  if (known) return known;
  const plan = Object.entries(getTableColumns(table)).map(([key, column]): ColumnPlan => {
    const type = column.getSQLType();
    const unsupported = () =>
      new PipelineError(
        "internal",
        `${getTableName(table)}.${column.name} (${type}) cannot be written through unnest`,
        { hint: "write this table with db.insert(…).values(…)" },
      );
    // drizzle leaves generated columns out of `insert … select`: the select list would no longer match.
    if (column.generated !== undefined || column.generatedIdentity !== undefined) throw unsupported();
    const mapped = (value: unknown) => column.mapToDriverValue(value);
    if (column.columnType === "PgTimestamp" && type === "timestamp with time zone") {
      // Epoch ms, not the column's ISO text: formatting and parsing 3 timestamps a row cost the forecaster's
      // batches more than the rest of their encoding. to_timestamp rounds to microseconds: exact for ms.
      return {
        key,
        column,
        encode: (value) => (value as Date).getTime(),
        paramType: "double precision[]",
        select: (value) => sql`to_timestamp(${value} / 1000)`,
      };
    }
    if (scalarTypes.has(type)) {
      return { key, column, encode: mapped, paramType: `${type}[]`, select: (value) => value };
    }
    if (type.endsWith("[]") && scalarTypes.has(type.slice(0, -2))) {
      // Each row's array literal as one text element, cast back: unnest would flatten a 2-D array. The
      // column's own mapping is drizzle's makePgArray of its elements' driver values, which are the
      // numbers and booleans themselves for these element types (not for text, which it escapes).
      const base = type.slice(0, -2);
      return {
        key,
        column,
        encode:
          base === "text"
            ? mapped
            : (value) => (Array.isArray(value) ? pgArrayLiteral(value) : mapped(value)),
        paramType: "text[]",
        select: (value) => sql`${value}::${sql.raw(type)}`,
      };
    }
    throw unsupported();
  });
  plans.set(table, plan);
  return plan;
}

/**
 * `makePgArray(elements)`, without its string per element when every element is a number or a boolean:
 * `join` prints them as makePgArray's template literal does, straight into the result. Building the
 * parameters of 10,000 windows (60 slots and 60 imputed flags each) took ~90 ms instead of ~300 ms
 * (a scratch script, issue 15).
 */
export function pgArrayLiteral(elements: readonly unknown[]): string {
  for (const e of elements)
    if (typeof e !== "number" && typeof e !== "boolean") return makePgArray(elements as unknown[]);
  return `{${elements.join(",")}}`;
}

/** A row's value for the array literal; an absent value takes the column's default, else null. */
function element(plan: ColumnPlan, value: unknown): unknown {
  if (value === undefined) {
    const { column } = plan;
    if (column.defaultFn) value = column.defaultFn();
    else if (column.default !== undefined) value = column.default;
    else return null;
    if (is(value, SQL)) {
      throw new PipelineError("internal", `${column.name}: an SQL default cannot be unnested per row`, {
        hint: "give the value in every row, or in none",
      });
    }
  }
  return value === null ? null : plan.encode(value);
}

/**
 * The `select … from unnest(…)` of `rows`, column for column in the table's order, for
 * `db.insert(table).select(…)`. A column no row gives and whose default is SQL (`now()`) selects that default.
 * Encoding errors (an invalid Date) throw here, inside the caller's write, where packages/platform/db/isolate.ts sees them.
 */
export function unnestRows<T extends PgTable>(table: T, rows: readonly T["$inferInsert"][]): SQL {
  const params: SQL[] = [];
  const selected: SQL[] = [];
  for (const plan of planOf(table)) {
    const values = rows.map((row) => (row as Record<string, unknown>)[plan.key]);
    const { default: sqlDefault } = plan.column;
    if (is(sqlDefault, SQL) && values.every((v) => v === undefined)) {
      selected.push(sqlDefault);
      continue;
    }
    const alias = sql.identifier(`c${params.length}`);
    const literal = pgArrayLiteral(values.map((v) => element(plan, v)));
    params.push(sql`${sql.param(literal)}::${sql.raw(plan.paramType)}`);
    selected.push(plan.select(sql`u.${alias}`));
  }
  const aliases = sql.join(
    params.map((_, i) => sql.identifier(`c${i}`)),
    sql`, `,
  );
  return sql`select ${sql.join(selected, sql`, `)} from unnest(${sql.join(params, sql`, `)}) as u(${aliases})`;
}

/**
 * The `set` of an upsert in which every column but `except` (the key, and what an update keeps) takes the
 * newly inserted value (`excluded`), derived from the table so that a column added later cannot be forgotten.
 */
export function excludedSet<T extends PgTable>(
  table: T,
  except: readonly (keyof T["$inferInsert"] & string)[],
): Record<string, SQL> {
  return Object.fromEntries(
    Object.entries(getTableColumns(table))
      .filter(([key]) => !except.includes(key as keyof T["$inferInsert"] & string))
      .map(([key, column]) => [key, sql.raw(`excluded."${column.name}"`)]),
  );
}

/**
 * The last row per key: one INSERT … ON CONFLICT DO UPDATE may not touch the same row twice
 * (PostgreSQL: "command cannot affect row a second time"), which a batch holding a row and its
 * re-emission would otherwise do.
 */
export function lastPerKey<T>(rows: readonly T[], key: (row: T) => string): readonly T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return byKey.size === rows.length ? rows : [...byKey.values()];
}
