import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { type Database, openDatabase } from "../db/client.ts";
import { createOpsApp } from "../http.ts";
import { coreMetrics, createRegistry } from "../metrics.ts";
import {
  forecastBandColumns,
  readDeadLettersByReason,
  readForecastsMadeSince,
  readLatestWindows,
  readSensors,
  readSeries,
  readTotals,
} from "./data.ts";
import { parseMinutes, parseSensorList, uiRoutes } from "./routes.ts";

const t0 = Date.parse("2025-12-08T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("web page data on the embedded database", () => {
  let database: Database;

  beforeAll(async () => {
    database = await openDatabase({ embeddedDir: "memory://" });
    const db = database.db;
    // Start from a schema without the interval columns (migration 0002): the page must read both; the band
    // test adds them back.
    await db.execute(
      sql`alter table forecasts drop column value_p10, drop column value_p90, drop column model_kind`,
    );
    // Sensor 7: two windows; actuals for the last 3 minutes; forecasts from two versions for the same seconds.
    for (const [i, mean] of [
      [0, 100],
      [1, 200],
    ] as const) {
      const start = t0 + i * 60_000;
      await db.execute(sql`
        insert into windows (sensor_id, window_start, window_end, count, sum, mean, min, max, first_event,
          last_event, slots, imputed, imputed_count, duplicates, emitted_at)
        values (7, ${iso(start)}, ${iso(start + 60_000)}, 60, ${mean * 60}, ${mean}, ${mean - 1}, ${mean + 1},
          ${iso(start)}, ${iso(start + 59_000)}, '{}', '{}', ${i}, 0, now())`);
    }
    for (let s = 0; s < 180; s++) {
      await db.execute(sql`insert into actuals values (7, ${iso(t0 + s * 1000)}, ${s}, ${s % 60 === 0})`);
    }
    for (let s = 170; s < 190; s++) {
      await db.execute(sql`insert into forecasts (sensor_id, target_ts, model_version, value, origin_ts, made_at)
        values (7, ${iso(t0 + s * 1000)}, 'baseline-persistence', 1, ${iso(t0)}, ${iso(t0 + 1000)}),
               (7, ${iso(t0 + s * 1000)}, 'v2', ${s * 2}, ${iso(t0)}, ${iso(t0 + 2000)})`);
    }
    await db.execute(sql`insert into dead_letters (source, reason, detail, raw, received_at)
      values ('mqtt', 'late', 'x', '\\x00', now()), ('mqtt', 'late', 'y', '\\x00', now()),
             ('mqtt', 'bad-json', 'z', '\\x00', now())`);
  }, 180_000);

  afterAll(async () => {
    await database?.close();
  });

  test("totals, sensors, dead letters and latest windows are the table's", async () => {
    const db = database.db;
    expect(await readTotals(db)).toEqual({
      windows: 2,
      actuals: 180,
      forecasts: 40,
      deadLetters: 3,
      sensors: 1,
    });
    expect(await readSensors(db)).toEqual([
      { sensorId: 7, windows: 2, lastWindowEnd: t0 + 120_000, lastMean: 200 },
    ]);
    expect(await readDeadLettersByReason(db)).toEqual({ "bad-json": 1, late: 2 });
    // The demo's per-run summary: rows made from a moment on (each version made its rows at one time).
    expect(await readForecastsMadeSince(db, new Date(t0 + 1500))).toEqual({ v2: 20 });
    expect(await readForecastsMadeSince(db, new Date(t0))).toEqual({ "baseline-persistence": 20, v2: 20 });
    const latest = await readLatestWindows(db, 1);
    expect(latest).toHaveLength(1);
    expect(latest[0]).toMatchObject({ sensorId: 7, windowStart: t0 + 60_000, mean: 200, imputedCount: 1 });
  });

  test("a series ends at the sensor's newest actual; the latest-made forecast wins per second", async () => {
    const db = database.db;
    const band = await forecastBandColumns(db);
    expect([...band]).toEqual([]);
    const s = await readSeries(db, 7, 1, band);
    // Last actual at t0+179 s; one minute back is (t0+119 s, t0+179 s].
    expect(s.actual.ts).toHaveLength(60);
    expect(s.actual.ts[0]).toBe(t0 + 120_000);
    expect(s.actual.value.at(-1)).toBe(179);
    expect(s.actual.imputed[0]).toBe(true);
    expect(s.forecast.ts).toHaveLength(20);
    expect(new Set(s.forecast.modelVersion)).toEqual(new Set(["v2"]));
    expect(s.forecast.value[0]).toBe(340);
    // No band columns: no band fields, rather than arrays of nulls the page would draw as a band.
    expect(s.forecast.p10).toBeUndefined();
    expect(s.forecast.modelKind).toBeUndefined();
  });

  test("an unknown sensor gives empty series, not an error", async () => {
    const s = await readSeries(database.db, 2 ** 31 - 1, 10, new Set());
    expect(s.actual.ts).toEqual([]);
    expect(s.forecast.ts).toEqual([]);
  });

  test("the band appears once the interval columns exist; rows without one give null", async () => {
    const db = database.db;
    await db.execute(sql`alter table forecasts add column value_p10 double precision,
      add column value_p90 double precision, add column model_kind text`);
    await db.execute(sql`update forecasts set value_p10 = value - 5, value_p90 = value + 5, model_kind = 'lstm'
      where model_version = 'v2' and target_ts > ${iso(t0 + 175_000)}`);
    const band = await forecastBandColumns(db);
    expect([...band].sort()).toEqual(["model_kind", "value_p10", "value_p90"]);
    const s = await readSeries(db, 7, 1, band);
    expect(s.forecast.p10).toHaveLength(20);
    expect(s.forecast.p10?.[0]).toBeNull();
    expect(s.forecast.p90?.at(-1)).toBe(189 * 2 + 5);
    expect(s.forecast.modelKind?.at(-1)).toBe("lstm");
    expect(s.forecast.modelKind?.[0]).toBeNull();

    // The API serves it as one JSON state, with this process's counters and readiness.
    const registry = createRegistry();
    const core = coreMetrics(registry);
    core.late.inc(4);
    const app = createOpsApp({
      service: "t",
      registry,
      checks: { edge: () => "finished", database: () => true },
      routes: uiRoutes({ db, registry }),
    });
    const res = await app.request("/api/ui/state?sensors=7&minutes=1");
    expect(res.status).toBe(200);
    const state = (await res.json()) as Record<string, unknown>;
    expect(state.totals).toMatchObject({ windows: 2, actuals: 180 });
    expect(state.run).toMatchObject({ late: 4, invalid: 0, actualsStored: null });
    expect(state.health).toEqual({
      ready: true,
      dependencies: { edge: "finished", database: "up" },
      reasons: {},
    });
    expect(state.band).toEqual(["value_p10", "value_p90", "model_kind"]);
    expect((state.series as { forecast: { p90: number[] } }[])[0]?.forecast.p90.at(-1)).toBe(383);
  });
});

describe("web page routes", () => {
  const registry = createRegistry();
  const app = createOpsApp({
    service: "t",
    registry,
    checks: {},
    // The database is never reached by these requests.
    routes: uiRoutes({ db: undefined as never, registry }),
  });

  test("/ redirects to the page; the page, its script and uPlot are served with their types", async () => {
    const root = await app.request("/");
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/ui/");
    const page = await app.request("/ui/");
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain('<script src="uPlot.js">');
    const uplot = await app.request("/ui/uPlot.js");
    expect(uplot.headers.get("content-type")).toContain("javascript");
    expect((await uplot.text()).length).toBeGreaterThan(10_000);
  });

  test("unknown or path-traversing asset names are 404", async () => {
    for (const path of ["/ui/nope.js", "/ui/..%2Fdata.ts", "/ui/%2e%2e/routes.ts", "/ui/app.js%00"]) {
      expect((await app.request(path)).status).toBe(404);
    }
  });

  test("bad query parameters are a 400 naming the value", async () => {
    for (const q of [
      "sensors=1,x",
      "sensors=-1",
      "sensors=1e3",
      "minutes=0",
      "minutes=NaN",
      "minutes=1e300",
    ]) {
      const res = await app.request(`/api/ui/state?${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/sensors|minutes/);
    }
  });

  test("sensor lists and minutes parse strictly", () => {
    expect(parseSensorList(undefined)).toEqual([]);
    expect(parseSensorList(" 3, 1,3 ")).toEqual([3, 1]);
    expect(parseSensorList("2147483648")).toMatch(/ids/);
    expect(parseSensorList("1,\u0000")).toMatch(/ids/);
    expect(parseMinutes(undefined)).toBe(10);
    expect(parseMinutes("1440")).toBe(1440);
    expect(parseMinutes("1441")).toMatch(/1–1440/);
    expect(parseMinutes("2.5")).toMatch(/integer/);
  });
});
