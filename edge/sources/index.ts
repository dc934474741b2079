/**
 * Turns the agent's source options into one SensorStream per sensor: CSV replay or the synthetic generator,
 * optionally passed through the study's disordering.
 */
import type { Reading } from "@energy/contracts/records.ts";
import { readSensorCsvDir } from "./csv.ts";
import { DisorderedStream } from "./disorder.ts";
import { defaultGeneratorStartMs, SyntheticSensor, sensorIds } from "./generator.ts";
import { emitInReplayOrder, type SensorStream, streamFromEmissions } from "./stream.ts";

export interface SourceOptions {
  kind: "csv" | "generator";
  /** Directory of CSVs (kind csv). */
  csvDir?: string;
  /** Number of synthetic sensors, ids 1..n (kind generator). */
  sensors?: number;
  /** Readings per second per sensor (kind generator). */
  ratePerSecond?: number;
  /** Event time of the first reading; a CSV replay is shifted so its earliest reading lands here. */
  startMs?: number;
  /** Event-time span to replay from the start; omitted = the whole CSV, or endless for the generator. */
  durationMs?: number;
  seed?: number;
  /** Apply the study's drop/chunk/shuffle/defer workload. */
  disorder?: boolean;
}

function* shifted(readings: readonly Reading[], offsetMs: number, untilMs: number): Generator<Reading> {
  for (const r of readings) {
    const eventTimeMs = r.eventTimeMs + offsetMs;
    if (eventTimeMs >= untilMs) continue;
    yield offsetMs === 0 ? r : { ...r, eventTimeMs };
  }
}

/**
 * @example
 * const streams = await buildSensorStreams({ kind: "generator", sensors: 100, ratePerSecond: 1, durationMs: 600_000 });
 */
export async function buildSensorStreams(o: SourceOptions): Promise<SensorStream[]> {
  const seed = o.seed ?? 1;
  if (o.kind === "generator") {
    const startMs = o.startMs ?? defaultGeneratorStartMs;
    return sensorIds(o.sensors ?? 10).map((id) => {
      const sensor = new SyntheticSensor(id, {
        seed,
        ratePerSecond: o.ratePerSecond ?? 1,
        startMs,
        ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
      });
      return o.disorder
        ? streamFromEmissions(id, false, new DisorderedStream(sensor, { seed, sensorId: id }))
        : streamFromEmissions(id, true, emitInReplayOrder(sensor));
    });
  }

  const traces = await readSensorCsvDir(o.csvDir ?? "data/seed");
  let earliest = Number.POSITIVE_INFINITY;
  for (const t of traces) for (const r of t.readings) earliest = Math.min(earliest, r.eventTimeMs);
  const offsetMs = o.startMs === undefined ? 0 : o.startMs - earliest;
  const untilMs = o.durationMs === undefined ? Number.POSITIVE_INFINITY : earliest + offsetMs + o.durationMs;
  return traces.map((t) => {
    if (o.disorder) {
      // The disordering works minute by minute on an in-order trace.
      const sorted = t.ordered ? t.readings : [...t.readings].sort((a, b) => a.eventTimeMs - b.eventTimeMs);
      const source = shifted(sorted, offsetMs, untilMs);
      return streamFromEmissions(
        t.sensorId,
        false,
        new DisorderedStream(source, { seed, sensorId: t.sensorId }),
      );
    }
    return streamFromEmissions(
      t.sensorId,
      t.ordered,
      emitInReplayOrder(shifted(t.readings, offsetMs, untilMs)),
    );
  });
}
