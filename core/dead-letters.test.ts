import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadLetters } from "@energy/contracts/db/schema.ts";
import type { DeadLetter } from "@energy/contracts/records.ts";
import { type Database, type Db, openDatabase } from "@energy/platform/db/client.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { eq } from "drizzle-orm";
import { createDbDeadLetterSink } from "./dead-letters.ts";

const letter = (source: string, patch: Partial<DeadLetter> = {}): DeadLetter => ({
  source,
  reason: "not_json",
  detail: "Unexpected token \u0000",
  raw: new Uint8Array([0]),
  receivedAtMs: Date.now(),
  ...patch,
});

test("while the database is unreachable the buffer is bounded: letters beyond it are dropped and counted", async () => {
  const down = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  const db = {
    insert: () => ({
      values: async () => {
        throw down;
      },
    }),
  } as unknown as Db;
  let dropped = 0;
  const sink = createDbDeadLetterSink(db, {
    logger: silent,
    maxBuffered: 10,
    maxLetters: 40,
    onDropped: (n) => {
      dropped += n;
    },
    flushIntervalMs: 60_000,
    stuckAfterMs: 50,
  });
  for (let i = 0; i < 100; i++) sink.put(letter("t"));
  await sink.flush();
  expect(sink.buffered!()).toBe(40);
  expect(dropped).toBe(60);
  await Bun.sleep(60);
  expect(sink.health!.reason()).toMatch(/failed attempts, last: connect ECONNREFUSED/);
  await sink.close();
});

const skip = await skipUnlessReachable("PostgreSQL", postgresUrl, 5432);
describe.skipIf(skip)("dead-letter sink on PostgreSQL", () => {
  let database: Database;
  const source = `dead-letters-test/${process.pid}-${Date.now()}`;
  beforeAll(async () => {
    database = await openDatabase({ url: postgresUrl });
  }, 60_000);
  afterAll(async () => {
    await database.db.delete(deadLetters).where(eq(deadLetters.source, source));
    await database.close();
  });

  test("a NUL in the detail is stored; a letter PostgreSQL refuses is counted and the others are stored", async () => {
    const refused: string[] = [];
    let stored = 0;
    const sink = createDbDeadLetterSink(database.db, {
      logger: silent,
      onStored: (n) => {
        stored += n;
      },
      onRefused: (_l, reason) => refused.push(reason),
      flushIntervalMs: 60_000,
    });
    sink.put(letter(source));
    sink.put(letter(source, { receivedAtMs: Number.NaN }));
    sink.put(letter(source, { detail: "fine" }));
    await sink.flush();
    expect(sink.buffered!()).toBe(0);
    expect(stored).toBe(2);
    expect(refused).toHaveLength(1);
    const rows = await database.db.select().from(deadLetters).where(eq(deadLetters.source, source));
    expect(rows.map((r) => r.detail).sort()).toEqual(["Unexpected token \\u0000", "fine"]);
    await sink.close();
  }, 30_000);
});
