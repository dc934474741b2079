/**
 * The windowing stage's graceful stop, against a scripted log that records what happens in which order:
 * intake stops, windows are published, their records acked, and only then is the consumer closed (an ack
 * after the close never reaches Pulsar and the record comes back on restart).
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { ReadingsRecord, WindowRecord } from "@energy/contracts/records.ts";
import { windowCodec } from "@energy/contracts/window-schema.ts";
import {
  type AckGroup,
  type BatchHandler,
  GroupedMessage,
  type KeyedRecord,
  type LogMessage,
  type RecordLog,
  type Subscription,
} from "@energy/logs/log.ts";
import { createPulsarLog } from "@energy/logs/pulsar-log.ts";
import { readingsCodec } from "@energy/logs/readings-codec.ts";
import { coreMetrics } from "@energy/platform/metrics.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import { until } from "@energy/testing/until.ts";
import { Registry } from "prom-client";
import { createMemoryDeadLetterSink } from "./dead-letters.ts";
import { startWindowerStage } from "./windower.ts";

const pulsar = await pulsarForTests();

interface ScriptedLog<T> extends RecordLog<T> {
  /** Hands a batch to the subscription's handler, as the log's consumer would; acks log `ack {label} {i}`. */
  deliver(records: KeyedRecord<T>[], label?: string): Promise<void>;
  /** Every record published, in order. */
  readonly published: T[];
}

function scriptedLog<T>(name: string, durable: boolean, events: string[]): ScriptedLog<T> {
  let handler: BatchHandler<T> | undefined;
  const published: T[] = [];
  return {
    name,
    durable,
    published,
    async publish(records) {
      events.push(`${name}: publish ${records.map((r) => r.key).join(",")}`);
      for (const r of records) published.push(r.value);
    },
    subscribe(_subscription: string, h: BatchHandler<T>): Subscription {
      handler = h;
      return {
        backlog: () => 0,
        pause: async () => void events.push(`${name}: pause`),
        stop: async () => void events.push(`${name}: close consumer`),
      };
    },
    ready: () => true,
    close: async () => {},
    async deliver(records, label = "record") {
      // Every ack call is logged, a repeated one too: a test sees if the stage acks a record twice.
      const acks: AckGroup = {
        ack: (i) => void events.push(`${name}: ack ${label} ${i}`),
        acked: (i) => events.includes(`${name}: ack ${label} ${i}`),
      };
      const batch: LogMessage<T>[] = records.map((r, i) => new GroupedMessage(r.key, r.value, acks, i));
      await handler!(batch);
    },
  };
}

const t0 = Date.UTC(2025, 11, 8, 0, 0, 0);
function record(sensorId: number, fromS: number, toS: number): KeyedRecord<ReadingsRecord> {
  const readings = [];
  for (let s = fromS; s < toS; s++)
    readings.push({ sensorId, eventTimeMs: t0 + s * 1000, value: 100 + s, createdAtMs: undefined });
  return { key: String(sensorId), value: { sensorId, readings } };
}

function stage(
  durable: boolean,
  events: string[],
  overrides: Partial<Parameters<typeof startWindowerStage>[0]> = {},
) {
  const readingsLog = scriptedLog<ReadingsRecord>("readings", durable, events);
  const windowsLog = scriptedLog<WindowRecord>("windows", durable, events);
  const deadLetters = createMemoryDeadLetterSink();
  const registry = new Registry();
  const windower = startWindowerStage({
    readingsLog,
    windowsLog,
    deadLetters,
    metrics: coreMetrics(registry),
    logger: silent,
    window: { allowedLatenessMs: 5_000, idleTimeoutMs: 3_600_000 },
    tickMs: 60_000,
    ...overrides,
  });
  return { readingsLog, windowsLog, windower, deadLetters, registry };
}

describe("windower stage, graceful stop", () => {
  test("in-process log: intake stops, open windows are published, then the consumer closes (nothing kept to ack)", async () => {
    const events: string[] = [];
    const { readingsLog, windower } = stage(false, events);
    await readingsLog.deliver([record(1, 0, 30), record(2, 0, 10)]);
    expect(events).toEqual([]); // both windows open: nothing published or acked yet
    await windower.stop();
    // The in-process log redelivers nothing, so the stage keeps no records for it (at 10,000 streaming
    // sensors they cost ~1 GB) and acks none.
    expect(events).toEqual(["readings: pause", "windows: publish 1,2", "readings: close consumer"]);
  });

  test("durable log: closed windows are published and acked before the close; open ones are left for the next process", async () => {
    const events: string[] = [];
    const { readingsLog, windower } = stage(true, events);
    // Sensor 1's minute 0 closes (its watermark passes 60 s at 66 s); minute 1 stays open, as does sensor 2's.
    await readingsLog.deliver([record(1, 0, 60), record(1, 60, 66), record(2, 0, 10)]);
    expect(events).toEqual(["windows: publish 1", "readings: ack record 0"]);
    events.length = 0;
    await windower.stop();
    // Records 1 and 2 stay unacknowledged: Pulsar redelivers them and the next core completes those minutes.
    expect(events).toEqual(["readings: pause", "readings: close consumer"]);
  });
});

describe("windower stage, emissions before final and acks", () => {
  test("durable log: every record is acked once, when its window is final, across many batches and sensors", async () => {
    const events: string[] = [];
    const { readingsLog, windower } = stage(true, events);
    // One batch a second, a record per sensor in each: 131 records a sensor, so a sensor's queue of
    // un-acked records grows and is taken from many times.
    const sensors = [1, 2, 3];
    for (let s = 0; s <= 130; s++)
      await readingsLog.deliver(
        sensors.map((id) => record(id, s, s + 1)),
        `b${s}`,
      );
    const acks = events.filter((e) => e.startsWith("readings: ack"));
    // Minutes 0 and 1 are final (watermark 130 s ≥ 120 s + 5 s lateness); minute 2 is open.
    const expected = [];
    for (let s = 0; s < 120; s++)
      for (let i = 0; i < sensors.length; i++) expected.push(`readings: ack b${s} ${i}`);
    expect(acks.toSorted()).toEqual(expected.toSorted());
    await windower.stop();
    expect(events.filter((e) => e.startsWith("readings: ack")).length).toBe(expected.length);
  });

  test("an idle emission acks nothing; the final one, with the readings that came after it, acks", async () => {
    const events: string[] = [];
    const { readingsLog, windowsLog, windower } = stage(true, events, {
      window: { allowedLatenessMs: 5_000, idleTimeoutMs: 200 },
      tickMs: 10,
    });
    await readingsLog.deliver([record(1, 0, 30)], "a");
    await until("the idle emission", () => windowsLog.published.length === 1);
    await Bun.sleep(100);
    expect(events).toEqual(["windows: publish 1"]); // emitted, not acked: a crash replays the record
    expect(windowsLog.published[0]!.count).toBe(30);
    // The rest of the minute arrives after the idle emission (a stall upstream, a slow sensor): not late.
    await readingsLog.deliver([record(1, 30, 60), record(1, 60, 66)], "b");
    await until("the final emission", () => windowsLog.published.length === 2);
    expect(windowsLog.published[1]!.count).toBe(60);
    await until("the acks", () => events.length === 4);
    expect(events.slice(1)).toEqual(["windows: publish 1", "readings: ack a 0", "readings: ack b 0"]);
    expect(windower.stats().lateTotal).toBe(0);
    await windower.stop();
  });

  test("while the input is not live (upstream down) no sensor goes idle, however long the silence", async () => {
    const events: string[] = [];
    let live = false;
    const { readingsLog, windowsLog, windower } = stage(true, events, {
      window: { allowedLatenessMs: 5_000, idleTimeoutMs: 100 },
      tickMs: 10,
      inputLive: () => live,
    });
    await readingsLog.deliver([record(1, 0, 30)]);
    await Bun.sleep(500);
    expect(windowsLog.published).toEqual([]);
    live = true;
    await until("the idle emission", () => windowsLog.published.length === 1);
    await windower.stop();
  });

  test("a silent sensor is evicted: its window becomes final, its records are acked, the gauge drops", async () => {
    const events: string[] = [];
    const { readingsLog, windowsLog, windower, registry } = stage(true, events, {
      window: { allowedLatenessMs: 5_000, idleTimeoutMs: 100, sensorEvictAfterMs: 300 },
      tickMs: 10,
    });
    await readingsLog.deliver([record(1, 0, 30), record(1, 30, 40)]);
    expect((await registry.getSingleMetric("core_sensors_tracked")!.get()).values[0]!.value).toBe(1);
    await until("the acks", () => events.includes("readings: ack record 1"));
    expect(events).toEqual(["windows: publish 1", "readings: ack record 0", "readings: ack record 1"]);
    expect(windowsLog.published.map((w) => w.count)).toEqual([40]);
    expect(windower.stats()).toMatchObject({ sensors: 0, evictedTotal: 1, openWindows: 0 });
    expect((await registry.getSingleMetric("core_sensors_tracked")!.get()).values[0]!.value).toBe(0);
    await windower.stop();
  });

  test("many records of two sensors over minutes: exactly those of final windows are acked, each once, in order", async () => {
    const events: string[] = [];
    const { readingsLog, windower } = stage(true, events);
    // One reading per record, per second, for 200 s; sensor 2 stops at 100 s (its minute 1 stays open).
    // Batches of 10 records per sensor: the per-sensor queue is taken from and trimmed many times.
    for (let b = 0; b < 20; b++) {
      const records = [];
      for (let s = b * 10; s < b * 10 + 10; s++) {
        records.push(record(1, s, s + 1));
        if (s < 100) records.push(record(2, s, s + 1));
      }
      await readingsLog.deliver(records, `b${b}`);
    }
    // The record each ack is of, as (sensor, second).
    const acked = events
      .filter((e) => e.startsWith("readings: ack"))
      .map((e) => {
        const [, b, i] = /ack b(\d+) (\d+)$/.exec(e)!.map(Number) as [number, number, number];
        const perBatch = b < 10 ? 2 : 1;
        return [b < 10 ? 1 + (i % 2) : 1, b * 10 + Math.floor(i / perBatch)] as const;
      });
    // Sensor 1's newest reading is at 199 s: minutes 0-2 are final (before 180 s less 5 s lateness);
    // sensor 2's newest at 99 s: minute 0 only.
    const of = (sensor: number) => acked.filter(([s]) => s === sensor).map(([, second]) => second);
    expect(of(1)).toEqual(Array.from({ length: 180 }, (_, s) => s));
    expect(of(2)).toEqual(Array.from({ length: 60 }, (_, s) => s));
    await windower.stop();
  });

  test("readings of a sensor beyond maxSensors are dead-lettered as too_many_sensors, counted, and acked", async () => {
    const events: string[] = [];
    const { readingsLog, windower, deadLetters, registry } = stage(true, events, {
      window: { allowedLatenessMs: 5_000, idleTimeoutMs: 3_600_000, maxSensors: 1 },
    });
    await readingsLog.deliver([record(1, 0, 5), record(2, 0, 5)]);
    expect(events).toEqual(["readings: ack record 1"]); // sensor 1's window is open: record 0 waits
    const letters = (deadLetters as ReturnType<typeof createMemoryDeadLetterSink>).letters;
    expect(letters.map((l) => [l.source, l.reason])).toEqual(
      Array.from({ length: 5 }, () => ["windower/sensor/2", "too_many_sensors"]),
    );
    expect(letters[0]!.detail).toMatch(/1 sensors are tracked already \(MAX_SENSORS\)/);
    const invalid = await registry.getSingleMetric("core_invalid_messages_total")!.get();
    expect(invalid.values.filter((v) => v.value > 0)).toEqual([
      { value: 5, labels: { reason: "too_many_sensors" } },
    ]);
    expect(windower.stats().tooManySensorsTotal).toBe(5);
    await windower.stop();
  });
});

describe.skipIf(!pulsar)("windower stage on a real Pulsar, graceful restart", () => {
  const readingsTopic = uniqueTopic("windower-readings");
  const windowsTopic = uniqueTopic("windower-windows");
  const closers: Array<() => Promise<void>> = [];

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const topic of [readingsTopic, windowsTopic]) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  const openLogs = async () => {
    const common = {
      url: pulsar!.url,
      partitions: 2,
      ackFlushMs: 300,
      deadLetters: createMemoryDeadLetterSink(),
    };
    const readingsLog = await createPulsarLog<ReadingsRecord>({
      ...common,
      name: "readings",
      topic: readingsTopic,
      codec: readingsCodec,
    });
    const windowsLog = await createPulsarLog<WindowRecord>({
      ...common,
      name: "windows",
      topic: windowsTopic,
      codec: windowCodec,
    });
    closers.push(
      () => readingsLog.close(),
      () => windowsLog.close(),
    );
    return { readingsLog, windowsLog };
  };
  const startStage = (logs: Awaited<ReturnType<typeof openLogs>>) =>
    startWindowerStage({
      ...logs,
      deadLetters: createMemoryDeadLetterSink(),
      metrics: coreMetrics(new Registry()),
      logger: silent,
      window: { allowedLatenessMs: 5_000, idleTimeoutMs: 600_000 },
    });

  test("a window open at the stop is completed by the next process, and a closed one is not emitted again", async () => {
    const emitted: WindowRecord[] = [];
    const sink = await openLogs();
    sink.windowsLog.subscribe("collector", async (batch) => {
      for (const m of batch) {
        emitted.push(m.value);
        m.ack();
      }
    });
    // First process: sensor 2's minute 0 closes (its watermark reaches 65 s); sensor 1's minute 0 is open.
    const first = await openLogs();
    const stageA = startStage(first);
    await first.readingsLog.publish([record(1, 0, 41), record(2, 0, 60), record(2, 60, 71)]);
    await until("sensor 2's minute 0", () => emitted.some((w) => w.sensorId === 2));
    await stageA.stop();
    await first.readingsLog.close();
    await first.windowsLog.close();

    // Second process on the same subscription: the rest of sensor 1's minute, and a reading that closes it.
    const second = await openLogs();
    const stageB = startStage(second);
    await second.readingsLog.publish([record(1, 41, 60), record(1, 60, 67)]);
    await until("sensor 1's minute 0", () => emitted.some((w) => w.sensorId === 1));
    await Bun.sleep(500); // time for a wrongly redelivered record to produce a second emission
    await stageB.stop();

    const minute0 = emitted.filter((w) => w.windowStartMs === t0);
    expect(minute0.map((w) => [w.sensorId, w.count]).sort()).toEqual([
      [1, 60],
      [2, 60],
    ]);
  }, 40_000);
});

describe("windower stage, window store beside the windows log", () => {
  test("a store that fails is retried on its own: the windows are published once, stored once it recovers, and only then are their records acked", async () => {
    const events: string[] = [];
    let failures = 2;
    const stored: WindowRecord[][] = [];
    const { readingsLog, windowsLog, windower } = stage(true, events, {
      store: {
        async save(windows) {
          if (failures-- > 0) {
            events.push("store: refused");
            throw new Error("connection refused");
          }
          events.push(`store: save ${windows.map((w) => w.sensorId).join(",")}`);
          stored.push([...windows]);
        },
      },
    });
    // Sensor 1's minute 0 closes (watermark 66 − 5 s passes its end); its records are acked only once stored.
    await readingsLog.deliver([record(1, 0, 60), record(1, 60, 66)]);
    expect(events).toEqual([
      "windows: publish 1",
      "store: refused",
      "store: refused",
      "store: save 1",
      "readings: ack record 0",
    ]);
    expect(windowsLog.published).toHaveLength(1);
    expect(stored.flat().map((w) => [w.sensorId, w.count])).toEqual([[1, 60]]);
    await windower.stop();
  }, 10_000);
});
