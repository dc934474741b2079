/**
 * `publish` of a Pulsar log against the real broker: a publish is sent through one tracker and the log's
 * send window (O(1) promises per call), and must still resolve only once every record is acknowledged,
 * reject only after all its sends settled, stop sending after a failure, and keep per-key order across
 * publishes that wait for the window together. Packed and unpacked, since they settle differently (one
 * ack per pack of many publishes' records, one ack per record).
 */
import { afterAll, afterEach, describe, expect, spyOn, test } from "bun:test";
import { pulsarMetrics } from "@energy/platform/metrics.ts";
import { parsePrometheus, sampleValue } from "@energy/platform/prom-text.ts";
import { PulsarProducer } from "@energy/pulsar/producer.ts";
import { collectDeadLetters } from "@energy/testing/log-contract.ts";
import { pulsarForTests, startRelay, uniqueTopic } from "@energy/testing/pulsar.ts";
import { until } from "@energy/testing/until.ts";
import { Registry } from "prom-client";
import type { KeyedRecord, RecordLog } from "./log.ts";
import { createPulsarLog, type PulsarLogOptions } from "./pulsar-log.ts";

const pulsar = await pulsarForTests();
const created: string[] = [];
const opened: RecordLog<string>[] = [];
const text = {
  encode: (v: string) => new TextEncoder().encode(v),
  decode: (b: Uint8Array) => new TextDecoder().decode(b),
};
const packing = { maxMessages: 1000, maxBytes: 128 * 1024, maxDelayMs: 5 };

async function stringLog(
  topic: string,
  extra: Partial<PulsarLogOptions<string>> = {},
): Promise<RecordLog<string>> {
  const log = await createPulsarLog<string>({
    name: "publish-test",
    topic,
    url: pulsar!.url,
    partitions: 2,
    codec: text,
    deadLetters: collectDeadLetters(),
    ...extra,
  });
  opened.push(log);
  return log;
}

/** Everything a subscription of `topic` receives, in order, read on a direct connection. */
async function reader(topic: string): Promise<{ seen: KeyedRecord<string>[] }> {
  const log = await stringLog(topic);
  const seen: KeyedRecord<string>[] = [];
  log.subscribe("reader", async (batch) => {
    for (const m of batch) {
      seen.push({ key: m.key, value: m.value });
      m.ack();
    }
  });
  return { seen };
}

/** Per key, the values in the order received. */
function byKey(records: readonly KeyedRecord<string>[]): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const r of records) {
    const values = keys.get(r.key) ?? [];
    values.push(r.value);
    keys.set(r.key, values);
  }
  return keys;
}

describe.skipIf(!pulsar)("Pulsar log publish", () => {
  afterAll(async () => {
    for (const log of opened) await log.close().catch(() => {});
    for (const topic of created) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  for (const variant of ["packed", "unpacked"] as const) {
    test(`${variant}: a record refused mid-publish stops the rest; the publish rejects only once the records before it are acked`, async () => {
      const topic = uniqueTopic(`publish-refused-${variant}`);
      created.push(topic);
      const registry = new Registry();
      const log = await stringLog(topic, {
        metrics: pulsarMetrics(registry),
        ...(variant === "packed" ? { packing } : {}),
      });
      const { seen } = await reader(topic);
      const sample = async (name: string) =>
        sampleValue(parsePrometheus(await registry.metrics()), name, { topic: "publish-test" });
      // 900 kB travels as 1.2 MB of base64: over the 1 MiB frame limit, refused before anything is sent.
      const big = "x".repeat(900 * 1024);
      const records = ["r1", "r2", big, "r4", "r5"].map((value, i) => ({ key: `k${i % 2}`, value }));
      let publishedAtRejection: number | undefined;
      const outcome = await log.publish(records).then(
        () => "resolved",
        async (error: unknown) => {
          publishedAtRejection = await sample("pulsar_client_messages_published_total");
          return String(error);
        },
      );
      expect(outcome).toMatch(/frame limit/);
      expect(publishedAtRejection).toBe(2);
      expect(await sample("pulsar_client_publish_errors_total")).toBe(1);
      await until("r1 and r2 read back", () => seen.length >= 2);
      await Bun.sleep(500); // r4 or r5 would arrive by now
      // Keys k0 and k1 go to different partitions: no order between them.
      expect(seen.map((r) => r.value).sort()).toEqual(["r1", "r2"]);
      // The log goes on: the caller's retry of what failed is published.
      await log.publish(records.slice(3));
      await until("the retry read back", () => seen.length >= 4);
      expect(seen.map((r) => r.value).sort()).toEqual(["r1", "r2", "r4", "r5"]);
    }, 30_000);

    test(`${variant}: concurrent publishes through a window far smaller than one publish keep per-key order, everything once`, async () => {
      const topic = uniqueTopic(`publish-order-${variant}`);
      created.push(topic);
      const log = await stringLog(topic, { maxInFlight: 8, ...(variant === "packed" ? { packing } : {}) });
      const { seen } = await reader(topic);
      const publishes = 20;
      const perPublish = 25;
      const keys = 7;
      const sent: KeyedRecord<string>[] = [];
      const all: Promise<void>[] = [];
      for (let p = 0; p < publishes; p++) {
        const records = Array.from({ length: perPublish }, (_, i) => {
          const n = p * perPublish + i;
          return { key: `k${n % keys}`, value: String(n) };
        });
        sent.push(...records);
        all.push(log.publish(records)); // none awaited: they queue for the window together
      }
      await Promise.all(all);
      await until(`${sent.length} records read back`, () => seen.length >= sent.length);
      await Bun.sleep(300); // a duplicate would arrive by now
      expect(seen).toHaveLength(sent.length);
      expect(byKey(seen)).toEqual(byKey(sent));
    }, 30_000);
  }
});

describe.skipIf(!pulsar)("Pulsar log publish while the broker is unreachable", () => {
  afterEach(() => {
    for (const log of opened.splice(0)) void log.close().catch(() => {});
  });
  afterAll(async () => {
    for (const topic of created) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("publishes waiting together hold at most maxInFlight records in the producers, and a later one never overtakes an earlier one", async () => {
    const topic = uniqueTopic("publish-backpressure");
    created.push(topic);
    const relay = startRelay(new URL(pulsar!.url));
    // The log's producers, to read how many records they hold (the log does not say).
    const create = spyOn(PulsarProducer, "create");
    const log = await stringLog(topic, {
      url: relay.url,
      maxInFlight: 8,
      packing,
      producer: { backoff: { initialMs: 50, maxMs: 200 } },
    });
    const producers = await Promise.all(create.mock.results.map((r) => r.value as Promise<PulsarProducer>));
    create.mockRestore();
    expect(producers).toHaveLength(2);
    const held = () => producers.reduce((n, p) => n + p.inFlight, 0);
    const { seen } = await reader(topic);
    relay.cut(2_000);
    const sent: KeyedRecord<string>[] = [];
    const settled: number[] = [];
    const all = [0, 1, 2].map((p) => {
      const records = Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 3}`, value: `${p}.${i}` }));
      sent.push(...records);
      return log.publish(records).then(() => void settled.push(p));
    });
    await until("the window to fill", () => held() === 8);
    await Bun.sleep(500);
    expect(held()).toBe(8);
    expect(settled).toEqual([]);
    await Promise.all(all);
    expect(settled).toEqual([0, 1, 2]);
    expect(held()).toBe(0);
    await until(`${sent.length} records read back`, () => seen.length >= sent.length);
    // At-least-once: a pack whose ack was lost in the cut may come twice; first copies keep publish order.
    const firsts = seen.filter((r, i) => seen.findIndex((o) => o.value === r.value) === i);
    expect(byKey(firsts)).toEqual(byKey(sent));
    relay.stop();
  }, 30_000);
});
