import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { deadLetters, windows } from "@energy/contracts/db/schema.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { and, eq, inArray } from "drizzle-orm";
import { type Database, openDatabase } from "./client.ts";
import { saveDeadLetters, saveWindows, windowCountsBySensor } from "./store.ts";

function windowFor(sensorId: number, startMs: number, mean: number): WindowRecord {
  return {
    sensorId,
    windowStartMs: startMs,
    windowEndMs: startMs + 60_000,
    count: 59,
    sum: mean * 59,
    mean,
    min: mean - 1,
    max: mean + 1,
    firstEventMs: startMs,
    lastEventMs: startMs + 59_000,
    slots: Array.from({ length: 60 }, () => mean),
    imputed: Array.from({ length: 60 }, (_, i) => i === 7),
    duplicates: 0,
    maxCreatedAtMs: 0,
    emittedAtMs: startMs + 65_000,
  };
}

/** The same assertions against both back ends: the product promises identical behaviour. */
function storeContract(name: string, open: () => Promise<Database>, skip = false) {
  describe.skipIf(skip)(`window store on ${name}`, () => {
    let database: Database;
    // Sensor ids unique to this run so a shared server database never mixes runs.
    const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
    const ids = [base, base + 1, base + 2];

    // Creating a PGlite directory (initdb, in a child process) takes 10–60 s on a loaded machine.
    beforeAll(async () => {
      database = await open();
    }, 120_000);
    afterAll(async () => {
      await database.db.delete(windows).where(inArray(windows.sensorId, ids));
      await database.db.delete(deadLetters).where(eq(deadLetters.source, `test/${base}`));
      await database.close();
    });

    test("upserts are idempotent and the newest emission wins", async () => {
      const t = Date.UTC(2025, 11, 8, 0, 0, 0);
      await saveWindows(database.db, [windowFor(ids[0]!, t, 700), windowFor(ids[1]!, t, 800)]);
      await saveWindows(database.db, [windowFor(ids[0]!, t, 700), windowFor(ids[0]!, t + 60_000, 710)]);
      await saveWindows(database.db, [windowFor(ids[0]!, t, 705)]);
      const rows = await database.db
        .select()
        .from(windows)
        .where(inArray(windows.sensorId, ids))
        .orderBy(windows.sensorId, windows.windowStart);
      expect(rows.map((r) => [r.sensorId, r.windowStart.getTime(), r.mean])).toEqual([
        [ids[0]!, t, 705],
        [ids[0]!, t + 60_000, 710],
        [ids[1]!, t, 800],
      ]);
      expect(rows[0]!.slots).toHaveLength(60);
      expect(rows[0]!.imputed[7]).toBe(true);
      expect(rows[0]!.imputedCount).toBe(1);
      const counts = await windowCountsBySensor(database.db);
      expect(counts.get(ids[0]!)).toBe(2);
      expect(counts.get(ids[1]!)).toBe(1);
    });

    test("a replayed window with fewer readings never overwrites a complete one", async () => {
      const t = Date.UTC(2025, 11, 8, 1, 0, 0);
      await saveWindows(database.db, [windowFor(ids[1]!, t, 900)]);
      const partial = { ...windowFor(ids[1]!, t, 500), count: 20, sum: 500 * 20 };
      await saveWindows(database.db, [partial]);
      const [row] = await database.db
        .select()
        .from(windows)
        .where(and(eq(windows.sensorId, ids[1]!), eq(windows.windowStart, new Date(t))));
      expect(row?.count).toBe(59);
      expect(row?.mean).toBe(900);
    });

    test("a re-emitted window (emitted early, then with the readings that came later) replaces the row", async () => {
      const t = Date.UTC(2025, 11, 8, 2, 0, 0);
      const early = { ...windowFor(ids[0]!, t, 300), count: 21, sum: 300 * 21 };
      await saveWindows(database.db, [early]);
      await saveWindows(database.db, [{ ...windowFor(ids[0]!, t, 310), count: 36, sum: 310 * 36 }]);
      // Same readings, one more duplicate absorbed: replaces too (it is the newer emission).
      await saveWindows(database.db, [
        { ...windowFor(ids[0]!, t, 310), count: 36, sum: 310 * 36, duplicates: 1 },
      ]);
      const [row] = await database.db
        .select()
        .from(windows)
        .where(and(eq(windows.sensorId, ids[0]!), eq(windows.windowStart, new Date(t))));
      expect([row?.count, row?.mean, row?.duplicates]).toEqual([36, 310, 1]);
    });

    test("several emissions of one window in one batch store the last, as one row", async () => {
      const t = Date.UTC(2025, 11, 8, 3, 0, 0);
      // A consumer batch of the windows log can span several drains: an idle emission and its update.
      await saveWindows(database.db, [
        { ...windowFor(ids[0]!, t, 400), count: 10, sum: 4000 },
        windowFor(ids[1]!, t, 1),
        { ...windowFor(ids[0]!, t, 410), count: 30, sum: 410 * 30 },
        { ...windowFor(ids[0]!, t, 420), count: 20, sum: 420 * 20 }, // a replayed partial, after it
      ]);
      const rows = await database.db
        .select()
        .from(windows)
        .where(and(inArray(windows.sensorId, ids), eq(windows.windowStart, new Date(t))))
        .orderBy(windows.sensorId);
      expect(rows.map((r) => [r.sensorId, r.count, r.mean])).toEqual([
        [ids[0]!, 30, 410],
        [ids[1]!, 59, 1],
      ]);
    });

    test("dead letters keep raw bytes and reason", async () => {
      const raw = new Uint8Array([0x7b, 0xff, 0x00, 0x01]);
      await saveDeadLetters(database.db, [
        { source: `test/${base}`, reason: "not_json", detail: "bad", raw, receivedAtMs: Date.now() },
      ]);
      const rows = await database.db
        .select()
        .from(deadLetters)
        .where(eq(deadLetters.source, `test/${base}`));
      expect(rows).toHaveLength(1);
      expect(rows[0]!.reason).toBe("not_json");
      expect(new Uint8Array(rows[0]!.raw)).toEqual(raw);
    });

    test("one row PostgreSQL refuses is isolated with its reason; every other row of the batch is stored", async () => {
      const t = Date.UTC(2025, 11, 8, 2, 0, 0);
      const good = Array.from({ length: 9 }, (_, i) => windowFor(ids[2]!, t + i * 60_000, 100 + i));
      // A sensor id beyond the integer column (validation refuses it now; an old log may still hold one)
      // and a window whose time is not a date: before, either failed the whole batch, retried for ever.
      const tooBig = windowFor(3_000_000_000, t, 1);
      const notADate = { ...windowFor(ids[2]!, t + 20 * 60_000, 1), windowStartMs: Number.NaN };
      const refused = await saveWindows(database.db, [
        ...good.slice(0, 4),
        tooBig,
        ...good.slice(4),
        notADate,
      ]);
      expect(refused.map((r) => r.row)).toEqual([tooBig, notADate]);
      expect(refused[0]!.reason).toContain("out of range for type integer");
      expect(refused[0]!.reason).toContain("SQLSTATE 22003");
      expect(refused[0]!.reason).not.toContain("Failed query");
      const rows = await database.db.select().from(windows).where(eq(windows.sensorId, ids[2]!));
      expect(rows.map((r) => r.mean).sort()).toEqual(good.map((w) => w.mean));
    });

    test("dead-letter text is made safe: NUL and lone surrogates no longer stop dead-letter storage", async () => {
      const letter = (detail: string) => ({
        source: `test/${base}`,
        reason: "not_json" as const,
        detail,
        raw: new Uint8Array([0]),
        receivedAtMs: Date.now(),
      });
      const refused = await saveDeadLetters(database.db, [
        letter("Unexpected token \u0000 → \0 here"),
        letter("lone \ud800 surrogate"),
        letter("plain"),
      ]);
      expect(refused).toEqual([]);
      const rows = await database.db
        .select()
        .from(deadLetters)
        .where(eq(deadLetters.source, `test/${base}`));
      const details = rows.map((r) => r.detail);
      expect(details).toContain("Unexpected token \\u0000 → \\u0000 here");
      expect(details).toContain("lone \ufffd surrogate");
      expect(details).toContain("plain");
    });

    test("reopening runs migrations again without dropping data", async () => {
      const again = await open();
      const n = await again.db.select().from(windows).where(inArray(windows.sensorId, ids));
      expect(n.length).toBeGreaterThan(0);
      await again.close();
    });
  });
}

const pgliteDir = `${process.env.TMPDIR ?? "/tmp"}/pglite-test-${process.pid}`;
afterAll(() => rmSync(pgliteDir, { recursive: true, force: true }));
storeContract("embedded PGlite", () => openDatabase({ embeddedDir: pgliteDir }));
storeContract(
  "PostgreSQL server",
  () => openDatabase({ url: postgresUrl }),
  await skipUnlessReachable("PostgreSQL", postgresUrl, 5432),
);
