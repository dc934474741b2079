/**
 * The window store on the real PostgreSQL: a window the database refuses (here a sensor id beyond the
 * integer column, as an old readings log may still hold) is isolated and dead-lettered with PostgreSQL's
 * reason; the windows around it and every later write are stored. Before, the batch failed as a whole and
 * was retried for ever, blocking every later window. A database it cannot reach makes `save` throw (the
 * windower retries) and, once that lasts, the writer reports itself stuck.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { windows } from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import { type Database, openDatabase } from "@energy/platform/db/client.ts";
import { coreMetrics } from "@energy/platform/metrics.ts";
import { sampleWindow, silent } from "@energy/testing/fixtures.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { inArray } from "drizzle-orm";
import { Registry } from "prom-client";
import { createMemoryDeadLetterSink } from "./dead-letters.ts";
import { createWindowStore } from "./window-store.ts";

const skip = await skipUnlessReachable("PostgreSQL", postgresUrl, 5432);

describe.skipIf(skip)("window store on PostgreSQL", () => {
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
    const metrics = coreMetrics(new Registry());
    const deadLetters = createMemoryDeadLetterSink();
    const store = createWindowStore({ db: database.db, metrics, deadLetters, logger: silent });
    const t = Date.UTC(2025, 11, 8, 3, 0, 0);
    await store.save([sampleWindow(ids[0]!, t), sampleWindow(3_000_000_000, t), sampleWindow(ids[1]!, t)]);
    await store.save([sampleWindow(ids[2]!, t)]);

    const rows = await database.db.select().from(windows).where(inArray(windows.sensorId, ids));
    expect(rows.map((r) => r.sensorId).sort()).toEqual(ids);
    expect((await metrics.windowsStored.get()).values[0]?.value).toBe(3);
    expect(deadLetters.letters.map((l) => l.reason)).toEqual(["store_rejected"]);
    expect(deadLetters.letters[0]!.detail).toMatch(/out of range for type integer \(SQLSTATE 22003\)/);
    expect(JSON.parse(new TextDecoder().decode(deadLetters.letters[0]!.raw)).sensorId).toBe(3_000_000_000);
    expect((await metrics.storeRejects.get()).values.filter((v) => v.labels.sink === "windows")).toEqual([
      expect.objectContaining({ labels: { sink: "windows" }, value: 1 }),
    ]);
    expect(store.health.stuck()).toBe(false);
  }, 60_000);

  test("a database it cannot write: save throws a storage error, counted, and the writer turns stuck", async () => {
    // A client whose connection was ended: every query fails, as while the server is gone.
    const gone = await openDatabase({ url: postgresUrl });
    await gone.close();
    const metrics = coreMetrics(new Registry());
    const store = createWindowStore({
      db: gone.db,
      metrics,
      deadLetters: createMemoryDeadLetterSink(),
      logger: silent,
      stuckAfterMs: 0,
    });
    const error = await store
      .save([sampleWindow(ids[0]!, Date.UTC(2025, 11, 8, 4))])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).code).toBe("storage");
    expect((error as PipelineError).message).toMatch(/^cannot store 1 windows: /);
    expect((await metrics.storeErrors.get()).values[0]?.value).toBe(1);
    await Bun.sleep(5);
    expect(store.health.stuck()).toBe(true);
    expect(store.health.reason()).toMatch(/1 failed attempts/);
  }, 60_000);
});
