import { describe, expect, test } from "bun:test";
import { describeDbError, isDataError, pgText, sqlState, writeIsolating } from "./isolate.ts";

/** Shaped like postgres.js's PostgresError, wrapped like drizzle's DrizzleQueryError. */
function pgError(code: string, message: string) {
  const cause = Object.assign(new Error(message), { code, detail: "" });
  return new Error(`Failed query: insert into "windows" … params: 3000000000,…`, { cause });
}

describe("error classification", () => {
  test("PostgreSQL's reason and SQLSTATE are found under drizzle's wrapper", () => {
    const e = pgError("22003", 'value "3000000000" is out of range for type integer');
    expect(sqlState(e)).toBe("22003");
    expect(describeDbError(e)).toBe('value "3000000000" is out of range for type integer (SQLSTATE 22003)');
  });
  test("data and constraint errors blame the rows; connection and server errors do not", () => {
    for (const code of ["22003", "22021", "22P05", "23505", "23502", "21000", "54000"])
      expect({ code, data: isDataError(pgError(code, "x")) }).toEqual({ code, data: true });
    for (const code of ["08006", "57P01", "53100", "40001", "42P01", "XX000"])
      expect({ code, data: isDataError(pgError(code, "x")) }).toEqual({ code, data: false });
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    expect(isDataError(refused)).toBe(false);
    expect(isDataError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))).toBe(false);
    expect(isDataError(new Error("wrapped", { cause: new RangeError("Invalid time value") }))).toBe(true);
  });
});

describe("writeIsolating", () => {
  test("bisects to the bad rows in O(bad · log n) statements and writes every other row", async () => {
    const rows = Array.from({ length: 1_000 }, (_, i) => i);
    const bad = new Set([3, 500, 999]);
    const written: number[] = [];
    let statements = 0;
    const refused = await writeIsolating(rows, async (part) => {
      statements++;
      if (part.some((r) => bad.has(r))) throw pgError("22003", "out of range");
      written.push(...part);
    });
    expect(refused.map((r) => r.row)).toEqual([3, 500, 999]);
    expect(written.sort((a, b) => a - b)).toEqual(rows.filter((r) => !bad.has(r)));
    expect(statements).toBeLessThan(3 * 2 * 11 + 2);
  });
  test("a connection error is thrown, not blamed on a row", async () => {
    const down = Object.assign(new Error("connection closed"), { code: "CONNECTION_CLOSED" });
    await expect(
      writeIsolating([1, 2, 3], async () => {
        throw down;
      }),
    ).rejects.toBe(down);
  });
});

test("pgText escapes NUL and replaces lone surrogates, leaving other text alone", () => {
  expect(pgText("a\u0000b")).toBe("a\\u0000b");
  expect(pgText("x\ud800y\udc00")).toBe("x\ufffdy\ufffd");
  expect(pgText("ok 😀 ü")).toBe("ok 😀 ü");
});
