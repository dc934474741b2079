/**
 * Running Pulsar's own `bin/pulsar-perf` (Java client, binary protocol on 6650) and reading its figures
 * from its log output.
 *
 * Why we time it from its log lines and not take its "Aggregated throughput" figure: that one divides by
 * the time from start to the end of its shutdown hook, which includes closing the client (measured here:
 * 5–10 s after the last ack for 50,000 messages), so it understates the rate several-fold. We take
 * "Created N producers" / "Start receiving" → "DONE" instead, the same window we time our own client over
 * (connected → last ack / last message). Its latency percentiles come from its aggregated histogram line
 * (all messages when `--warmup-time 0`, send call → ack callback).
 *
 * @example
 * const run = await runPulsarPerf({ home, javaHome, args: ["produce", "-m", "1000", topic], timeoutMs: 60_000 });
 * const figures = parsePerfProduce(run.output, 1000);
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import { ratePerSecond } from "./stats.ts";

export interface PerfFigures {
  /** Messages the run was asked for (`-m`): the count the DONE line stands for. */
  messages: number;
  /** From the producer/consumer being ready to DONE, ms. */
  elapsedMs: number;
  msgsPerSec: number;
  /** Send → ack, ms (produce only). */
  latencyMs?: { mean: number; p50: number; p99: number; max: number };
  /** pulsar-perf's own aggregated line, kept raw for reference (see module doc for why we do not use it). */
  reported: { records: number; msgsPerSec: number } | undefined;
}

/** Epoch ms of a log4j line stamped `2026-11-25T12:39:56,265+0000 [...]`; undefined when unstamped. */
export function perfLineTime(line: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d),(\d{3})([+-]\d\d)(\d\d)/.exec(line);
  if (!m) return undefined;
  return Date.parse(`${m[1]}.${m[2]}${m[3]}:${m[4]}`);
}

function lineTime(output: string, pattern: RegExp, what: string): number {
  const line = output.split("\n").find((l) => pattern.test(l));
  const t = line === undefined ? undefined : perfLineTime(line);
  if (t === undefined) {
    throw new PipelineError("internal", `pulsar-perf output has no timestamped "${what}" line`, {
      hint: `its last lines were:\n${tail(output)}`,
    });
  }
  return t;
}

function reportedThroughput(output: string, verb: "sent" | "received"): PerfFigures["reported"] {
  const m = new RegExp(`Aggregated throughput stats --- (\\d+) records ${verb} --- ([\\d.]+) msg/s`).exec(
    output,
  );
  return m ? { records: Number(m[1]), msgsPerSec: Number(m[2]) } : undefined;
}

/** Figures of a `pulsar-perf produce -m <messages>` run from its combined stdout/stderr. */
export function parsePerfProduce(output: string, messages: number): PerfFigures {
  const start = lineTime(output, /PerformanceProducer - Created \d+ producers/, "Created N producers");
  const done = lineTime(output, /PerformanceProducer - -+ DONE/, "DONE");
  const lat =
    /Aggregated latency stats --- Latency: mean:\s*([\d.]+) ms - med:\s*([\d.]+) - 95pct:\s*[\d.]+ - 99pct:\s*([\d.]+) .*Max:\s*([\d.]+)/.exec(
      output,
    );
  if (!lat) {
    throw new PipelineError("internal", "pulsar-perf produce printed no aggregated latency line", {
      hint: `its last lines were:\n${tail(output)}`,
    });
  }
  return {
    messages,
    elapsedMs: done - start,
    msgsPerSec: ratePerSecond(messages, done - start),
    latencyMs: { mean: Number(lat[1]), p50: Number(lat[2]), p99: Number(lat[3]), max: Number(lat[4]) },
    reported: reportedThroughput(output, "sent"),
  };
}

/** Figures of a `pulsar-perf consume -m <messages>` run from its combined stdout/stderr. */
export function parsePerfConsume(output: string, messages: number): PerfFigures {
  const start = lineTime(output, /PerformanceConsumer - Start receiving/, "Start receiving");
  const done = lineTime(output, /PerformanceConsumer - -+ DONE/, "DONE");
  return {
    messages,
    elapsedMs: done - start,
    msgsPerSec: ratePerSecond(messages, done - start),
    reported: reportedThroughput(output, "received"),
  };
}

export interface PerfRunOptions {
  /** The Pulsar distribution (holds bin/pulsar-perf). */
  home: string;
  javaHome: string;
  args: string[];
  /** The process is killed after this; its output so far is returned with `timedOut`. */
  timeoutMs: number;
  /** Called with each output line as it arrives (to sample CPU at "Created" / "DONE"), and the pid. */
  onLine?: (line: string, pid: number) => void;
}

export interface PerfRun {
  exitCode: number | null;
  timedOut: boolean;
  output: string;
}

/** Runs pulsar-perf to completion (or the deadline) and returns its combined output. */
export async function runPulsarPerf(options: PerfRunOptions): Promise<PerfRun> {
  const bin = `${options.home}/bin/pulsar-perf`;
  if (!(await Bun.file(bin).exists())) {
    throw new PipelineError("not-found", `no pulsar-perf at ${bin}`, {
      hint: "run `bash scripts/pulsar.sh start` once to fetch the distribution, or pass --pulsar-home",
    });
  }
  const proc = Bun.spawn([bin, ...options.args], {
    env: { ...process.env, JAVA_HOME: options.javaHome },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, options.timeoutMs);
  const read = async (stream: ReadableStream<Uint8Array>): Promise<string> => {
    let text = "";
    let partial = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const piece = decoder.decode(chunk, { stream: true });
      text += piece;
      const lines = (partial + piece).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine?.(line, proc.pid);
    }
    if (partial) options.onLine?.(partial, proc.pid);
    return text;
  };
  const [stdout, stderr] = await Promise.all([read(proc.stdout), read(proc.stderr)]);
  const exitCode = await proc.exited;
  clearTimeout(timer);
  return { exitCode, timedOut, output: `${stdout}\n${stderr}` };
}

function tail(output: string, lines = 8): string {
  return output
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^\s+at /.test(l))
    .slice(-lines)
    .join("\n");
}
