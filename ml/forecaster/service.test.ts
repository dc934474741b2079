/**
 * The forecaster end to end on the embedded default: an in-process windows log, PGlite, and a local model
 * store holding small models trained here (few epochs and a small hidden layer, so each takes well under a
 * second). Windows in → actuals and forecasts rows out, batching, hot reload, a corrupt promotion refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { actuals, forecasts, models } from "@energy/contracts/db/schema.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import { createMemoryLog, type RecordLog } from "@energy/logs/log.ts";
import { type Database, openDatabase } from "@energy/platform/db/client.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { sfc32 } from "@energy/platform/random.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { until } from "@energy/testing/until.ts";
import { and, asc, eq } from "drizzle-orm";
import type { Registry } from "prom-client";
import { bandAt, isBaselineVersion, originScale, persistenceVersion } from "../policy.ts";
import { defaultRetrainOptions, defaultRetrainRows } from "../retrain.ts";
import { readSeedCsv } from "../seed.ts";
import { artifactFromTraining } from "../store/artifact.ts";
import { ModelStore } from "../store/model-store.ts";
import type { ModelScope } from "../store/types.ts";
import { train } from "../train.ts";
import { baselineVersion } from "./baseline.ts";
import { forecasterOptions } from "./options.ts";
import { type Forecaster, startForecaster } from "./service.ts";

/** Errors the forecaster logged, to check why a model was refused. */
const loggedErrors: string[] = [];
const recording = {
  ...silent,
  error: (_msg: string, fields?: Record<string, unknown>) => void loggedErrors.push(String(fields?.error)),
  child: () => recording,
};
const seed = await readSeedCsv(
  new URL("../../data/seed/device_2_batch_data_2025-12-08.csv", import.meta.url).pathname,
);
const series = seed.values.subarray(0, 600);
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0);
const v2 = "20251208T000000Z-20251208T001000Z";
const v3 = "20251208T001000Z-20251208T002000Z";

/** A tiny model: enough to exercise ONNX serving, not to forecast well. */
async function saveModel(
  store: ModelStore,
  scope: ModelScope,
  version: string,
  seedNo: number,
  lookback = 60,
) {
  const result = train(series, { lookback, horizon: 60, hidden: 4, head: "direct", epochs: 1, seed: seedNo });
  const artifact = artifactFromTraining(result, series, { scope, version });
  await store.saveVersion(artifact);
  return artifact;
}

const promote = (store: ModelStore, scope: ModelScope, version: string) =>
  store.recordDecision(scope, {
    version,
    at: new Date().toISOString(),
    promoted: true,
    reason: "test",
    metrics: { mae: 1, rmse: 1, persistenceRmse: 1, skill: 0, origins: 1 },
  });

/** A window of the seed series at minute `minute`; slots in `gaps` are imputed with the window mean. */
function windowOf(sensorId: number, minute: number, gaps: number[] = []): WindowRecord {
  const values = Array.from(series.subarray(minute * 60, minute * 60 + 60));
  const measured = values.filter((_, i) => !gaps.includes(i));
  const mean = measured.reduce((s, v) => s + v, 0) / measured.length;
  const slots = values.map((v, i) => (gaps.includes(i) ? mean : v));
  const start = t0 + minute * 60_000;
  return {
    sensorId,
    windowStartMs: start,
    windowEndMs: start + 60_000,
    count: measured.length,
    sum: mean * measured.length,
    mean,
    min: Math.min(...measured),
    max: Math.max(...measured),
    firstEventMs: start,
    lastEventMs: start + 59_000,
    slots,
    imputed: values.map((_, i) => gaps.includes(i)),
    duplicates: 0,
    maxCreatedAtMs: Date.now(),
    emittedAtMs: Date.now(),
  };
}

/** Sum of a metric's samples matching `labels`; `name` may be a histogram's `_count` or `_sum` sample. */
async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const base = name.replace(/_(count|sum)$/, "");
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name || m.name === base);
  const values = (metric?.values ?? []) as {
    value: number;
    labels: Record<string, unknown>;
    metricName?: string;
  }[];
  return values
    .filter((v) => (v.metricName ?? metric?.name) === name)
    .filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))
    .reduce((s, v) => s + v.value, 0);
}

/** Waits until the forecaster has stored forecasts for `n` windows in total. */
function untilForecasts(registry: Registry, n: number) {
  return until(
    `${n} forecasts`,
    async () => (await metricValue(registry, "forecaster_forecasts_total")) >= n,
  );
}

const forecastRowsOf = (database: Database, sensorId: number, originMs: number) =>
  database.db
    .select()
    .from(forecasts)
    .where(and(eq(forecasts.sensorId, sensorId), eq(forecasts.originTs, new Date(originMs))))
    .orderBy(asc(forecasts.targetTs));

describe("forecaster on the embedded default", () => {
  let dir: string;
  let database: Database;
  let store: ModelStore;
  let windowsLog: RecordLog<WindowRecord>;
  let registry: Registry;
  let forecaster: Forecaster;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "forecaster-test-"));
    database = await openDatabase({ embeddedDir: "memory://" });
    store = await ModelStore.open({ localDir: dir });
    await saveModel(store, "shared", "initial", 1);
    await promote(store, "shared", "initial");
    windowsLog = createMemoryLog<WindowRecord>("windows", { logger: silent });
    registry = createRegistry();
    forecaster = await startForecaster({
      windowsLog,
      database,
      store,
      registry,
      logger: recording,
      bootstrap: false,
      // Short, so the hot-reload tests see the poll itself pick up a promotion.
      modelPollIntervalMs: 200,
    });
    // Generous: PGlite start-up and onnxruntime's first session take seconds on a loaded 2-core machine.
  }, 60_000);

  afterAll(async () => {
    await forecaster?.stop();
    await windowsLog?.close();
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("windows of several sensors in one batch → actuals and forecasts, one batched inference", async () => {
    expect(forecaster.servingVersions()).toEqual({ shared: "initial" });
    expect(await forecaster.checks.model!()).toBe(true);
    const windows = [windowOf(1, 0, [0, 13, 59]), windowOf(2, 0), windowOf(3, 1, [30])];
    await windowsLog.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));
    await untilForecasts(registry, 3);

    const stored = await database.db
      .select()
      .from(actuals)
      .where(eq(actuals.sensorId, 1))
      .orderBy(asc(actuals.ts));
    expect(stored).toHaveLength(60);
    expect(stored.map((r) => r.ts.getTime())).toEqual(windows[0]!.slots.map((_, i) => t0 + i * 1000));
    expect(stored.filter((r) => r.imputed).map((r) => (r.ts.getTime() - t0) / 1000)).toEqual([0, 13, 59]);
    expect(stored[13]!.value).toBeCloseTo(windows[0]!.mean, 9);
    expect(stored[14]!.value).toBe(series[14]!);
    expect(await database.db.$count(actuals)).toBe(180);

    for (const w of windows) {
      const rows = await forecastRowsOf(database, w.sensorId, w.windowStartMs);
      expect(rows).toHaveLength(60);
      expect(rows.map((r) => r.targetTs.getTime())).toEqual(rows.map((_, i) => w.windowEndMs + i * 1000));
      expect(new Set(rows.map((r) => r.modelVersion))).toEqual(new Set(["initial"]));
      // Served by the model, not the persistence baseline: not all 60 values are the same.
      expect(new Set(rows.map((r) => r.value)).size).toBeGreaterThan(1);
      expect(rows.every((r) => Number.isFinite(r.value))).toBe(true);
    }
    // One onnxruntime call for the three sensors.
    expect(await metricValue(registry, "forecaster_batch_sensors_count")).toBe(1);
    expect(await metricValue(registry, "forecaster_batch_sensors_sum")).toBe(3);
    expect(await metricValue(registry, "forecaster_inference_seconds_count")).toBe(1);
    expect(await metricValue(registry, "forecaster_forecasts_total", { model: "shared" })).toBe(3);
    expect(await metricValue(registry, "forecaster_actuals_stored_total")).toBe(180);
    expect(await metricValue(registry, "pipeline_end_to_end_seconds_count")).toBe(3);
    expect(
      await metricValue(registry, "forecaster_model_version_info", { scope: "shared", version: "initial" }),
    ).toBe(1);
  });

  test("a redelivered window upserts, even twice in one batch: no duplicate rows", async () => {
    const w = windowOf(1, 0, [0, 13, 59]);
    // One batch holding the window twice: a single upsert statement must not touch a row twice.
    await windowsLog.publish([
      { key: "1", value: w },
      { key: "1", value: w },
    ]);
    await untilForecasts(registry, 5);
    expect(await metricValue(registry, "forecaster_errors_total", { stage: "store" })).toBe(0);
    expect(await database.db.$count(actuals, eq(actuals.sensorId, 1))).toBe(60);
    expect(await forecastRowsOf(database, 1, w.windowStartMs)).toHaveLength(60);
  });

  test("hot reload: a newly promoted shared version serves without a restart", async () => {
    await saveModel(store, "shared", v2, 2);
    await promote(store, "shared", v2);
    await until(`shared ${v2} serving`, () => forecaster.servingVersions().shared === v2);
    const w = windowOf(4, 2);
    await windowsLog.publish([{ key: "4", value: w }]);
    await untilForecasts(registry, 6);
    const rows = await forecastRowsOf(database, 4, w.windowStartMs);
    expect(rows.map((r) => r.modelVersion)).toEqual(new Array(60).fill(v2));
    expect(await metricValue(registry, "forecaster_model_version_info", { version: v2 })).toBe(1);
    expect(await metricValue(registry, "forecaster_model_version_info", { version: "initial" })).toBe(0);
  });

  test("a corrupt promoted model is refused and counted once; the previous one keeps serving", async () => {
    await saveModel(store, "shared", v3, 3);
    // Flip bytes in the stored ONNX file: the size still matches, the SHA-256 does not.
    const path = join(dir, "shared", v3, "model.onnx");
    const bytes = await Bun.file(path).bytes();
    bytes.fill(0, 100, 200);
    await writeFile(path, bytes);
    await promote(store, "shared", v3);
    await until(
      "the corrupt model to be tried",
      async () => (await metricValue(registry, "forecaster_errors_total", { stage: "model_load" })) >= 1,
    );
    // Several more polls: not retried, not counted again, still serving v2.
    await Bun.sleep(700);
    expect(await metricValue(registry, "forecaster_errors_total", { stage: "model_load" })).toBe(1);
    expect(loggedErrors).toHaveLength(1);
    expect(loggedErrors[0]).toMatch(/model\.onnx has SHA-256 .* corrupt/);
    expect(forecaster.servingVersions().shared).toBe(v2);
    const w = windowOf(4, 3);
    await windowsLog.publish([{ key: "4", value: w }]);
    await untilForecasts(registry, 7);
    expect((await forecastRowsOf(database, 4, w.windowStartMs))[0]!.modelVersion).toBe(v2);
  });

  test("a model of the wrong shape (lookback 30) is refused; the previous one keeps serving", async () => {
    const v4 = "20251208T002000Z-20251208T003000Z";
    await saveModel(store, "shared", v4, 4, 30);
    await promote(store, "shared", v4);
    await until(
      "the wrong-shape model to be tried",
      async () => (await metricValue(registry, "forecaster_errors_total", { stage: "model_load" })) >= 2,
    );
    expect(loggedErrors.at(-1)).toMatch(/lookback 60, expected 30|lookback 30, expected 60/);
    expect(forecaster.servingVersions().shared).toBe(v2);
    expect(await forecaster.checks.model!()).toBe(true);
  });

  test("a sensor's own model serves it; the others keep the shared one", async () => {
    await saveModel(store, 5, "initial", 5);
    await promote(store, 5, "initial");
    // Sensor 5 must have been seen before its model is loaded.
    const first = windowOf(5, 4);
    await windowsLog.publish([{ key: "5", value: first }]);
    await untilForecasts(registry, 8);
    await until("sensor 5's model serving", () => forecaster.servingVersions()["5"] === "initial");
    const calls = await metricValue(registry, "forecaster_batch_sensors_count");
    const windows = [windowOf(5, 5), windowOf(6, 5)];
    await windowsLog.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));
    await untilForecasts(registry, 10);
    expect((await forecastRowsOf(database, 5, windows[0]!.windowStartMs))[0]!.modelVersion).toBe("initial");
    expect((await forecastRowsOf(database, 6, windows[1]!.windowStartMs))[0]!.modelVersion).toBe(v2);
    // Two models → two calls, one sensor each.
    expect((await metricValue(registry, "forecaster_batch_sensors_count")) - calls).toBe(2);
    expect(await metricValue(registry, "forecaster_forecasts_total", { model: "sensor" })).toBe(1);
    expect(await metricValue(registry, "forecaster_models_loaded")).toBe(2);
  });
  test("scheduled retraining runs in a worker, is decided against persistence and counted", async () => {
    // A second forecaster on the same store and rows, with the schedule on (its timer far away; run now).
    const retrainRegistry = createRegistry();
    const retraining = await startForecaster({
      windowsLog,
      database,
      store,
      registry: retrainRegistry,
      logger: silent,
      bootstrap: false,
      subscription: "retraining",
      retrain: {
        everyMs: 3_600_000,
        store: { localDir: dir },
        rows: 600,
        options: { epochs: 1, hidden: 4, head: "direct" },
      },
    });
    try {
      // It retrains the sensors it has seen that have a model of their own: sensor 5 (180 rows in actuals).
      const w = windowOf(5, 6);
      await windowsLog.publish([{ key: "5", value: w }]);
      await untilForecasts(retrainRegistry, 1);
      // 20 more minutes of sensor 5 (a random walk, where persistence is the best forecast), an hour later.
      const rng = sfc32(8);
      let level = 900;
      const walk = Array.from({ length: 1200 }, (_, k) => {
        level = Math.max(50, level + 10 * rng.normal());
        return { sensorId: 5, ts: new Date(t0 + 3_600_000 + k * 1000), value: level, imputed: false };
      });
      await database.db.insert(actuals).values(walk);
      await retraining.retrainNow();
      const count = (outcome: string) =>
        metricValue(retrainRegistry, "forecaster_retrains_total", { outcome });
      // sensor 5 (its latest 600 rows, the walk) and shared (whose parts include them): trained in the worker
      // and decided on minute-aligned tails — persistence wins both.
      expect(await count("rejected")).toBe(2);
      expect(await count("skipped")).toBe(0);
      expect(await count("failed")).toBe(0);
      const manifest = await store.readManifest(5);
      const decision = manifest!.history.at(-1)!;
      expect(decision.version).toMatch(/^\d{8}T\d{6}Z-\d{8}T\d{6}Z$/);
      expect(decision.serves).toBe(persistenceVersion);
      const [row] = await database.db.select().from(models).where(eq(models.version, decision.version));
      expect(row?.sensorId).toBe(5);
      expect(row?.decision).toBe(`${decision.reason} [serves ${persistenceVersion}]`);
      expect(row?.promoted).toBe(false);
      await retraining.reloadModels();
      expect(retraining.servingVersions()["5"]).toBe(persistenceVersion);
    } finally {
      await retraining.stop();
    }
  }, 60_000);
});

describe("forecaster without a model", () => {
  const seedCsv = new URL("../../data/seed/device_3_batch_data_2025-12-08.csv", import.meta.url).pathname;
  let dir: string;
  let database: Database;
  let windowsLog: RecordLog<WindowRecord>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "forecaster-bootstrap-"));
    database = await openDatabase({ embeddedDir: "memory://" });
    windowsLog = createMemoryLog<WindowRecord>("windows", { logger: silent });
  }, 60_000);

  afterAll(async () => {
    await windowsLog?.close();
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A forecaster on its own store and subscription; `prepare` fills the store before it starts. */
  const start = async (
    name: string,
    bootstrap: { rows: number; epochs: number; csvPath?: string } | false,
    options: { demoteAfterMs?: number; prepare?: (store: ModelStore) => Promise<void> } = {},
  ) => {
    const registry = createRegistry();
    const store = await ModelStore.open({ localDir: join(dir, name) });
    await options.prepare?.(store);
    const forecaster = await startForecaster({
      windowsLog,
      database,
      store,
      registry,
      logger: silent,
      bootstrap: bootstrap && { csvPath: seedCsv, ...bootstrap },
      subscription: name,
      ...(options.demoteAfterMs !== undefined ? { demoteAfterMs: options.demoteAfterMs } : {}),
    });
    return { forecaster, store, registry };
  };

  test("persistence serves, labelled as such: the last measured value, not the imputed mean", async () => {
    const { forecaster, registry } = await start("no-model", false);
    try {
      expect(await forecaster.checks.model!()).toBe(false);
      expect(await forecaster.bootstrapped).toBe("off");
      const w = windowOf(1, 0, [57, 58, 59]);
      await windowsLog.publish([{ key: "1", value: w }]);
      await untilForecasts(registry, 1);
      const rows = await forecastRowsOf(database, 1, w.windowStartMs);
      expect(rows).toHaveLength(60);
      expect(new Set(rows.map((r) => r.modelVersion))).toEqual(new Set([baselineVersion]));
      expect(new Set(rows.map((r) => r.value))).toEqual(new Set([series[56]!]));
      expect(await metricValue(registry, "forecaster_forecasts_total", { model: "baseline" })).toBe(1);
      expect(
        await metricValue(registry, "forecaster_model_version_info", {
          scope: "shared",
          version: baselineVersion,
        }),
      ).toBe(1);
    } finally {
      await forecaster.stop();
    }
  });

  test("a bootstrap model worse than persistence is refused: persistence serves, labelled, with its band", async () => {
    // A random walk: repeating the last value is the best forecast there is, so the model must lose.
    const rng = sfc32(21);
    let v = 1500;
    const lines = ["sensor_timestamp,sensor_id,sensor_energy_value"];
    for (let i = 0; i < 2400; i++) {
      v = Math.max(100, v + 20 * rng.normal());
      lines.push(`${1765152000 + i},3,${v.toFixed(1)}`);
    }
    const walkCsv = join(dir, "walk.csv");
    await Bun.write(walkCsv, `${lines.join("\n")}\n`);
    const { forecaster, store, registry } = await start("rejected", {
      csvPath: walkCsv,
      rows: 2400,
      epochs: 1,
    });
    try {
      expect(await forecaster.bootstrapped).toBe("rejected");
      expect(forecaster.servingVersions()).toEqual({ shared: persistenceVersion });
      expect(await forecaster.checks.model!()).toBe(true);
      const manifest = await store.readManifest("shared");
      expect(manifest?.promoted).toBe(persistenceVersion);
      expect(manifest?.interval?.p10).toHaveLength(60);
      const last = manifest!.history.at(-1)!;
      expect(last.promoted).toBe(false);
      expect(last.reason).toMatch(
        /^bootstrap \(.*\); MAE on \d+ minute-aligned origins: .* → persistence serves/,
      );
      expect(last.metrics.maeSkill!).toBeLessThan(0.02);
      // The refused model is stored (history), never loaded.
      expect(await store.hasVersion("shared", "initial")).toBe(true);

      const w = windowOf(2, 3);
      await windowsLog.publish([{ key: "2", value: w }]);
      await untilForecasts(registry, 1);
      const rows = await forecastRowsOf(database, 2, w.windowStartMs);
      expect(rows).toHaveLength(60);
      expect(new Set(rows.map((r) => r.modelVersion))).toEqual(new Set([persistenceVersion]));
      expect(new Set(rows.map((r) => r.modelKind))).toEqual(new Set(["persistence"]));
      // The stored band is the decision's, scaled by this window's own volatility.
      expect(manifest?.interval?.scale).toBe("window");
      const scale = originScale(w.slots);
      for (const [i, r] of rows.entries()) {
        const { lo, hi } = bandAt(manifest!.interval!, i, scale);
        expect(r.valueP10).toBeCloseTo(Math.max(0, r.value + lo), 6);
        expect(r.valueP90).toBeCloseTo(Math.max(0, r.value + hi), 6);
        expect(r.valueP10!).toBeLessThanOrEqual(r.valueP90!);
      }
      expect(await metricValue(registry, "forecaster_forecasts_total", { model: "shared" })).toBe(1);
    } finally {
      await forecaster.stop();
    }
  }, 60_000);

  test("a served model worse than persistence live is demoted: persistence serves, recorded in the manifest", async () => {
    // A deliberately bad shared model: absolute levels learnt 2,500 W above this sensor's.
    const elsewhere = Float64Array.from(series, (v) => v + 2500);
    const bad = train(elsewhere, { hidden: 4, epochs: 1, head: "direct", target: "absolute" });
    const { forecaster, store, registry } = await start("demote", false, {
      demoteAfterMs: 3 * 60_000,
      prepare: async (empty) => {
        await empty.saveVersion(
          artifactFromTraining(bad, elsewhere, { scope: "shared", version: "initial" }),
        );
        await promote(empty, "shared", "initial");
      },
    });
    try {
      expect(forecaster.servingVersions()).toEqual({ shared: "initial" });
      // Ten consecutive minutes of sensor 4, one batch each: each forecast is scored on the next window.
      for (let m = 0; m < 10; m++) {
        await windowsLog.publish([{ key: "4", value: windowOf(4, m) }]);
        await untilForecasts(registry, m + 1);
      }
      await until("the demotion", () => forecaster.servingVersions().shared === persistenceVersion);
      // Persistence serves before the manifest records why (service.ts's demote): wait for the record.
      const deadline = Date.now() + 10_000;
      while ((await store.readManifest("shared"))?.promoted !== persistenceVersion && Date.now() < deadline)
        await Bun.sleep(20);
      const manifest = await store.readManifest("shared");
      expect(manifest?.promoted).toBe(persistenceVersion);
      expect(manifest?.history.at(-1)?.reason).toMatch(
        /^demoted: live MAE [\d.]+ W > persistence [\d.]+ W for \d+ s/,
      );
      const liveMae = Number(
        /^demoted: live MAE ([\d.]+) W/.exec(manifest?.history.at(-1)?.reason ?? "")?.[1],
      );
      expect(liveMae).toBeGreaterThan(1000);
      // Persistence serves: the demoted model's live error is no longer exported (nothing to alert on).
      expect(
        await metricValue(registry, "forecaster_live_mae_watts", { scope: "shared", forecast: "served" }),
      ).toBe(0);
    } finally {
      await forecaster.stop();
    }
  }, 60_000);

  test("bootstrap with the default settings trains in a worker and the policy's winner serves", async () => {
    const { forecaster, store } = await start("trained", { rows: 1200, epochs: 20 });
    try {
      const outcome = await forecaster.bootstrapped;
      expect(["trained", "rejected"]).toContain(outcome);
      const manifest = await store.readManifest("shared");
      // The model if it won, else the baseline that beat it.
      if (outcome === "trained") expect(manifest?.promoted).toBe("initial");
      else expect(isBaselineVersion(manifest!.promoted!)).toBe(true);
      expect(forecaster.servingVersions().shared).toBe(manifest!.promoted!);
      expect(await forecaster.checks.model!()).toBe(true);
      expect(manifest?.history.at(-1)?.reason).toMatch(
        /^bootstrap \(\d+ values of .*one 300-s period of a tiled trace/,
      );
    } finally {
      await forecaster.stop();
    }
  }, 60_000);
});

test("the retrain option defaults equal ml/retrain.ts's (they are literals there to keep onnxruntime out)", () => {
  expect(forecasterOptions.retrainRows.default).toBe(String(defaultRetrainRows));
  expect(forecasterOptions.retrainEpochs.default).toBe(String(defaultRetrainOptions.epochs));
});
