import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { models } from "@energy/contracts/db/schema.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { and, eq } from "drizzle-orm";
import { type Database, openDatabase } from "./client.ts";
import { type ModelInsert, saveModel } from "./models.ts";

function contract(name: string, open: () => Promise<Database>, skip = false) {
  describe.skipIf(skip)(`model registry on ${name}`, () => {
    let database: Database;
    const sensorId = 3_000_000 + Math.floor(Math.random() * 1_000_000);
    beforeAll(async () => {
      database = await open();
    }, 120_000);
    afterAll(async () => {
      await database.db.delete(models).where(eq(models.sensorId, sensorId));
      await database.close();
    });

    test("recording a version again replaces its row but keeps when it was created", async () => {
      const row = {
        sensorId,
        version: "v1",
        location: `${sensorId}/v1/`,
        trainedFrom: new Date(0),
        trainedTo: new Date(60_000),
        metrics: { rmse: 2 },
        promoted: false,
        decision: "worse than persistence",
        promotedAt: null,
      } satisfies ModelInsert;
      await saveModel(database.db, row);
      const where = and(eq(models.sensorId, sensorId), eq(models.version, "v1"));
      const [first] = await database.db.select().from(models).where(where);
      await Bun.sleep(5);
      const promotedAt = new Date(120_000);
      await saveModel(database.db, {
        ...row,
        metrics: { rmse: 1 },
        promoted: true,
        decision: "promoted",
        promotedAt,
      });
      const rows = await database.db.select().from(models).where(where);
      expect(rows).toEqual([
        {
          ...row,
          metrics: { rmse: 1 },
          promoted: true,
          decision: "promoted",
          promotedAt,
          createdAt: first!.createdAt,
        },
      ]);
    });
  });
}

contract("embedded PGlite", () => openDatabase({ embeddedDir: "memory://" }));
contract(
  "PostgreSQL server",
  () => openDatabase({ url: postgresUrl }),
  await skipUnlessReachable("PostgreSQL", postgresUrl, 5432),
);
