import { afterAll, describe, expect, test } from "bun:test";
import type { ReadingsRecord, WindowRecord } from "@energy/contracts/records.ts";
import { windowCodec, windowSchemaJson } from "@energy/contracts/window-schema.ts";
import { PulsarConsumer } from "@energy/pulsar/consumer.ts";
import { sampleWindow } from "@energy/testing/fixtures.ts";
import { collectDeadLetters, recordLogContract } from "@energy/testing/log-contract.ts";
import { pulsarForTests, startRelay, uniqueTopic } from "@energy/testing/pulsar.ts";
import { pulsarLogHarness } from "@energy/testing/pulsar-log-harness.ts";
import { until } from "@energy/testing/until.ts";
import avro from "avsc";
import type { LogMessage, RecordLog } from "./log.ts";
import { createPulsarLog, type PulsarLogOptions } from "./pulsar-log.ts";
import { readingsCodec } from "./readings-codec.ts";

const pulsar = await pulsarForTests();
const created: string[] = [];
const logs: RecordLog<unknown>[] = [];

describe.skipIf(!pulsar)("Pulsar log", () => {
  recordLogContract("Pulsar log", pulsarLogHarness(pulsar!));
});

async function windowsLog(topic: string, extra: { retryDelayMs?: number } = {}) {
  created.push(topic);
  const log = await createPulsarLog<WindowRecord>({
    name: "windows-test",
    topic,
    url: pulsar!.url,
    partitions: 3,
    codec: windowCodec,
    deadLetters: collectDeadLetters(),
    schema: { type: "AVRO", schema: windowSchemaJson },
    ackFlushMs: 300,
    ...extra,
  });
  logs.push(log as RecordLog<unknown>);
  return log;
}

/** A readings log on `topic` (JSON records); `track` = false leaves closing it to the test. */
async function readingsLog(
  name: string,
  topic: string,
  extra: Partial<PulsarLogOptions<ReadingsRecord>> = {},
  track = true,
) {
  if (track) created.push(topic);
  const log = await createPulsarLog<ReadingsRecord>({
    name,
    topic,
    url: pulsar!.url,
    partitions: 2,
    codec: readingsCodec,
    deadLetters: collectDeadLetters(),
    ...extra,
  });
  if (track) logs.push(log as RecordLog<unknown>);
  return log;
}

/** Resolves once `done()` holds, or rejects after `ms` naming what was awaited. */
describe.skipIf(!pulsar)("RecordLog on a real Pulsar", () => {
  afterAll(async () => {
    for (const log of logs) await log.close().catch(() => {});
    for (const topic of created) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("publish/subscribe round trip of Avro windows keeps per-key order; schema registered and readable by a foreign consumer", async () => {
    const topic = uniqueTopic("log-windows");
    const log = await windowsLog(topic);
    // the "foreign consumer": our raw client plus an avsc Type parsed from the registry's schema
    const foreign = await PulsarConsumer.subscribe({
      url: pulsar!.url,
      topic,
      subscription: "foreign",
      initialPosition: "Earliest",
    });
    const got: WindowRecord[] = [];
    const sub = log.subscribe("roundtrip", async (batch) => {
      for (const m of batch) {
        expect(m.key).toBe(String(m.value.sensorId));
        got.push(m.value);
        m.ack();
      }
    });
    await until("the subscription to connect", () => log.ready());
    const sent: WindowRecord[] = [];
    for (let minute = 0; minute < 10; minute++) {
      const batch = [1, 2, 3, 4, 5].map((s) => sampleWindow(s, 1_700_000_040_000 + minute * 60_000));
      sent.push(...batch);
      await log.publish(batch.map((w) => ({ key: String(w.sensorId), value: w })));
    }
    await until("all 50 windows", () => got.length >= sent.length);
    const byStart = (a: WindowRecord, b: WindowRecord) =>
      a.sensorId - b.sensorId || a.windowStartMs - b.windowStartMs;
    expect([...got].sort(byStart)).toEqual([...sent].sort(byStart));
    for (const s of [1, 2, 3, 4, 5]) {
      const starts = got.filter((w) => w.sensorId === s).map((w) => w.windowStartMs);
      expect(starts).toEqual([...starts].sort((a, b) => a - b));
    }

    const stored = await pulsar!.admin.getSchema(topic);
    expect(stored?.type).toBe("AVRO");
    expect(JSON.parse(stored!.schema)).toEqual(JSON.parse(windowSchemaJson));
    const theirType = avro.Type.forSchema(JSON.parse(stored!.schema));
    const message = await foreign.receive(10_000);
    foreign.ack(message);
    const theirs = theirType.fromBuffer(Buffer.from(message.payload));
    const original = sent.find(
      (w) => w.sensorId === theirs.sensor_id && w.windowStartMs === theirs.window_start,
    );
    expect(original).toBeDefined();
    expect(theirs.slots).toEqual(original!.slots);
    expect(theirs.imputed).toEqual(original!.imputed);
    expect(theirs.mean).toBe(original!.mean);
    expect(theirs.emitted_at).toBe(original!.emittedAtMs);
    await foreign.close();
    await sub.stop();
  }, 40_000);

  test("un-acked records come back to the next consumer of the subscription after stop (at-least-once)", async () => {
    const topic = uniqueTopic("log-redeliver");
    const log = await windowsLog(topic);
    const windows = Array.from({ length: 12 }, (_, i) =>
      sampleWindow(10 + (i % 4), 1_700_000_040_000 + i * 60_000),
    );
    await log.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));

    const seen: WindowRecord[] = [];
    let first = log.subscribe("at-least-once", async (batch) => {
      for (const m of batch) {
        seen.push(m.value);
        if (m.value.windowStartMs % 120_000 === 0) m.ack(); // ack every other minute only
      }
    });
    await until("the first delivery", () => seen.length >= windows.length);
    await first.stop();
    const acked = windows.filter((w) => w.windowStartMs % 120_000 === 0);
    const unacked = windows.filter((w) => w.windowStartMs % 120_000 !== 0);
    expect(acked.length).toBe(6);

    const again: WindowRecord[] = [];
    first = log.subscribe("at-least-once", async (batch) => {
      for (const m of batch) {
        again.push(m.value);
        m.ack();
      }
    });
    await until("the redelivery", () => again.length >= unacked.length);
    await Bun.sleep(1_000); // acked records must not come back
    const key = (w: WindowRecord) => `${w.sensorId}@${w.windowStartMs}`;
    expect(again.map(key).sort()).toEqual(unacked.map(key).sort());
    await first.stop();
  }, 40_000);

  test("a handler that throws gets the batch again", async () => {
    const topic = uniqueTopic("log-nack");
    const log = await windowsLog(topic, { retryDelayMs: 200 });
    const windows = [1, 2, 3].map((s) => sampleWindow(s, 1_700_000_040_000));
    let calls = 0;
    const delivered: LogMessage<WindowRecord>[][] = [];
    const done: WindowRecord[] = [];
    // published before subscribing, so the failed batch holds several records
    await log.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));
    const sub = log.subscribe("nack", async (batch) => {
      calls++;
      delivered.push([...batch]);
      if (calls === 1) throw new Error("downstream is down");
      for (const m of batch) {
        done.push(m.value);
        m.ack();
      }
    });
    await until("processing after the failure", () => done.length >= windows.length);
    expect(calls).toBeGreaterThanOrEqual(2);
    const firstKeys = delivered[0]!.map((m) => m.key).sort();
    const retried = done.map((w) => String(w.sensorId)).sort();
    for (const k of firstKeys) expect(retried).toContain(k);
    expect(done.map((w) => w.sensorId).sort()).toEqual([1, 2, 3]);
    await sub.stop();
  }, 30_000);

  test("readings records travel as JSON; ready() follows the connections; close() rejects later publishes", async () => {
    const topic = uniqueTopic("log-readings");
    const log = await readingsLog("readings-test", topic);
    expect(log.ready()).toBe(true); // producer only
    const records: ReadingsRecord[] = [
      {
        sensorId: 4,
        readings: [
          { sensorId: 4, eventTimeMs: 1_700_000_000_000, value: 12.5, createdAtMs: 1_700_000_000_020 },
        ],
      },
      {
        sensorId: 5,
        readings: [
          { sensorId: 5, eventTimeMs: 1_700_000_000_000, value: 1, createdAtMs: undefined },
          { sensorId: 5, eventTimeMs: 1_700_000_001_000, value: 2, createdAtMs: 1_700_000_001_002 },
        ],
        watermarkMs: 1_700_000_060_000,
      },
    ];
    await log.publish(records.map((r) => ({ key: String(r.sensorId), value: r })));
    const got: ReadingsRecord[] = [];
    const sub = log.subscribe("windower", async (batch) => {
      for (const m of batch) {
        got.push(m.value);
        m.ack();
      }
    });
    await until("both records", () => got.length >= 2);
    expect(log.ready()).toBe(true);
    expect(got.sort((a, b) => a.sensorId - b.sensorId)).toEqual(records);
    await sub.stop();
    await log.close();
    expect(log.ready()).toBe(false);
    await expect(log.publish([{ key: "4", value: records[0]! }])).rejects.toThrow("closed");
    // the topic existed already: creating the log again is idempotent
    const again = await readingsLog("readings-test", topic, {}, false);
    await again.close();
  }, 30_000);
  test("delivery goes on past 1000 un-acked records (the windower holds a window's worth un-acked)", async () => {
    const log = await readingsLog("unacked-test", uniqueTopic("log-unacked"), { maxInFlight: 500 });
    const n = 2_500;
    const records = Array.from({ length: n }, (_, i) => ({
      key: String(i % 50),
      value: {
        sensorId: i % 50,
        readings: [{ sensorId: i % 50, eventTimeMs: 1_700_000_000_000 + i, value: i, createdAtMs: 0 }],
      },
    }));
    await log.publish(records);
    const held: LogMessage<ReadingsRecord>[] = [];
    let largest = 0;
    const sub = log.subscribe("holder", async (batch) => {
      largest = Math.max(largest, batch.length);
      held.push(...batch); // not acked yet
    });
    await until(`${n} un-acked records`, () => held.length >= n, 20_000);
    expect(held.length).toBe(n);
    expect(largest).toBeLessThanOrEqual(1000);
    for (const m of held) m.ack();
    await sub.stop();
  }, 40_000);

  test("a producer that fails for good: /ready names the failure and publish rejects with it", async () => {
    const relay = startRelay(new URL(pulsar!.url));
    const log = await readingsLog("producer-fails", uniqueTopic("log-producer-fails"), {
      url: relay.url,
      partitions: 1,
      producer: { backoff: { initialMs: 50, maxMs: 200 } },
    });
    expect(log.connections?.().producer).toBe(true);
    relay.cut(5_000, "producers");
    await until("the producer to give up", () =>
      /failed for good/.test(String(log.connections?.().producer)),
    );
    expect(log.ready()).toBe(false);
    expect(log.connections?.().producer).toContain("403");
    const record = { sensorId: 1, readings: [] };
    await expect(log.publish([{ key: "1", value: record }])).rejects.toThrow("403");
    relay.stop();
  }, 30_000);
});
