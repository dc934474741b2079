import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { parsePerfConsume, parsePerfProduce, perfLineTime } from "./pulsar-perf.ts";

// Lines as pulsar-perf 4.0.8 printed them here (a 50,000-message batched produce, then a consume).
const produceOutput = `
2026-11-25T12:39:18,537+0000 [pulsar-perf-producer-exec-1-1] INFO  org.apache.pulsar.testclient.PerformanceProducer - Created 1 producers
2026-11-25T12:39:19,879+0000 [pulsar-perf-producer-exec-1-1] INFO  org.apache.pulsar.testclient.PerformanceProducer - ------------- DONE (reached the maximum number: 50000 of production) --------------
2026-11-25T12:39:27,289+0000 [perf-client-shutdown] INFO  org.apache.pulsar.testclient.PerformanceProducer - Aggregated throughput stats --- 50927 records sent --- 5086.001 msg/s --- 3.880 Mbit/s
2026-11-25T12:39:27,341+0000 [perf-client-shutdown] INFO  org.apache.pulsar.testclient.PerformanceProducer - Aggregated latency stats --- Latency: mean:   7.641 ms - med:   4.950 - 95pct:  22.818 - 99pct:  37.951 - 99.9pct:  72.559 - 99.99pct:  86.985 - 99.999pct:  92.817 - Max: 106.753
`;

const consumeOutput = `
2026-11-25T12:39:56,265+0000 [main] INFO  org.apache.pulsar.testclient.PerformanceConsumer - Start receiving from 1 consumers per subscription on 1 topics
2026-11-25T12:39:56,897+0000 [pulsar-external-listener-4-1] INFO  org.apache.pulsar.testclient.PerformanceConsumer - ------------------- DONE -----------------------
2026-11-25T12:39:56,900+0000 [perf-client-shutdown] INFO  org.apache.pulsar.testclient.PerformanceConsumer - Aggregated throughput stats --- 50000 records received --- 78911.922 msg/s --- 60.205 Mbit/s --- AckRate: 78910.34352881569  msg/s --- ack failed 0 msg
`;

describe("pulsar-perf output", () => {
  test("log timestamps parse to epoch ms with their offset", () => {
    expect(perfLineTime("2026-11-25T12:39:18,537+0000 [main] INFO x")).toBe(
      Date.UTC(2026, 10, 25, 12, 39, 18, 537),
    );
    expect(perfLineTime("2026-11-25T13:39:18,537+0100 [main] INFO x")).toBe(
      Date.UTC(2026, 10, 25, 12, 39, 18, 537),
    );
    expect(perfLineTime("\tat org.apache.pulsar.Foo(Foo.java:1)")).toBeUndefined();
  });

  test("produce: rate over Created → DONE, not the shutdown-inflated aggregate; latency from the histogram line", () => {
    const f = parsePerfProduce(produceOutput, 50_000);
    expect(f.elapsedMs).toBe(1_342);
    expect(f.msgsPerSec).toBeCloseTo(50_000 / 1.342, 6);
    expect(f.latencyMs).toEqual({ mean: 7.641, p50: 4.95, p99: 37.951, max: 106.753 });
    expect(f.reported).toEqual({ records: 50_927, msgsPerSec: 5086.001 });
  });

  test("consume: rate over Start receiving → DONE", () => {
    const f = parsePerfConsume(consumeOutput, 50_000);
    expect(f.elapsedMs).toBe(632);
    expect(f.msgsPerSec).toBeCloseTo(50_000 / 0.632, 6);
    expect(f.latencyMs).toBeUndefined();
    expect(f.reported).toEqual({ records: 50_000, msgsPerSec: 78911.922 });
  });

  test("a run that never reached DONE is an error naming the missing line", () => {
    const cut = produceOutput.split("\n").slice(0, 2).join("\n");
    expect(() => parsePerfProduce(cut, 50_000)).toThrow(PipelineError);
    expect(() => parsePerfProduce(cut, 50_000)).toThrow(/"DONE"/);
  });
});
