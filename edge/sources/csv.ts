/**
 * Reads the study's sensor CSVs into readings. Two layouts exist in the study's repository: the batch files
 * (`sensor_timestamp,sensor_id,sensor_energy_value`, naive UTC strings or epoch seconds) and the disordered
 * replay files (`sensor_id,aprt_power,sensor_timestamp`, strings with a `+00` suffix); columns are found by
 * header name so either order works.
 */
import { readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { Reading } from "@energy/contracts/records.ts";

const timestampColumns = ["sensor_timestamp"];
const idColumns = ["sensor_id"];
const valueColumns = ["sensor_energy_value", "aprt_power"];

// Naive strings are UTC by the study's convention (PROVENANCE.md); an explicit offset is honoured.
const datePattern =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3})\d*)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const epochPattern = /^\d{1,12}(?:\.\d+)?$/;

/**
 * Parses one timestamp cell to epoch milliseconds, or undefined when it is not a timestamp.
 *
 * @example
 * parseSensorTimestamp("2025-12-08 00:00:01+00"); // 1765152001000
 * parseSensorTimestamp("1765152001"); // 1765152001000
 */
export function parseSensorTimestamp(raw: string): number | undefined {
  const text = raw.trim();
  if (epochPattern.test(text)) return Math.round(Number(text) * 1000);
  const m = datePattern.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  // Date.UTC rolls 2025-02-30 over into March; a calendar that does not round-trip is a bad cell.
  const check = new Date(ms);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23) {
    return undefined;
  }
  let offsetMs = 0;
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMs = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0")) * 60_000;
  }
  return ms + (frac ? Number(frac.padEnd(3, "0")) : 0) - offsetMs;
}

function columnIndex(header: string[], names: string[], file: string): number {
  const i = header.findIndex((h) => names.includes(h));
  if (i < 0) {
    throw new PipelineError(
      "validation",
      `${file}:1: header "${header.join(",")}" has no ${names.join(" or ")}`,
      {
        hint: "expected sensor_timestamp,sensor_id,sensor_energy_value or sensor_id,aprt_power,sensor_timestamp",
      },
    );
  }
  return i;
}

/**
 * Parses CSV text into readings in file order. Throws PipelineError("validation") naming the file and line
 * of the first bad row, because a silently skipped row would shift every count downstream.
 *
 * @example
 * parseSensorCsv("sensor_timestamp,sensor_id,sensor_energy_value\n1765152000,1,699.6\n", "a.csv");
 */
export function parseSensorCsv(text: string, file = "<csv>"): Reading[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = (lines[0] ?? "").split(",").map((h) => h.trim().toLowerCase());
  const tsAt = columnIndex(header, timestampColumns, file);
  const idAt = columnIndex(header, idColumns, file);
  const valueAt = columnIndex(header, valueColumns, file);
  const readings: Reading[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const where = `${file}:${i + 1}`;
    const cells = line.split(",");
    if (cells.length !== header.length) {
      throw new PipelineError(
        "validation",
        `${where}: expected ${header.length} columns, got ${cells.length} in "${line}"`,
      );
    }
    const rawId = cells[idAt]!.trim();
    const sensorId = Number(rawId);
    if (!/^\d+$/.test(rawId) || !Number.isSafeInteger(sensorId)) {
      throw new PipelineError("validation", `${where}: sensor_id "${rawId}" is not a non-negative integer`);
    }
    const rawTs = cells[tsAt]!;
    const eventTimeMs = parseSensorTimestamp(rawTs);
    if (eventTimeMs === undefined) {
      throw new PipelineError(
        "validation",
        `${where}: sensor_timestamp "${rawTs.trim()}" is not a timestamp`,
        {
          hint: "use YYYY-MM-DD HH:MM:SS (UTC), optionally with +00, or epoch seconds",
        },
      );
    }
    const rawValue = cells[valueAt]!.trim();
    const value = Number(rawValue);
    // Apparent power is a magnitude, so a negative value is a corrupt row, not a reading.
    if (rawValue === "" || !Number.isFinite(value) || value < 0) {
      throw new PipelineError(
        "validation",
        `${where}: value "${rawValue}" is not a finite non-negative number`,
      );
    }
    readings.push({ sensorId, eventTimeMs, value, createdAtMs: undefined });
  }
  return readings;
}

/** Reads and parses one CSV file. */
export async function readSensorCsv(path: string): Promise<Reading[]> {
  const file = Bun.file(path);
  if (!(await file.exists())) {
    throw new PipelineError("not-found", `CSV file "${path}" does not exist`);
  }
  return parseSensorCsv(await file.text(), basename(path));
}

export interface SensorTrace {
  sensorId: number;
  /** Readings in replay order (file order; files in name order). */
  readings: Reading[];
  /** True when event times never decrease, i.e. the file is an in-order trace rather than a disordered one. */
  ordered: boolean;
  /** Rows dropped because an earlier file already had this sensor and event time. */
  duplicates: number;
}

/**
 * Reads every `*.csv` in a directory and groups the readings by sensor. The seed directory holds sensor 1
 * twice (`60_batch_values.csv` is the first minute of `batch_values_input.csv`), so a sensor + event time
 * seen before is dropped rather than replayed twice.
 */
export async function readSensorCsvDir(dir: string): Promise<SensorTrace[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith(".csv")).sort();
  } catch (error) {
    throw new PipelineError("not-found", `CSV directory "${dir}" cannot be read`, { cause: error });
  }
  if (names.length === 0) throw new PipelineError("not-found", `CSV directory "${dir}" has no .csv files`);
  const traces = new Map<number, SensorTrace & { seen: Set<number> }>();
  for (const name of names) {
    for (const r of await readSensorCsv(join(dir, name))) {
      let trace = traces.get(r.sensorId);
      if (!trace) {
        trace = { sensorId: r.sensorId, readings: [], ordered: true, duplicates: 0, seen: new Set() };
        traces.set(r.sensorId, trace);
      }
      if (trace.seen.has(r.eventTimeMs)) {
        trace.duplicates++;
        continue;
      }
      trace.seen.add(r.eventTimeMs);
      const last = trace.readings.at(-1);
      if (last && r.eventTimeMs < last.eventTimeMs) trace.ordered = false;
      trace.readings.push(r);
    }
  }
  return [...traces.values()].sort((a, b) => a.sensorId - b.sensorId).map(({ seen: _, ...trace }) => trace);
}
