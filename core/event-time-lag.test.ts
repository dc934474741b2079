/**
 * core_window_event_time_lag_seconds: how far a sensor's event time had moved past a window's end when the
 * window was emitted. Unlike the emit delay (processing time, live data only), it has values for a replay of
 * old data, which is what the demo runs.
 */
import { expect, test } from "bun:test";
import type { ReadingsRecord, WindowRecord } from "@energy/contracts/records.ts";
import {
  BatchAcks,
  type BatchHandler,
  GroupedMessage,
  type KeyedRecord,
  type RecordLog,
} from "@energy/logs/log.ts";
import { coreMetrics } from "@energy/platform/metrics.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { Registry } from "prom-client";
import { createMemoryDeadLetterSink } from "./dead-letters.ts";
import { startWindowerStage } from "./windower.ts";

/** A log that hands records straight to the one subscriber and keeps what is published. */
function directLog<T>(name: string) {
  let handler: BatchHandler<T> | undefined;
  const published: T[] = [];
  const log: RecordLog<T> & { deliver(r: KeyedRecord<T>[]): Promise<void>; published: T[] } = {
    name,
    durable: false,
    published,
    async publish(records) {
      for (const r of records) published.push(r.value);
    },
    subscribe(_s: string, h: BatchHandler<T>) {
      handler = h;
      return { backlog: () => 0, pause: async () => {}, stop: async () => {} };
    },
    ready: () => true,
    close: async () => {},
    async deliver(records) {
      const acks = new BatchAcks(records.length);
      await handler!(records.map((r, i) => new GroupedMessage(r.key, r.value, acks, i)));
    },
  };
  return log;
}

// 2025 data replayed today: far beyond the emit delay's live horizon.
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0);
function readings(sensorId: number, fromS: number, toS: number) {
  const out = [];
  for (let s = fromS; s < toS; s++)
    out.push({ sensorId, eventTimeMs: t0 + s * 1000, value: s, createdAtMs: undefined });
  return out;
}

test("replayed windows record their event-time lag; the live emit delay stays empty", async () => {
  const registry = new Registry();
  const metrics = coreMetrics(registry);
  const readingsLog = directLog<ReadingsRecord>("readings");
  const windowsLog = directLog<WindowRecord>("windows");
  const stage = startWindowerStage({
    readingsLog,
    windowsLog,
    deadLetters: createMemoryDeadLetterSink(),
    metrics,
    logger: silent,
    window: { allowedLatenessMs: 5_000, idleTimeoutMs: 3_600_000 },
    tickMs: 10,
  });
  // Sensor 1 streams 59 of the minute's 60 seconds (a full window would be emitted at once, lag 0): the
  // reading at 66 s moves its watermark to 61 s and closes [0, 60): lag 6 s.
  await readingsLog.deliver([{ key: "1", value: { sensorId: 1, readings: readings(1, 0, 59) } }]);
  await readingsLog.deliver([{ key: "1", value: { sensorId: 1, readings: readings(1, 60, 67) } }]);
  // Sensor 2 sends a complete batch: its watermark promise is the window's end, lag 0.
  await readingsLog.deliver([
    { key: "2", value: { sensorId: 2, readings: readings(2, 0, 60), watermarkMs: t0 + 60_000 } },
  ]);
  const deadline = Date.now() + 5_000;
  while (windowsLog.published.length < 2 && Date.now() < deadline) await Bun.sleep(10);
  expect(windowsLog.published.map((w) => w.sensorId).sort()).toEqual([1, 2]);

  const lag = (await metrics.windowEventTimeLag.get()).values;
  const bucket = (le: number) => lag.find((v) => v.labels.le === le)?.value;
  expect(lag.find((v) => v.metricName?.endsWith("_count"))?.value).toBe(2);
  expect(lag.find((v) => v.metricName?.endsWith("_sum"))?.value).toBe(6);
  expect(bucket(0.005)).toBe(1); // the complete batch
  expect(bucket(5.75)).toBe(1);
  expect(bucket(6)).toBe(2); // the streaming window, in the 5.75–6 s bucket
  const emit = (await metrics.windowEmitDelay.get()).values;
  expect(emit.find((v) => v.metricName?.endsWith("_count"))?.value).toBe(0);
  await stage.stop();
});
