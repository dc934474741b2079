/**
 * Retraining on the embedded database and a local model store through the serving policy: the candidate,
 * the serving model, persistence and the minute mean scored on the same minute-aligned held-out origins,
 * the winner served (a baseline when it wins), the recorded reasons, the `models` rows and the manifest.
 *
 * Epochs and hidden sizes are tiny to keep the suite fast on a shared machine. The promotion case uses a
 * smooth periodic sensor, which a small LSTM learns in a few epochs and where persistence is poor over a
 * 60-second horizon; the refusal case uses a random walk, where repeating the last value is the best
 * forecast there is, so any model must lose to persistence.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { actuals, models } from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import { type Database, openDatabase } from "@energy/platform/db/client.ts";
import { sfc32 } from "@energy/platform/random.ts";
import { postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { and, eq } from "drizzle-orm";
import { persistenceVersion } from "./policy.ts";
import {
  loadTrainingSeries,
  type RetrainOptions,
  type RetrainOutcome,
  retrainFromConfig,
  retrainScope,
} from "./retrain.ts";
import { artifactFromTraining } from "./store/artifact.ts";
import { initialVersion, ModelStore } from "./store/model-store.ts";
import { train } from "./train.ts";

// Training and PGlite start-up take seconds each on a loaded two-core machine; 5 s is too tight.
setDefaultTimeout(60_000);

const start = Date.parse("2025-12-08T00:00:00Z");
const periodicSensor = 9;
const walkSensor = 2;
const small: Partial<RetrainOptions> = { hidden: 8, epochs: 12, maxSamplesPerEpoch: 256 };
/** 40 minutes: the last quarter holds 10 minute-aligned origins, the policy's minimum evidence. */
const rows = 2400;

function randomWalk(count: number): number[] {
  const rng = sfc32(5);
  let v = 1200;
  return Array.from({ length: count }, () => {
    v = Math.max(100, v + 15 * rng.normal());
    return v;
  });
}

function periodic(from: number, count: number): number[] {
  const rng = sfc32(11 + from);
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
  await insertActuals(database, periodicSensor, 0, periodic(0, rows));
  await insertActuals(database, walkSensor, 0, randomWalk(rows));
}, 180_000); // PGlite's start and migrations take seconds on a loaded machine

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

/** A deliberately bad serving model for `scope`: absolute levels, one epoch, trained 2,500 W higher. */
async function serveBadModel(scope: number): Promise<void> {
  const elsewhere = Float64Array.from(periodic(0, 600), (v) => v + 2500);
  const bad = train(elsewhere, { hidden: 4, epochs: 1, head: "direct", target: "absolute" });
  await store.saveVersion(artifactFromTraining(bad, elsewhere, { scope, version: initialVersion }));
  await store.recordDecision(scope, {
    version: initialVersion,
    at: new Date().toISOString(),
    promoted: true,
    reason: "initial model",
    metrics: { mae: 0, rmse: 0, persistenceRmse: 0, skill: 0, origins: 0 },
  });
}

describe("retrainScope", () => {
  let first: RetrainOutcome;

  test("reads the latest rows in time order", async () => {
    const series = await loadTrainingSeries(database.db, periodicSensor, 100);
    expect(series.values.length).toBe(100);
    expect(series.timestampsMs[0]).toBe(start + (rows - 100) * 1000);
    expect(series.timestampsMs[99]).toBe(start + (rows - 1) * 1000);
    expect(series.imputed).toBe(2);
  });

  test("promotes a candidate that beats a deliberately bad serving model, persistence and the mean", async () => {
    await serveBadModel(periodicSensor);

    first = await retrainScope({ db: database.db, store, scope: periodicSensor, rows, options: small });
    expect(first.version).toBe("20251208T000000Z-20251208T003959Z");
    expect(first.trained).toBe(true);
    expect(first.current?.version).toBe(initialVersion);
    expect(first.metrics.origins).toBe(10);
    expect(first.metrics.mae).toBeLessThan(first.metrics.persistenceMae!);
    expect(first.metrics.mae).toBeLessThan(first.metrics.meanMae!);
    expect(first.metrics.mae).toBeLessThan(first.current!.mae!);
    expect(first.promoted).toBe(true);
    expect(first.serves).toBe(first.version);
    expect(first.reason).toMatch(
      /^retrained on 2400 rows; MAE on 10 minute-aligned origins: persistence [\d.]+, mean [\d.]+, serving initial [\d.]+, candidate \S+ [\d.]+ W → \S+ serves$/,
    );

    const manifest = await store.readManifest(periodicSensor);
    expect(manifest?.promoted).toBe(first.version);
    expect(manifest?.interval?.p10).toHaveLength(60);
    expect(manifest?.history.map((e) => [e.version, e.promoted])).toEqual([
      [initialVersion, true],
      [first.version, true],
    ]);
    const loaded = await store.loadPromoted(periodicSensor);
    expect(loaded?.meta.metrics).toEqual(first.metrics);
    expect(loaded?.meta.target).toBe("residual");
    expect(loaded?.meta.trainedFrom).toBe("2025-12-08T00:00:00.000Z");

    const row = await modelRow(periodicSensor, first.version);
    expect(row?.promoted).toBe(true);
    expect(row?.location).toBe(`${periodicSensor}/${first.version}/`);
    expect(row?.decision).toBe(`${first.reason} [serves ${first.version}]`);
    expect(row?.promotedAt).toBeInstanceOf(Date);
    expect(row?.metrics.currentMae).toBeCloseTo(first.current!.mae!, 6);
  });

  test("a model worse than persistence is refused and persistence serves, replacing a bad serving model", async () => {
    // The policy must not keep a bad serving model either.
    await serveBadModel(walkSensor);
    const outcome = await retrainScope({ db: database.db, store, scope: walkSensor, rows, options: small });
    expect(outcome.trained).toBe(true);
    expect(outcome.promoted).toBe(false);
    expect(outcome.serves).toBe(persistenceVersion);
    expect(outcome.metrics.maeSkill).toBeLessThan(0.02);
    expect(outcome.reason).toMatch(/→ persistence serves$/);
    const manifest = await store.readManifest(walkSensor);
    expect(manifest?.promoted).toBe(persistenceVersion);
    expect(manifest?.interval?.p90).toHaveLength(60);
    expect(await store.loadPromoted(walkSensor)).toBeNull();
    const row = await modelRow(walkSensor, outcome.version);
    expect(row?.promoted).toBe(false);
    expect(row?.decision).toBe(`${outcome.reason} [serves ${persistenceVersion}]`);
    // The refused version is kept (immutable, for comparison), just not served.
    expect(await store.listVersions(walkSensor)).toEqual([initialVersion, outcome.version]);
  });

  test("without new rows nothing is retrained", async () => {
    const again = await retrainScope({ db: database.db, store, scope: walkSensor, rows, options: small });
    expect(again.trained).toBe(false);
    expect(again.reason).toMatch(/already exists: no new rows/);
    expect((await store.readManifest(walkSensor))?.history).toHaveLength(2);
  });

  test("a corrupt serving model does not block a candidate that beats persistence", async () => {
    const sensor = 10;
    await insertActuals(database, sensor, 0, periodic(0, rows));
    const serving = artifactFromTraining(
      train(periodic(0, 600), { hidden: 2, epochs: 1 }),
      periodic(0, 600),
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

    const outcome = await retrainScope({ db: database.db, store, scope: sensor, rows, options: small });
    expect(outcome.current).toBeNull();
    expect(outcome.promoted).toBe(true);
    expect(outcome.reason).toMatch(/\(serving model initial could not be scored: .*truncated/);
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
    await insertActuals(seeded, 3, 0, periodic(0, 600));
    await insertActuals(seeded, 4, 0, periodic(40, 600));
    await seeded.close();

    const results = await retrainFromConfig({
      embeddedDir: pglite,
      store: { localDir: join(dir, "models") },
      scopes: ["shared", 5],
      rows: 600,
      options: { ...small, epochs: 2 },
    });
    expect(results).toHaveLength(2);
    const shared = results[0]!;
    if ("error" in shared) throw new Error(shared.error.message);
    expect(shared.scope).toBe("shared");
    expect(shared.rows).toBe(1200);
    // Two sensors' parts, scored separately: 2 origins each, too few for anything but persistence.
    expect(shared.serves).toBe(persistenceVersion);
    expect(shared.version).toBe("20251208T000000Z-20251208T000959Z");
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
      await insertActuals(server, sensor, 0, periodic(0, 600));
      const [result] = await retrainFromConfig({
        databaseUrl: postgresUrl.href,
        store: { localDir: join(dir, "models-pg") },
        scopes: [sensor],
        rows: 600,
        options: { ...small, epochs: 2 },
      });
      if (!result || "error" in result) throw new Error(result?.error.message ?? "no result");
      const rows = await server.db.select().from(models).where(eq(models.sensorId, sensor));
      expect(rows.map((r) => [r.version, r.promoted, r.decision])).toEqual([
        [result.version, result.promoted, `${result.reason} [serves ${result.serves}]`],
      ]);
    } finally {
      await cleanup(server);
      await server.close();
    }
  });
});
