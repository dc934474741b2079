/** What every `bun run bench pulsar` test shares: its settings and the shape of its result. */
import type { PerfFigures } from "../lib/pulsar-perf.ts";
import type { Mode } from "./options.ts";

/** One measured test; `error` instead of figures when it failed or ran out of time. */
export interface BenchRun {
  tool: "ours" | "pulsar-perf";
  kind: "produce" | "consume";
  /** Producer mode, or for a consume test the mode of the producer that filled its topic. */
  mode: Mode;
  topic: string;
  messages: number;
  elapsedMs?: number;
  msgsPerSec?: number;
  latencyMs?: { mean: number; p50: number; p99: number; max: number };
  /**
   * CPU time per message over the measured window, µs: the client process, and the broker JVM (which for
   * our client also runs the WebSocket proxy; other users of the broker add to it).
   */
  cpuUsPerMsg?: { client?: number; broker?: number };
  /** pulsar-perf's own aggregated figure (understated, see bench/lib/pulsar-perf.ts). */
  reported?: PerfFigures["reported"];
  error?: string;
}

/** Settings every test of one run gets, both clients alike. */
export interface MeasureContext {
  url: string;
  brokerPid: number | undefined;
  inFlight: number;
  timeoutMs: number;
  perf: { home: string; javaHome: string; broker: string; web: string };
}

/** pulsar-perf's batching defaults (-b 1 ms, -bm 1000), used for both batched producers and our packing. */
export const batchSettings = { maxMessages: 1000, maxDelayMs: 1 } as const;
