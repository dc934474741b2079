/**
 * The Pulsar log's harness for the RecordLog contract (packages/testing/log-contract.ts), packed or not: each contract
 * topic becomes a fresh Pulsar topic, and every connection goes through a relay (testing.ts) so the
 * contract can make the consumers fail for good.
 *
 * @example
 * const pulsar = await pulsarForTests();
 * describe.skipIf(!pulsar)("Pulsar log", () => recordLogContract("Pulsar log", pulsarLogHarness(pulsar!)));
 */

import { createPulsarLog } from "@energy/logs/pulsar-log.ts";
import { defaultPacking } from "@energy/pulsar/producer.ts";
import { silent } from "./fixtures.ts";
import type { RecordLogHarness } from "./log-contract.ts";
import { startRelay, type TestPulsar, uniqueTopic } from "./pulsar.ts";

export function pulsarLogHarness(pulsar: TestPulsar, options: { packing?: boolean } = {}): RecordLogHarness {
  const relay = startRelay(new URL(pulsar.url));
  const topics = new Map<string, string>();
  const fast = { initialMs: 50, maxMs: 400 };
  return {
    durable: true,
    // A pack goes back whole to a new consumer, its acked records with it (log.ts, "Packing").
    reopenRepeatsAcked: options.packing === true,
    publishWaitsForSubscribers: false,
    open(topic, o) {
      const full = topics.get(topic) ?? uniqueTopic(`contract-${topic}`);
      topics.set(topic, full);
      return createPulsarLog<string>({
        name: "contract",
        topic: full,
        url: relay.url,
        partitions: 2,
        codec: o.codec,
        deadLetters: o.deadLetters,
        maxBatch: o.maxBatch,
        retryDelayMs: o.retryDelayMs,
        packing: options.packing ? defaultPacking : false,
        ackFlushMs: 300,
        consumer: { backoff: fast },
        producer: { backoff: fast },
        logger: silent,
      });
    },
    breakConsumers: (ms) => relay.cut(ms, "consumers"),
    async cleanup() {
      relay.stop();
      for (const topic of topics.values()) await pulsar.admin.deleteTopic(topic).catch(() => {});
    },
  };
}
