/** Pulsar's own `pulsar-perf` (Java client, binary protocol), run as a child process per test. */
import { errorMessage } from "@energy/contracts/errors.ts";
import { cpuMeter, readCpuSeconds } from "../lib/procstat.ts";
import { type PerfFigures, parsePerfConsume, parsePerfProduce, runPulsarPerf } from "../lib/pulsar-perf.ts";
import { round } from "../lib/stats.ts";
import { type BenchRun, batchSettings, type MeasureContext } from "./measure.ts";
import type { Mode } from "./options.ts";

export async function measurePerfProducer(
  ctx: MeasureContext,
  topic: string,
  messages: number,
  size: number,
  mode: Mode,
): Promise<BenchRun> {
  const base = { tool: "pulsar-perf", kind: "produce", mode, topic, messages } as const;
  const p = ctx.perf;
  // -r: 4.0's pulsar-perf rejects 0 ("rate must be positive"), so "unlimited" is a rate no client reaches.
  const args = ["produce", "-u", p.broker, "-au", p.web, "-r", "100000000", "-m", String(messages)];
  args.push("-s", String(size), "-o", String(ctx.inFlight), "--warmup-time", "0");
  args.push("-time", String(Math.ceil(ctx.timeoutMs / 1000)));
  if (mode === "batched")
    args.push("-b", String(batchSettings.maxDelayMs), "-bm", String(batchSettings.maxMessages));
  else args.push("-db");
  return perfRun(ctx, base, [...args, topic], /PerformanceProducer - Created \d+ producers/, (out) =>
    parsePerfProduce(out, messages),
  );
}

export async function measurePerfConsumer(
  ctx: MeasureContext,
  topic: string,
  messages: number,
  mode: Mode,
): Promise<BenchRun> {
  const base = { tool: "pulsar-perf", kind: "consume", mode, topic, messages } as const;
  const args = [
    "consume",
    "-u",
    ctx.perf.broker,
    "-m",
    String(messages),
    "-sp",
    "Earliest",
    "-ss",
    "bench-perf",
  ];
  args.push("-st", "Exclusive", "-q", "1000", "-time", String(Math.ceil(ctx.timeoutMs / 1000)), topic);
  return perfRun(ctx, base, args, /PerformanceConsumer - Start receiving/, (out) =>
    parsePerfConsume(out, messages),
  );
}

async function perfRun(
  ctx: MeasureContext,
  base: BenchRun,
  args: string[],
  startLine: RegExp,
  parse: (output: string) => PerfFigures,
): Promise<BenchRun> {
  // CPU of pulsar-perf and the broker between its "ready" and "DONE" lines, so JVM start-up and its slow
  // client shutdown are left out, as they are left out of its msgs/s.
  let clientStart: number | undefined;
  let meter: ReturnType<typeof cpuMeter> | undefined;
  let cpuUsPerMsg: BenchRun["cpuUsPerMsg"];
  const onLine = (line: string, pid: number) => {
    if (clientStart === undefined && startLine.test(line)) {
      clientStart = readCpuSeconds(pid);
      meter = cpuMeter(ctx.brokerPid);
    } else if (meter && /- -+ DONE/.test(line)) {
      const clientEnd = readCpuSeconds(pid);
      const broker = meter.perMessage(base.messages).broker;
      cpuUsPerMsg = {
        ...(clientStart !== undefined && clientEnd !== undefined
          ? { client: round(((clientEnd - clientStart) * 1e6) / base.messages) }
          : {}),
        ...(broker === undefined ? {} : { broker }),
      };
      meter = undefined;
    }
  };
  // JVM start-up and pulsar-perf's slow client shutdown come on top of the measured window
  const run = await runPulsarPerf({
    home: ctx.perf.home,
    javaHome: ctx.perf.javaHome,
    args,
    timeoutMs: ctx.timeoutMs + 30_000,
    onLine,
  });
  try {
    const f = parse(run.output);
    return {
      ...base,
      elapsedMs: f.elapsedMs,
      msgsPerSec: round(f.msgsPerSec),
      ...(f.latencyMs ? { latencyMs: f.latencyMs } : {}),
      ...(cpuUsPerMsg ? { cpuUsPerMsg } : {}),
      reported: f.reported,
    };
  } catch (error) {
    const why = run.timedOut ? "timed out" : `exit code ${run.exitCode}`;
    return { ...base, error: `pulsar-perf ${args[0]} ${why}: ${errorMessage(error)}` };
  }
}
