/**
 * The product's central property, across the real encoders and parsers: the same readings sent by
 * streaming sensors (architecture A: one StreamingMessage each) and by smart batching sensors (B: the
 * edge's SensorBatcher) produce identical windows in the core, whatever the arrival order within the
 * allowed lateness. Pure: no broker, the messages go through JSON bytes exactly as on MQTT.
 */
import { describe, expect, test } from "bun:test";
import type { Reading, StreamingMessage, WindowRecord } from "@energy/contracts/records.ts";
import { parseSensorMessage } from "@energy/core/messages.ts";
import { TumblingWindower } from "@energy/core/window.ts";
import { SensorBatcher } from "@energy/edge/batcher.ts";
import { mulberry32, shuffle } from "@energy/platform/random.ts";

const encoder = new TextEncoder();
const latenessMs = 5_000;
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0);
const now = t0 + 3_600_000;

interface Delivery {
  topic: string;
  bytes: Uint8Array;
}

function workload(seed: number): Reading[] {
  const rng = mulberry32(seed);
  const readings: Reading[] = [];
  const sensors = 1 + Math.floor(rng() * 4);
  const seconds = 60 + Math.floor(rng() * 180);
  for (let id = 1; id <= sensors; id++) {
    for (let s = 0; s < seconds; s++) {
      if (rng() < 0.1) continue; // missing seconds → imputed slots
      const value = Math.round((500 + 1200 * rng()) * 10) / 10 + (rng() < 0.05 ? 1e-9 * rng() : 0);
      readings.push({ sensorId: id, eventTimeMs: t0 + s * 1000, value, createdAtMs: t0 + s * 1000 + 3 });
    }
  }
  return readings;
}

const streamingMessages = (readings: readonly Reading[]): Delivery[] =>
  readings.map((r) => {
    const m: StreamingMessage = {
      sensor_id: r.sensorId,
      sensor_energy_value: r.value,
      sensor_timestamp: r.eventTimeMs / 1000,
      message_creation_time: r.createdAtMs ?? 0,
    };
    return { topic: `sensors/${r.sensorId}/reading`, bytes: encoder.encode(JSON.stringify(m)) };
  });

function batchMessages(readings: readonly Reading[], maxReadings: number): Delivery[] {
  const batchers = new Map<number, SensorBatcher>();
  const out: Delivery[] = [];
  const send = (ms: readonly { sensor_id: number }[]) => {
    for (const m of ms)
      out.push({ topic: `sensors/${m.sensor_id}/batch`, bytes: encoder.encode(JSON.stringify(m)) });
  };
  for (const r of readings) {
    const b = batchers.get(r.sensorId) ?? new SensorBatcher(r.sensorId, { maxReadings });
    batchers.set(r.sensorId, b);
    send(b.add(r, r.createdAtMs ?? 0));
    send(b.flushDue(r.eventTimeMs, r.createdAtMs ?? 0));
  }
  for (const b of batchers.values()) send(b.flushAll(now));
  return out;
}

function windowsOf(deliveries: readonly Delivery[]): Omit<WindowRecord, "emittedAtMs" | "maxCreatedAtMs">[] {
  // A long idle timeout: arrival gaps in a test must not close windows (the idle rule has its own tests).
  const windower = new TumblingWindower({ allowedLatenessMs: latenessMs, idleTimeoutMs: 86_400_000 });
  const out: WindowRecord[] = [];
  for (const d of deliveries) {
    const parsed = parseSensorMessage(d.topic, d.bytes, now);
    expect(parsed.rejections).toEqual([]);
    for (const r of parsed.readings) expect(windower.add(r, now)).toBe("accepted");
    if (parsed.watermarkMs !== undefined && parsed.sensorId !== undefined)
      windower.advanceWatermark(parsed.sensorId, parsed.watermarkMs, now);
    out.push(...windower.drainClosed(now));
  }
  out.push(...windower.flush(now));
  return out
    .map(({ emittedAtMs: _e, maxCreatedAtMs: _c, ...w }) => w)
    .sort((a, b) => a.sensorId - b.sensorId || a.windowStartMs - b.windowStartMs);
}

/** Reorders deliveries of one sensor's stream so each arrives less than the allowed lateness late. */
function boundedShuffle(deliveries: readonly Delivery[], seed: number): Delivery[] {
  const rng = mulberry32(seed);
  const keyed = deliveries.map((d, i) => {
    const body = JSON.parse(new TextDecoder().decode(d.bytes)) as { sensor_timestamp: number };
    // Arrival time = event time + a delay below the lateness; sort by arrival.
    return { d, at: body.sensor_timestamp * 1000 + rng() * (latenessMs - 1), i };
  });
  return keyed.sort((a, b) => a.at - b.at || a.i - b.i).map((k) => k.d);
}

describe("architecture A and B produce identical windows", () => {
  test.each(Array.from({ length: 25 }, (_, i) => i + 1))("seed %i", (seed) => {
    const readings = workload(seed);
    const a = windowsOf(streamingMessages(readings));
    expect(a.length).toBeGreaterThan(0);
    // B with whole-minute batches, and with batches split by a small readings bound.
    expect(windowsOf(batchMessages(readings, 10_000))).toEqual(a);
    expect(windowsOf(batchMessages(readings, 7))).toEqual(a);
    // A, arriving out of order within the allowed lateness.
    const shuffled = boundedShuffle(streamingMessages(readings), seed);
    expect(shuffled).not.toEqual(streamingMessages(readings)); // the shuffle really reorders
    expect(windowsOf(shuffled)).toEqual(a);
    // B, batches of different sensors interleaved arbitrarily (per-sensor order kept, as MQTT does per topic).
    const perSensor = new Map<string, Delivery[]>();
    for (const d of batchMessages(readings, 10_000)) {
      const list = perSensor.get(d.topic) ?? [];
      list.push(d);
      perSensor.set(d.topic, list);
    }
    const rng = mulberry32(seed * 7);
    const queues = shuffle(rng, [...perSensor.values()]);
    const interleaved: Delivery[] = [];
    while (queues.some((q) => q.length > 0)) {
      const q = queues[Math.floor(rng() * queues.length)]!;
      const next = q.shift();
      if (next) interleaved.push(next);
    }
    expect(windowsOf(interleaved)).toEqual(a);
  });
});
