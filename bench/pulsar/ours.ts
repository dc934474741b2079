/** Our TypeScript producer and consumer, measured the way pulsar-perf measures its own (bench/pulsar/perf.ts). */

import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { PulsarConsumer } from "@energy/pulsar/consumer.ts";
import { type PackingOptions, PulsarProducer } from "@energy/pulsar/producer.ts";
import { cpuMeter } from "../lib/procstat.ts";
import { ratePerSecond, round, summarize } from "../lib/stats.ts";
import { type BenchRun, batchSettings, type MeasureContext } from "./measure.ts";
import type { Mode } from "./options.ts";

/** 128 KiB of payload per packed message: ~171 KiB frames, well under the proxy's 1 MiB frame limit. */
const packSettings: PackingOptions = { ...batchSettings, maxBytes: 128 * 1024 };

/** Our producer, closed loop: at most `inFlight` unacknowledged sends, like pulsar-perf's `-o`. */
export async function measureOurProducer(
  ctx: MeasureContext,
  topic: string,
  messages: number,
  payload: Uint8Array,
  mode: Mode,
): Promise<BenchRun> {
  const base = { tool: "ours", kind: "produce", mode, topic, messages } as const;
  const producer = await PulsarProducer.create({
    topic,
    url: ctx.url,
    maxInFlight: ctx.inFlight,
    sendTimeoutMs: ctx.timeoutMs,
    batching: mode === "batched" ? batchSettings : false,
    packing: mode === "packed" ? packSettings : false,
  });
  const latencies = new Float64Array(messages);
  let outstanding = 0;
  let acked = 0;
  let firstError: unknown;
  let wake: (() => void) | undefined;
  const settle = () => {
    outstanding--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const cpu = cpuMeter(ctx.brokerPid);
  const start = performance.now();
  const deadline = start + ctx.timeoutMs;
  try {
    for (let i = 0; i < messages && firstError === undefined; i++) {
      const due = performance.now();
      while (outstanding >= ctx.inFlight) await new Promise<void>((resolve) => (wake = resolve));
      if (due > deadline) {
        throw new PipelineError("timeout", `sent ${i} of ${messages} within ${ctx.timeoutMs} ms`);
      }
      outstanding++;
      producer.send(payload).then(
        () => {
          latencies[i] = performance.now() - due;
          acked++;
          settle();
        },
        (error: unknown) => {
          firstError ??= error;
          settle();
        },
      );
    }
    await producer.flush();
    if (firstError !== undefined) throw firstError;
    const elapsedMs = performance.now() - start;
    const l = summarize(latencies.subarray(0, acked));
    return {
      ...base,
      elapsedMs: round(elapsedMs),
      msgsPerSec: round(ratePerSecond(acked, elapsedMs)),
      latencyMs: { mean: round(l.mean), p50: round(l.p50), p99: round(l.p99), max: round(l.max) },
      cpuUsPerMsg: cpu.perMessage(acked),
    };
  } catch (error) {
    return { ...base, error: errorMessage(error) };
  } finally {
    await producer.close().catch(() => {});
  }
}

/** Our consumer: a new Exclusive subscription from Earliest, every message acked as it is taken. */
export async function measureOurConsumer(
  ctx: MeasureContext,
  topic: string,
  messages: number,
  mode: Mode,
): Promise<BenchRun> {
  const base = { tool: "ours", kind: "consume", mode, topic, messages } as const;
  const consumer = await PulsarConsumer.subscribe({
    topic,
    url: ctx.url,
    subscription: "bench-ours",
    initialPosition: "Earliest",
    receiverQueueSize: 1000,
  });
  const cpu = cpuMeter(ctx.brokerPid);
  const start = performance.now();
  const deadline = start + ctx.timeoutMs;
  try {
    for (let received = 0; received < messages; received++) {
      const message = await consumer.receive(Math.max(1, deadline - performance.now()));
      consumer.ack(message);
    }
    const elapsedMs = performance.now() - start;
    return {
      ...base,
      elapsedMs: round(elapsedMs),
      msgsPerSec: round(ratePerSecond(messages, elapsedMs)),
      cpuUsPerMsg: cpu.perMessage(messages),
    };
  } catch (error) {
    return { ...base, error: errorMessage(error) };
  } finally {
    await consumer.close();
  }
}
