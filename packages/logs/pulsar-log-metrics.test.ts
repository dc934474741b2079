/**
 * The `pulsar_client_*` metrics of a Pulsar log after a round trip through the real broker: what we
 * published, received and acked, and the subscription backlog the admin API reports while records are held
 * un-acked, then after they are acked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { ReadingsRecord } from "@energy/contracts/records.ts";
import { pulsarMetrics } from "@energy/platform/metrics.ts";
import { parsePrometheus, sampleValue } from "@energy/platform/prom-text.ts";
import { collectDeadLetters } from "@energy/testing/log-contract.ts";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import { until } from "@energy/testing/until.ts";
import { Registry } from "prom-client";
import type { LogMessage, RecordLog } from "./log.ts";
import { createPulsarLog } from "./pulsar-log.ts";
import { readingsCodec } from "./readings-codec.ts";

const pulsar = await pulsarForTests();

/** The value of one series of the registry's exposition, or undefined when it is not there. */
async function sampleOf(registry: Registry, name: string, topic: string): Promise<number | undefined> {
  return sampleValue(parsePrometheus(await registry.metrics()), name, { topic });
}

describe.skipIf(!pulsar)("Pulsar client metrics on a real Pulsar", () => {
  const topic = uniqueTopic("metrics");
  let log: RecordLog<ReadingsRecord> | undefined;

  afterAll(async () => {
    await log?.close();
    await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("published, received and acked count the round trip; the backlog follows the acks", async () => {
    const registry = new Registry();
    log = await createPulsarLog<ReadingsRecord>({
      name: "readings",
      topic,
      url: pulsar!.url,
      partitions: 2,
      codec: readingsCodec,
      deadLetters: collectDeadLetters(),
      metrics: pulsarMetrics(registry),
      backlogSampleMs: 100,
      ackFlushMs: 300,
    });
    const records = Array.from({ length: 12 }, (_, i) => ({
      key: String(i % 4),
      value: {
        sensorId: i % 4,
        readings: [{ sensorId: i % 4, eventTimeMs: 1_765_152_000_000 + i * 1000, value: i, createdAtMs: 1 }],
      },
    }));
    await log.publish(records);
    expect(await sampleOf(registry, "pulsar_client_messages_published_total", "readings")).toBe(12);

    // Hold everything un-acked: the broker counts it as the subscription's backlog.
    const held: LogMessage<ReadingsRecord>[] = [];
    log.subscribe("metrics-test", async (batch) => void held.push(...batch));
    await until("12 records received", () => held.length === 12);
    await until(
      "the sampled backlog to show 12 un-acked records",
      async () => (await sampleOf(registry, "pulsar_subscription_backlog_messages", "readings")) === 12,
    );
    expect(await sampleOf(registry, "pulsar_client_messages_received_total", "readings")).toBe(12);
    expect(await sampleOf(registry, "pulsar_client_messages_acked_total", "readings")).toBe(0);

    for (const m of held) m.ack();
    expect(await sampleOf(registry, "pulsar_client_messages_acked_total", "readings")).toBe(12);
    await until(
      "the sampled backlog to drop to 0 after the acks",
      async () => (await sampleOf(registry, "pulsar_subscription_backlog_messages", "readings")) === 0,
    );
    // Nothing failed and nothing reconnected: those series are exported at 0 from the start.
    expect(await sampleOf(registry, "pulsar_client_publish_errors_total", "readings")).toBe(0);
    expect(await sampleOf(registry, "pulsar_client_reconnects_total", "readings")).toBe(0);
  }, 30_000);
});
