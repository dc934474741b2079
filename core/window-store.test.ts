/**
 * The window store stage on the real PostgreSQL: a window the database refuses (here a sensor id beyond the
 * integer column, as an old readings log may still hold) is isolated and dead-lettered with PostgreSQL's
 * reason; the windows around it and every later batch are stored. Before, the batch failed as a whole and
 * was retried for ever, blocking every later window.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { windows } from "@energy/contracts/db/schema.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import { createMemoryLog } from "@energy/logs/log.ts";
import { type Database, openDatabase } from "@energy/platform/db/client.ts";
import { coreMetrics } from "@energy/platform/metrics.ts";
import { sampleWindow, silent } from "@energy/testing/fixtures.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { inArray } from "drizzle-orm";
import { Registry } from "prom-client";
import { createMemoryDeadLetterSink } from "./dead-letters.ts";
import { startWindowStore } from "./window-store.ts";

const skip = await skipUnlessReachable("PostgreSQL", postgresUrl, 5432);

describe.skipIf(skip)("window store stage on PostgreSQL", () => {
  let database: Database;
  const base = 300_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  const ids = [base, base + 1, base + 2];

  beforeAll(async () => {
    database = await openDatabase({ url: postgresUrl });
  }, 60_000);
  afterAll(async () => {
    await database.db.delete(windows).where(inArray(windows.sensorId, ids));
    await database.close();
  });

  test("a refused window is dead-lettered with PostgreSQL's reason; its batch and the next ones are stored", async () => {
    const log = createMemoryLog<WindowRecord>("windows", { logger: silent, retryDelayMs: 50 });
    const metrics = coreMetrics(new Registry());
    const deadLetters = createMemoryDeadLetterSink();
    const store = startWindowStore({
      windowsLog: log,
      db: database.db,
      metrics,
      deadLetters,
      logger: silent,
    });
    const t = Date.UTC(2025, 11, 8, 3, 0, 0);
    const bad = sampleWindow(3_000_000_000, t);
    await log.publish(
      [ids[0]!, 0, ids[1]!].map((id) => {
        const w = id === 0 ? bad : sampleWindow(id, t);
        return { key: String(w.sensorId), value: w };
      }),
    );
    await log.publish([{ key: String(ids[2]), value: sampleWindow(ids[2]!, t) }]);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await metrics.windowsStored.get()).values[0]?.value !== 3)
      await Bun.sleep(50);
    await store.stop();
    await log.close();

    const rows = await database.db.select().from(windows).where(inArray(windows.sensorId, ids));
    expect(rows.map((r) => r.sensorId).sort()).toEqual(ids);
    expect(deadLetters.letters.map((l) => l.reason)).toEqual(["store_rejected"]);
    expect(deadLetters.letters[0]!.detail).toMatch(/out of range for type integer \(SQLSTATE 22003\)/);
    expect(JSON.parse(new TextDecoder().decode(deadLetters.letters[0]!.raw)).sensorId).toBe(3_000_000_000);
    expect((await metrics.storeRejects.get()).values.filter((v) => v.labels.sink === "windows")).toEqual([
      expect.objectContaining({ labels: { sink: "windows" }, value: 1 }),
    ]);
    expect(store.health.stuck()).toBe(false);
  }, 60_000);
});
