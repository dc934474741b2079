import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { and, eq, inArray } from "drizzle-orm";
import { postgresUrl, skipUnlessReachable } from "../../test/servers.ts";
import type { WindowRecord } from "../records.ts";
import { type Database, openDatabase } from "./client.ts";
import { deadLetters, windows } from "./schema.ts";
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
    const ids = [base, base + 1];

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
