/**
 * Reader for the seed CSVs in data/seed (header `sensor_timestamp,sensor_id,sensor_energy_value`;
 * timestamps `YYYY-MM-DD HH:MM:SS` meant as UTC, or epoch seconds — see data/seed/PROVENANCE.md).
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";

export interface SeedSeries {
  sensorId: number;
  /** Epoch milliseconds, in file order. */
  timestampsMs: Float64Array;
  values: Float64Array;
}

function parseTimestamp(raw: string, where: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const ms = Date.parse(`${raw.replace(" ", "T")}${/[zZ]|[+-]\d\d(:?\d\d)?$/.test(raw) ? "" : "Z"}`);
  if (!Number.isFinite(ms))
    throw new PipelineError("validation", `${where}: timestamp "${raw}" is not valid`);
  return ms;
}

/** Parses one seed CSV's text; `source` names it in errors. */
export function parseSeedCsv(text: string, source = "seed CSV"): SeedSeries {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0]?.split(",").map((s) => s.trim()) ?? [];
  const ti = header.indexOf("sensor_timestamp");
  const si = header.indexOf("sensor_id");
  const vi = header.indexOf("sensor_energy_value");
  if (ti < 0 || si < 0 || vi < 0) {
    throw new PipelineError(
      "validation",
      `${source}: header "${lines[0]}" lacks sensor_timestamp, sensor_id or sensor_energy_value`,
    );
  }
  const n = lines.length - 1;
  const timestampsMs = new Float64Array(n);
  const values = new Float64Array(n);
  let sensorId = Number.NaN;
  for (let r = 0; r < n; r++) {
    const cells = lines[r + 1]!.split(",");
    const where = `${source} line ${r + 2}`;
    timestampsMs[r] = parseTimestamp(cells[ti]?.trim() ?? "", where);
    const v = Number(cells[vi]);
    if (!Number.isFinite(v))
      throw new PipelineError("validation", `${where}: value "${cells[vi]}" is not a number`);
    values[r] = v;
    if (r === 0) sensorId = Number(cells[si]);
  }
  return { sensorId, timestampsMs, values };
}

/** Reads and parses a seed CSV file. */
export async function readSeedCsv(path: string): Promise<SeedSeries> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new PipelineError("not-found", `seed file ${path} does not exist`);
  return parseSeedCsv(await file.text(), path);
}

/**
 * Every seed CSV in `dir`, the longest series per sensor (device 1 appears in two files), by sensor id.
 *
 * @example
 * const seeds = await readSeedDir("data/seed");
 */
export async function readSeedDir(dir: string): Promise<SeedSeries[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".csv")).sort();
  } catch (cause) {
    throw new PipelineError("not-found", `seed directory ${dir} cannot be read: ${errorMessage(cause)}`, {
      hint: "pass --seed-dir",
      cause,
    });
  }
  const bySensor = new Map<number, SeedSeries>();
  for (const file of files) {
    const series = await readSeedCsv(join(dir, file));
    const known = bySensor.get(series.sensorId);
    if (!known || known.values.length < series.values.length) bySensor.set(series.sensorId, series);
  }
  return [...bySensor.values()].sort((a, b) => a.sensorId - b.sensorId);
}
