import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { actuals, forecasts } from "@energy/contracts/db/schema.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { and, eq, inArray } from "drizzle-orm";
import { type Database, openDatabase } from "./client.ts";
import {
  type ActualInsert,
  type ForecastInsert,
  forecastSummary,
  saveActuals,
  saveForecasts,
} from "./forecasts.ts";

/** Text that a hand-quoted array literal gets wrong: quotes, backslashes, separators, the word NULL. */
const awkward = [
  'v"1',
  "back\\slash",
  "line\nbreak\ttab",
  "a,b",
  "{braces}",
  "NULL",
  "",
  "  spaced  ",
  "ünï 😀",
];

/** The same assertions against both back ends: the product promises identical behaviour. */
function contract(name: string, open: () => Promise<Database>, skip = false) {
  describe.skipIf(skip)(`forecaster tables on ${name}`, () => {
    let database: Database;
    // Sensor ids unique to this run so a shared server database never mixes runs.
    const base = 2_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
    const ids = [base, base + 1];
    const t = Date.UTC(2025, 11, 8, 0, 0, 0);

    beforeAll(async () => {
      database = await open();
    }, 120_000);
    afterAll(async () => {
      await database.db.delete(actuals).where(inArray(actuals.sensorId, ids));
      await database.db.delete(forecasts).where(inArray(forecasts.sensorId, ids));
      await database.close();
    });

    test("actuals upsert by (sensor, second); the last of a key in one batch wins", async () => {
      const row = (i: number, value: number, imputed: boolean): ActualInsert => ({
        sensorId: ids[0]!,
        ts: new Date(t + i * 1000 + 123),
        value,
        imputed,
      });
      expect(
        await saveActuals(database.db, [row(0, 1.5, false), row(1, Number.NaN, true), row(0, 2.5, true)]),
      ).toBe(2);
      await saveActuals(database.db, [row(1, 1e300, false)]);
      const rows = await database.db
        .select()
        .from(actuals)
        .where(eq(actuals.sensorId, ids[0]!))
        .orderBy(actuals.ts);
      expect(rows).toEqual([row(0, 2.5, true), row(1, 1e300, false)]);
    });

    test("forecasts keep text, null bands, millisecond times and the model kind's default", async () => {
      const rows: ForecastInsert[] = awkward.map((version, i) => ({
        sensorId: ids[1]!,
        targetTs: new Date(t + 60_000 + i * 1000),
        modelVersion: version,
        value: i / 3,
        valueP10: i % 2 === 0 ? null : i / 4,
        ...(i % 3 === 0 ? {} : { valueP90: i / 2 }),
        ...(i === 1 ? {} : { modelKind: `k"${version}` }),
        originTs: new Date(t - 1),
        madeAt: new Date(t + 61_007),
      }));
      expect(await saveForecasts(database.db, rows)).toBe(awkward.length);
      const stored = await database.db
        .select()
        .from(forecasts)
        .where(eq(forecasts.sensorId, ids[1]!))
        .orderBy(forecasts.targetTs);
      expect(stored).toEqual(
        rows.map((r, i) => ({
          ...r,
          valueP10: r.valueP10 ?? null,
          valueP90: r.valueP90 ?? null,
          modelKind: i === 1 ? "lstm" : `k"${awkward[i]}`,
        })),
      );
    });

    test("a replay of the same version overwrites its values; another version is kept beside it", async () => {
      const at = (value: number, version: string): ForecastInsert => ({
        sensorId: ids[0]!,
        targetTs: new Date(t + 120_000),
        modelVersion: version,
        value,
        valueP10: value - 1,
        valueP90: value + 1,
        modelKind: "lstm",
        originTs: new Date(t + 60_000),
        madeAt: new Date(t + 121_000),
      });
      await saveForecasts(database.db, [at(10, "a"), at(20, "b")]);
      await saveForecasts(database.db, [{ ...at(11, "a"), valueP10: null, modelKind: "mean" }]);
      const stored = await database.db
        .select({
          version: forecasts.modelVersion,
          value: forecasts.value,
          p10: forecasts.valueP10,
          kind: forecasts.modelKind,
        })
        .from(forecasts)
        .where(and(eq(forecasts.sensorId, ids[0]!), eq(forecasts.targetTs, new Date(t + 120_000))))
        .orderBy(forecasts.modelVersion);
      expect(stored).toEqual([
        { version: "a", value: 11, p10: null, kind: "mean" },
        { version: "b", value: 20, p10: 19, kind: "lstm" },
      ]);
      const summary = await forecastSummary(database.db);
      expect(summary.byVersion.a).toBeGreaterThanOrEqual(1);
      expect(summary.forecasts).toBeGreaterThanOrEqual(awkward.length + 2);
      expect(summary.actuals).toBeGreaterThanOrEqual(2);
    });

    test("an empty batch writes nothing", async () => {
      expect(await saveActuals(database.db, [])).toBe(0);
      expect(await saveForecasts(database.db, [])).toBe(0);
    });
  });
}

contract("embedded PGlite", () => openDatabase({ embeddedDir: "memory://" }));
contract(
  "PostgreSQL server",
  () => openDatabase({ url: postgresUrl }),
  await skipUnlessReachable("PostgreSQL", postgresUrl, 5432),
);
