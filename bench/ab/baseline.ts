/**
 * The raw broker limit: publish → subscribe throughput through the bench's Mosquitto with the pipeline's
 * payloads and no pipeline, so every pipeline figure can be read as a share of what the broker allows.
 */
import { join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { MessageKind } from "@energy/contracts/records.ts";
import type { PubResult, SubResult, WorkerConfig } from "./baseline-worker.ts";
import type { Children } from "./procs.ts";

export interface BaselineResult {
  kind: MessageKind;
  messages: number;
  readingsPerMessage: number;
  bytesPerMessage: number;
  seconds: number;
  messagesPerSecond: number;
  readingsPerSecond: number;
  bytesPerSecond: number;
  /** Messages published but not received before the worker's deadline (must be 0 with our config). */
  lost: number;
}

const workerPath = new URL("./baseline-worker.ts", import.meta.url).pathname;

function lastJsonLine<T>(text: string, who: string): T {
  const line = text.trim().split("\n").at(-1);
  try {
    return JSON.parse(line ?? "") as T;
  } catch (cause) {
    throw new PipelineError("internal", `baseline ${who} printed no JSON summary`, { cause });
  }
}

/**
 * Runs one subscriber and one publisher process; rate = messages received ÷ (last receive − first publish).
 */
export async function runBaseline(
  children: Children,
  o: Omit<WorkerConfig, "connections" | "maxInFlight"> & { dir: string },
): Promise<BaselineResult> {
  const { dir, ...common } = o;
  // The edge's defaults: 4 connections, 1,000 unacknowledged publishes each.
  const config: WorkerConfig = { ...common, connections: 4, maxInFlight: 1_000 };
  const logFile = join(dir, `baseline-${o.kind}.log`);
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const sub = children.spawn("baseline-sub", [process.execPath, workerPath, "sub", JSON.stringify(config)], {
    logFile,
    captureStdout: true,
    onStderrLine: (line) => line === "subscribed" && subscribed(),
  });
  const early = sub.exited.then((code) => {
    throw new PipelineError("internal", `baseline subscriber exited (${code}) before subscribing`, {
      hint: `see ${logFile}`,
    });
  });
  await Promise.race([ready, early]);
  early.catch(() => {});
  const pub = children.spawn("baseline-pub", [process.execPath, workerPath, "pub", JSON.stringify(config)], {
    logFile,
    captureStdout: true,
  });
  await Promise.all([pub.exited, sub.exited]);
  const p = lastJsonLine<PubResult>(pub.stdout(), "publisher");
  const s = lastJsonLine<SubResult>(sub.stdout(), "subscriber");
  const readingsPerMessage = o.kind === "reading" ? 1 : o.readingsPerBatch;
  const seconds = Math.max(0.001, (s.lastMs - p.startMs) / 1000);
  return {
    kind: o.kind,
    messages: s.messages,
    readingsPerMessage,
    bytesPerMessage: p.messages > 0 ? p.bytes / p.messages : 0,
    seconds,
    messagesPerSecond: s.messages / seconds,
    readingsPerSecond: (s.messages * readingsPerMessage) / seconds,
    bytesPerSecond: s.bytes / seconds,
    lost: Math.max(0, p.messages - s.messages),
  };
}
