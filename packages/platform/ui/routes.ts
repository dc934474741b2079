/**
 * The live web page, mounted on a process's ops server (`routes` of serveOps): `GET /` redirects to
 * `/ui/`, which serves a static page (no build step) and uPlot from node_modules; the page polls
 * `GET /api/ui/state` every few seconds. One JSON answer per poll keeps every number on screen from the same
 * moment, which is also what the browser test compares with the database.
 */
import { readFileSync } from "node:fs";
import type { Hono } from "hono";
import type { Registry } from "prom-client";
import type { Db } from "../db/client.ts";
import type { Readiness } from "../http.ts";
import {
  forecastBandColumns,
  readDeadLettersByReason,
  readLatestWindows,
  readSensors,
  readSeries,
  readTotals,
} from "./data.ts";

export interface UiOptions {
  /** The database, or a getter for a process that serves its ops port before the database is open. */
  db: Db | (() => Db | undefined);
  registry: Registry;
  /** Most sensors charted at once (a fleet of thousands would otherwise ask for thousands of series). */
  maxCharts?: number;
}

const pageDir = new URL("./page/", import.meta.url);
const assets: Record<string, { path: string; type: string }> = {
  "": { path: new URL("index.html", pageDir).pathname, type: "text/html; charset=utf-8" },
  "app.js": { path: new URL("app.js", pageDir).pathname, type: "text/javascript; charset=utf-8" },
  "style.css": { path: new URL("style.css", pageDir).pathname, type: "text/css; charset=utf-8" },
  "uPlot.js": {
    path: Bun.resolveSync("uplot/dist/uPlot.iife.min.js", import.meta.dir),
    type: "text/javascript; charset=utf-8",
  },
  "uPlot.css": {
    path: Bun.resolveSync("uplot/dist/uPlot.min.css", import.meta.dir),
    type: "text/css; charset=utf-8",
  },
};

/** The counters of this process since it started (the page labels them "this run"). */
const runCounters = {
  readings: "core_readings_total",
  invalid: "core_invalid_messages_total",
  late: "core_late_readings_total",
  duplicates: "core_duplicate_readings_total",
  windowsStored: "core_windows_stored_total",
  deadLetters: "core_dead_letters_total",
  storeErrors: "core_store_errors_total",
  actualsStored: "forecaster_actuals_stored_total",
  forecasts: "forecaster_forecasts_total",
  forecastErrors: "forecaster_errors_total",
} as const;

async function readCounters(registry: Registry): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const [key, name] of Object.entries(runCounters)) {
    const metric = registry.getSingleMetric(name);
    // null: this process has no such part (a core without the forecaster), not zero events.
    out[key] = metric ? (await metric.get()).values.reduce((n, v) => n + (v.value as number), 0) : null;
  }
  return out;
}

/** Parses `?sensors=1,2,3` into ids; anything else in the list is a 400, not a silent empty chart. */
export function parseSensorList(text: string | undefined): number[] | string {
  if (text === undefined || text.trim() === "") return [];
  const ids = text.split(",").map((s) => s.trim());
  for (const id of ids) {
    if (!/^\d{1,9}$/.test(id)) return `sensors must be comma-separated ids (0–999999999), got "${id}"`;
  }
  return [...new Set(ids.map(Number))];
}

export function parseMinutes(text: string | undefined): number | string {
  if (text === undefined || text === "") return 10;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1440) return `minutes must be an integer 1–1440, got "${text}"`;
  return n;
}

/** Adds the page and its API to an ops app. See the module comment. */
export function uiRoutes(options: UiOptions) {
  const maxCharts = options.maxCharts ?? 6;
  return (app: Hono, readiness: () => Promise<Readiness>) => {
    app.get("/", (c) => c.redirect("/ui/"));
    app.get("/ui", (c) => c.redirect("/ui/"));
    app.get("/ui/:file{[A-Za-z.]*}", (c) => {
      const asset = assets[c.req.param("file") ?? ""];
      if (!asset) return c.notFound();
      c.header("Content-Type", asset.type);
      c.header("Cache-Control", "no-cache");
      return c.body(readFileSync(asset.path));
    });
    app.get("/api/ui/state", async (c) => {
      const requested = parseSensorList(c.req.query("sensors"));
      const minutes = parseMinutes(c.req.query("minutes"));
      if (typeof requested === "string") return c.json({ error: requested }, 400);
      if (typeof minutes === "string") return c.json({ error: minutes }, 400);
      const db = typeof options.db === "function" ? options.db() : options.db;
      if (db === undefined) return c.json({ error: "starting: the database is not open yet" }, 503);
      // One read after another: PGlite serves one query at a time anyway, and a server gets few queries.
      const totals = await readTotals(db);
      const sensors = await readSensors(db);
      const band = await forecastBandColumns(db);
      const charted = (requested.length > 0 ? requested : sensors.map((s) => s.sensorId)).slice(0, maxCharts);
      const series = [];
      for (const id of charted) series.push(await readSeries(db, id, minutes, band));
      return c.json({
        at: Date.now(),
        minutes,
        totals,
        deadLettersByReason: await readDeadLettersByReason(db),
        sensors,
        series,
        band: [...band],
        latestWindows: await readLatestWindows(db, 12),
        run: await readCounters(options.registry),
        health: await readiness(),
      });
    });
  };
}
