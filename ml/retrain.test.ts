/**
 * Retraining on the embedded database and a local model store: the promotion gate (beat the serving model
 * and persistence on the same held-out tail), its recorded reasons, the `models` rows and the manifest.
 *
 * Epochs and hidden sizes are tiny to keep the suite fast on a shared machine. The promotion case uses a
 * smooth periodic sensor, which a small LSTM learns in a few epochs and where persistence is poor over a
 * 60-second horizon; on the seed devices' staircase persistence is a strong baseline that our LSTM only
 * beats after ~200 epochs (see bench), far too slow for a test — there a 1-epoch candidate must lose.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { type Database, openDatabase } from "../lib/db/client.ts";
import { actuals, models } from "../lib/db/schema.ts";
import { PipelineError } from "../lib/errors.ts";
import { postgresUrl, skipUnlessReachable } from "../test/servers.ts";
import { createRng } from "./random.ts";
import {
  loadTrainingSeries,
  type RetrainOptions,
  type RetrainOutcome,
  retrainFromConfig,
  retrainScope,
} from "./retrain.ts";
import { readSeedCsv } from "./seed.ts";
import { artifactFromTraining } from "./store/artifact.ts";
import { initialVersion, ModelStore } from "./store/model-store.ts";
import { train } from "./train.ts";

// Training and PGlite start-up take seconds each on a loaded two-core machine; 5 s is too tight.
setDefaultTimeout(60_000);

const start = Date.parse("2025-12-08T00:00:00Z");
const periodicSensor = 9;
const seedSensor = 2;
const small: Partial<RetrainOptions> = { hidden: 8, epochs: 12, lookback: 30, horizon: 30 };

function periodic(from: number, count: number): number[] {
  const rng = createRng(11 + from);
  return Array.from(
    { length: count },
    (_, k) => 1000 + 300 * Math.sin((2 * Math.PI * (from + k)) / 90) + 8 * rng.normal(),
  );
}

async function insertActuals(database: Database, sensorId: number, from: number, values: ArrayLike<number>) {
  const rows = Array.from(values, (value, k) => ({
    sensorId,
    ts: new Date(start + (from + k) * 1000),
    value,
    imputed: k % 50 === 0,
  }));
  await database.db.insert(actuals).values(rows).onConflictDoNothing();
}

let dir: string;
let database: Database;
let store: ModelStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "retrain-"));
  database = await openDatabase({ embeddedDir: "memory://" });
  store = await ModelStore.open({ localDir: join(dir, "models") });
  await insertActuals(database, periodicSensor, 0, periodic(0, 600));
  const seed = await readSeedCsv(
    new URL("../data/seed/device_2_batch_data_2025-12-08.csv", import.meta.url).pathname,
  );
  await insertActuals(database, seedSensor, 0, seed.values.subarray(0, 600));
}, 60_000); // PGlite's start and migrations take seconds on a loaded machine

afterAll(async () => {
  await store?.close();
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

async function modelRow(sensorId: number, version: string) {
  const rows = await database.db
    .select()
    .from(models)
    .where(and(eq(models.sensorId, sensorId), eq(models.version, version)));
  return rows[0];
}

describe("retrainScope", () => {
  let first: RetrainOutcome;

  test("reads the latest rows in time order", async () => {
    const series = await loadTrainingSeries(database.db, periodicSensor, 100);
    expect(series.values.length).toBe(100);
    expect(series.timestampsMs[0]).toBe(start + 500_000);
    expect(series.timestampsMs[99]).toBe(start + 599_000);
    expect(series.imputed).toBe(2);
  });

  test("promotes a candidate that beats a deliberately bad serving model and persistence", async () => {
    // The "bad" serving model: trained for one epoch on another level (3000–4000 W), so it forecasts ~3500.
    const elsewhere = Float64Array.from(periodic(0, 300), (v) => v + 2500);
    const bad = train(elsewhere, { lookback: 30, horizon: 30, hidden: 4, epochs: 1, head: "direct" });
    await store.saveVersion(
      artifactFromTraining(bad, elsewhere, { scope: periodicSensor, version: initialVersion }),
    );
    await store.recordDecision(periodicSensor, {
      version: initialVersion,
      at: new Date().toISOString(),
      promoted: true,
      reason: "initial model",
      metrics: { mae: 0, rmse: 0, persistenceRmse: 0, skill: 0, origins: 0 },
    });

    first = await retrainScope({ db: database.db, store, scope: periodicSensor, rows: 600, options: small });
    expect(first.version).toBe("20251208T000000Z-20251208T000959Z");
    expect(first.trained).toBe(true);
    expect(first.current?.version).toBe(initialVersion);
    expect(first.metrics.rmse).toBeLessThan(first.metrics.persistenceRmse);
    expect(first.metrics.rmse).toBeLessThan(first.current!.rmse);
    expect(first.promoted).toBe(true);
    expect(first.reason).toMatch(
      /^rmse [\d.]+ on \d+ held-out origins < current initial [\d.]+ and persistence/,
    );

    const manifest = await store.readManifest(periodicSensor);
    expect(manifest?.promoted).toBe(first.version);
    expect(manifest?.history.map((e) => [e.version, e.promoted])).toEqual([
      [initialVersion, true],
      [first.version, true],
    ]);
    const loaded = await store.loadPromoted(periodicSensor);
    expect(loaded?.meta.metrics).toEqual(first.metrics);
    expect(loaded?.meta.trainedFrom).toBe("2025-12-08T00:00:00.000Z");

    const row = await modelRow(periodicSensor, first.version);
    expect(row?.promoted).toBe(true);
    expect(row?.location).toBe(`${periodicSensor}/${first.version}/`);
    expect(row?.decision).toBe(first.reason);
    expect(row?.promotedAt).toBeInstanceOf(Date);
    expect(row?.metrics.currentRmse).toBeCloseTo(first.current!.rmse, 6);
    expect(row?.trainedTo?.toISOString()).toBe("2025-12-08T00:09:59.000Z");
  });

  test("a second retrain on new rows that does worse than the serving model is not promoted", async () => {
    await insertActuals(database, periodicSensor, 600, periodic(600, 60));
    const second = await retrainScope({
      db: database.db,
      store,
      scope: periodicSensor,
      rows: 600,
      options: { ...small, epochs: 1, hidden: 2 },
    });
    expect(second.version).toBe("20251208T000100Z-20251208T001059Z");
    expect(second.trained).toBe(true);
    expect(second.promoted).toBe(false);
    expect(second.current?.version).toBe(first.version);
    expect(second.reason).toMatch(/^not promoted: rmse [\d.]+ .*≥ current 20251208T000000Z-20251208T000959Z/);
    expect((await store.readManifest(periodicSensor))?.promoted).toBe(first.version);
    const row = await modelRow(periodicSensor, second.version);
    expect(row?.promoted).toBe(false);
    expect(row?.promotedAt).toBeNull();
    expect(row?.decision).toBe(second.reason);
    // The rejected version is kept (immutable, for comparison), just not served.
    expect(await store.listVersions(periodicSensor)).toEqual([initialVersion, first.version, second.version]);
  });

  test("a candidate worse than persistence (1 epoch on a seed device) is not promoted, and says why", async () => {
    const outcome = await retrainScope({
      db: database.db,
      store,
      scope: seedSensor,
      rows: 600,
      options: { epochs: 1, hidden: 4, head: "recursive" },
    });
    expect(outcome.current).toBeNull();
    expect(outcome.promoted).toBe(false);
    expect(outcome.metrics.skill).toBeLessThan(0);
    expect(outcome.reason).toMatch(
      /^not promoted: rmse [\d.]+ on \d+ held-out origins ≥ persistence [\d.]+$/,
    );
    const manifest = await store.readManifest(seedSensor);
    expect(manifest?.promoted).toBeNull();
    expect(manifest?.history).toHaveLength(1);
    expect(manifest?.history[0]?.reason).toBe(outcome.reason);
    expect((await modelRow(seedSensor, outcome.version))?.decision).toBe(outcome.reason);
    expect(await store.loadPromoted(seedSensor)).toBeNull();
  });

  test("without new rows nothing is retrained", async () => {
    const again = await retrainScope({
      db: database.db,
      store,
      scope: seedSensor,
      rows: 600,
      options: { epochs: 1, hidden: 4, head: "recursive" },
    });
    expect(again.trained).toBe(false);
    expect(again.reason).toMatch(/already exists: no new rows/);
    expect((await store.readManifest(seedSensor))?.history).toHaveLength(1);
  });

  test("a corrupt serving model does not block a candidate that beats persistence", async () => {
    const sensor = 10;
    await insertActuals(database, sensor, 0, periodic(0, 600));
    const serving = artifactFromTraining(
      train(periodic(0, 300), { lookback: 30, horizon: 30, hidden: 2, epochs: 1 }),
      periodic(0, 300),
      {
        scope: sensor,
        version: initialVersion,
      },
    );
    await store.saveVersion(serving);
    await store.recordDecision(sensor, {
      version: initialVersion,
      at: new Date().toISOString(),
      promoted: true,
      reason: "initial",
      metrics: serving.meta.metrics,
    });
    // Truncate model.onnx behind the store's back (the local backend keeps it as a plain file).
    const path = join(dir, "models", String(sensor), initialVersion, "model.onnx");
    await Bun.write(path, serving.onnx.subarray(0, 100));

    const outcome = await retrainScope({ db: database.db, store, scope: sensor, rows: 600, options: small });
    expect(outcome.current).toBeNull();
    expect(outcome.promoted).toBe(true);
    expect(outcome.reason).toMatch(
      /< persistence [\d.]+ \(serving model initial could not be scored: .*truncated/,
    );
  });

  test("a sensor with too few rows is skipped with the reason, not failed", async () => {
    await insertActuals(database, 11, 0, periodic(0, 100));
    const outcome = await retrainScope({ db: database.db, store, scope: 11, options: small });
    expect(outcome.trained).toBe(false);
    expect(outcome.reason).toMatch(/^only 100 rows: too few/);
    expect(await store.readManifest(11)).toBeNull();
    expect(await modelRow(11, outcome.version)).toBeUndefined();
  });

  test("a sensor without rows is a not-found error", async () => {
    const error = await retrainScope({ db: database.db, store, scope: 77, options: small }).catch((e) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).code).toBe("not-found");
  });
});

describe("retrainFromConfig", () => {
  test("opens an embedded database from plain options and retrains the shared model (sensor 0 row)", async () => {
    const pglite = join(dir, "pglite");
    const seeded = await openDatabase({ embeddedDir: pglite });
    await insertActuals(seeded, 3, 0, periodic(0, 200));
    await insertActuals(seeded, 4, 0, periodic(40, 200));
    await seeded.close();

    const results = await retrainFromConfig({
      embeddedDir: pglite,
      store: { localDir: join(dir, "models") },
      scopes: ["shared", 5],
      rows: 200,
      options: { ...small, epochs: 2 },
    });
    expect(results).toHaveLength(2);
    const shared = results[0]!;
    if ("error" in shared) throw new Error(shared.error.message);
    expect(shared.scope).toBe("shared");
    expect(shared.rows).toBe(400);
    expect(shared.version).toBe("20251208T000000Z-20251208T000319Z");
    expect(results[1]).toEqual({
      scope: 5,
      error: { code: "not-found", message: expect.stringMatching(/sensor 5/) },
    });

    const check = await openDatabase({ embeddedDir: pglite });
    const rows = await check.db.select().from(models).where(eq(models.sensorId, 0));
    expect(rows.map((r) => r.version)).toEqual([shared.version]);
    expect(rows[0]?.location).toBe(`shared/${shared.version}/`);
    await check.close();
    expect((await store.readManifest("shared"))?.history.at(-1)?.version).toBe(shared.version);
  });
});

// The same path on a real PostgreSQL server (the database tests share it, so this uses a sensor id no other
// test does and removes its rows afterwards).
const skipPostgres = await skipUnlessReachable("PostgreSQL", postgresUrl, 5432);
describe.skipIf(skipPostgres)("retrainFromConfig on PostgreSQL", () => {
  const sensor = 990_001;
  async function cleanup(database: Database) {
    await database.db.delete(actuals).where(eq(actuals.sensorId, sensor));
    await database.db.delete(models).where(eq(models.sensorId, sensor));
  }

  test("reads actuals from the server and writes the models row there", async () => {
    const server = await openDatabase({ url: postgresUrl });
    try {
      await cleanup(server);
      await insertActuals(server, sensor, 0, periodic(0, 300));
      const [result] = await retrainFromConfig({
        databaseUrl: postgresUrl.href,
        store: { localDir: join(dir, "models-pg") },
        scopes: [sensor],
        rows: 300,
        options: { ...small, epochs: 2 },
      });
      if (!result || "error" in result) throw new Error(result?.error.message ?? "no result");
      const rows = await server.db.select().from(models).where(eq(models.sensorId, sensor));
      expect(rows.map((r) => [r.version, r.promoted, r.decision])).toEqual([
        [result.version, result.promoted, result.reason],
      ]);
    } finally {
      await cleanup(server);
      await server.close();
    }
  });
});
