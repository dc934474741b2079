/**
 * `bun run bench pulsar`: our TypeScript Pulsar client (WebSocket API) against Pulsar's own `pulsar-perf`
 * (Java client, binary protocol on 6650), side by side in one run, on the same standalone, fresh topics.
 *
 * Measured, in this order, so each pair meets the broker in the same state:
 * 1. produce, per mode: our `PulsarProducer`, then `pulsar-perf produce`. Modes: `unbatched`, `batched`
 *    (the broker-side WebSocket producer batches / pulsar-perf batches, both 1 ms or 1000 messages) and
 *    `packed` (our client-side packing, many records per WebSocket frame; no pulsar-perf run of its own:
 *    it is compared with pulsar-perf's batched figure, the nearest thing). msgs/s from connected to the
 *    last ack; latency from the moment a message is due (before waiting for an in-flight slot, as
 *    pulsar-perf stamps it before its blocking `sendAsync`) to its ack.
 * 2. consume: our `PulsarConsumer` and `pulsar-perf consume` as two subscriptions on one pre-filled topic
 *    (the one our batched producer wrote: identical entries for both), acking every message; then ours
 *    on the packed topic.
 * Both clients get the same in-flight window (`-o` / `maxInFlight`) and receiver queue (1000). Each test
 * also records CPU µs per message of the client process and of the broker JVM (which runs the WebSocket
 * proxy), the figure to look at on a shared machine where msgs/s swings with other load.
 *
 * @example
 * bun run bench pulsar --quick
 * bun run bench pulsar --messages 200000 --modes unbatched --in-flight 5000
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PulsarAdmin } from "../core/pulsar/admin.ts";
import { PulsarConsumer } from "../core/pulsar/consumer.ts";
import { type PackingOptions, PulsarProducer } from "../core/pulsar/producer.ts";
import { commandMain, opt, type Values } from "../lib/config.ts";
import { errorMessage, PipelineError } from "../lib/errors.ts";
import { machineInfo } from "./lib/machine.ts";
import { type PerfFigures, parsePerfConsume, parsePerfProduce, runPulsarPerf } from "./lib/pulsar-perf.ts";
import { ratePerSecond, summarize } from "./lib/stats.ts";

const allModes = ["unbatched", "batched", "packed"] as const;
type Mode = (typeof allModes)[number];

const defaultPulsarHome = `${os.homedir()}/.cache/energy-pipeline/pulsar/apache-pulsar-4.0.8`;

const spec = {
  name: "bun run bench pulsar",
  summary:
    "Throughput (msgs/s), publish latency (p50/p99) and CPU per message of our Pulsar producer and consumer\n" +
    "vs pulsar-perf, same standalone, same run. Needs a running Pulsar (bash scripts/pulsar.sh start).",
  options: {
    messages: opt.int("messages per test (default 100000, 20000 with --quick)", { min: 100 }),
    size: opt.int("message size in bytes", { default: "100", min: 1, max: 500_000 }),
    modes: opt.list(
      `producer modes, comma-separated: ${allModes.join(", ")}`,
      (raw, label) => {
        if (!(allModes as readonly string[]).includes(raw)) {
          throw new PipelineError("config", `${label} "${raw}" is not one of ${allModes.join(", ")}`);
        }
        return raw as Mode;
      },
      { default: allModes.join(",") },
    ),
    inFlight: opt.int("sends outstanding before a producer waits, both clients", { default: "1000", min: 1 }),
    quick: opt.boolean("~30-50 s preset: 20,000 messages, 30 s deadlines; leaves PULSAR.md alone"),
    pulsarUrl: opt.url("Pulsar web service (admin + WebSocket)", {
      env: "PULSAR_URL",
      default: "http://127.0.0.1:8080",
      protocols: ["http:", "https:"],
    }),
    brokerUrl: opt.url("binary protocol URL for pulsar-perf", {
      env: "PULSAR_BROKER_URL",
      default: "pulsar://127.0.0.1:6650",
      protocols: ["pulsar:"],
    }),
    namespace: opt.string("namespace for the bench topics (created if missing)", { default: "public/bench" }),
    pulsarHome: opt.string("Pulsar distribution holding bin/pulsar-perf", {
      env: "PULSAR_HOME",
      default: defaultPulsarHome,
    }),
    javaHome: opt.string("JDK for pulsar-perf (the one scripts/pulsar.sh runs the broker on)", {
      env: "PULSAR_JAVA_HOME",
      default: "/usr/lib/jvm/temurin-25-jdk-amd64",
    }),
    brokerPidFile: opt.string("pid file of the broker, for its CPU time (absent: not measured)", {
      default: `${path.dirname(defaultPulsarHome)}/run/pulsar.pid`,
    }),
    skipPerf: opt.boolean("measure our client only (no pulsar-perf)"),
    timeout: opt.int("deadline per test, seconds", { default: "60", min: 5 }),
    outDir: opt.string("where the JSON goes", { default: "bench/results" }),
    doc: opt.choice("rewrite the table in bench/PULSAR.md", ["auto", "always", "never"] as const, {
      default: "auto",
    }),
  },
  examples: [
    "bun run bench pulsar --quick",
    "bun run bench pulsar --modes unbatched,packed --in-flight 5000",
    "PULSAR_URL=http://127.0.0.1:8080 bun run bench pulsar --skip-perf",
  ],
};

type Options = Values<typeof spec.options>;

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

interface Ctx {
  url: string;
  brokerPid: number | undefined;
  inFlight: number;
  timeoutMs: number;
  perf: { home: string; javaHome: string; broker: string; web: string };
}

const progress = (text: string) => process.stderr.write(`[bench pulsar] ${text}\n`);

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(o: Options): Promise<number> {
  const messages = o.messages ?? (o.quick ? 20_000 : 100_000);
  const modes = allModes.filter((m) => (o.modes ?? allModes).includes(m));
  if (modes.length === 0) throw new PipelineError("config", "--modes names no mode");
  const url = o.pulsarUrl.origin;
  const ctx: Ctx = {
    url,
    brokerPid: readPid(o.brokerPidFile),
    inFlight: o.inFlight,
    timeoutMs: (o.quick ? Math.min(o.timeout, 30) : o.timeout) * 1000,
    perf: { home: o.pulsarHome, javaHome: o.javaHome, broker: o.brokerUrl.href, web: url },
  };
  const admin = new PulsarAdmin({ url, timeoutMs: 10_000 });
  await admin.listClusters(); // a connection PipelineError here names the URL and how to start Pulsar
  await admin.ensureNamespace(o.namespace);
  await setRetention(url, o.namespace);
  const pulsarVersion = await brokerVersion(url);
  const startedAt = new Date();
  const machine = machineInfo();
  progress(
    `Pulsar ${pulsarVersion} at ${url}; ${messages} × ${o.size} B, in-flight ${o.inFlight}, modes ${modes.join(",")}, load ${machine.loadAverage1m}`,
  );

  const id = Date.now().toString(36);
  const created: string[] = [];
  const fresh = async (name: string) => {
    const topic = `persistent://${o.namespace}/bench-${id}-${name}`;
    await admin.ensureTopic(topic);
    created.push(topic);
    return topic;
  };
  const payload = crypto.getRandomValues(new Uint8Array(o.size));
  const runs: BenchRun[] = [];
  const record = (r: BenchRun) => {
    runs.push(r);
    report(r);
  };

  try {
    // Warms the broker's WebSocket proxy path and Bun's JIT, so the first measured test does not pay it.
    progress("warm-up: 5,000 messages through our producer (not measured)");
    await measureOurProducer(ctx, await fresh("warmup"), Math.min(5_000, messages), payload, "batched");
    const filled = new Map<Mode, string>();
    for (const mode of modes) {
      const ours = await fresh(`ours-${mode}`);
      progress(`ours produce ${mode} → ${ours}`);
      const r = await measureOurProducer(ctx, ours, messages, payload, mode);
      record(r);
      if (!r.error) filled.set(mode, ours);
      if (!o.skipPerf && mode !== "packed") {
        const theirs = await fresh(`perf-${mode}`);
        progress(`pulsar-perf produce ${mode} → ${theirs}`);
        record(await measurePerfProducer(ctx, theirs, messages, o.size, mode));
      }
    }
    // pulsar-perf reads a topic with Pulsar's own messages (not our packed ones): the batched topic if
    // there is one, so both consumers read identical entries through two subscriptions.
    const shared = (["batched", "unbatched"] as const).find((m) => filled.has(m));
    if (shared) {
      const topic = filled.get(shared)!;
      progress(`ours consume ← ${topic}`);
      record(await measureOurConsumer(ctx, topic, messages, shared));
      if (!o.skipPerf) {
        progress(`pulsar-perf consume ← ${topic}`);
        record(await measurePerfConsumer(ctx, topic, messages, shared));
      }
    }
    const packed = filled.get("packed");
    if (packed) {
      progress(`ours consume ← ${packed}`);
      record(await measureOurConsumer(ctx, packed, messages, "packed"));
    }
  } finally {
    for (const topic of created) {
      await admin
        .deleteTopic(topic)
        .catch((error) => progress(`could not delete ${topic}: ${errorMessage(error)}`));
    }
  }

  const result = {
    date: startedAt.toISOString(),
    preset: o.quick ? "quick" : "default",
    options: {
      messages,
      size: o.size,
      inFlight: o.inFlight,
      modes,
      timeoutMs: ctx.timeoutMs,
    },
    machine: { ...machine, loadAverage1mAfter: machineInfo().loadAverage1m },
    pulsar: { version: pulsarVersion, webUrl: url, brokerUrl: o.brokerUrl.href, namespace: o.namespace },
    runs,
    ratios: ratios(runs),
  };
  const day = startedAt.toISOString().slice(0, 10);
  const variant = o.quick ? "-quick" : "";
  const file = path.join(o.outDir, `${day}-pulsar${variant}.json`);
  await mkdir(o.outDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  const table = markdownTable(runs);
  const m = result.machine;
  const caption =
    `${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ${result.preset} preset, ${messages} × ${o.size} B per test, ` +
    `in-flight ${o.inFlight}; ${m.cpuModel}, ${m.cores} cores, load ${m.loadAverage1m} → ${m.loadAverage1mAfter}; ` +
    `Bun ${m.bun}, Pulsar ${pulsarVersion} standalone`;
  process.stdout.write(`\n${caption}\n\n${table}\n`);
  progress(`wrote ${file}`);
  if (o.doc === "always" || (o.doc === "auto" && !o.quick && !o.skipPerf)) {
    await updateDoc("bench/PULSAR.md", `_${caption} (${path.basename(file)})._\n\n${table}`);
    progress("updated the table in bench/PULSAR.md");
  }
  return runs.some((r) => r.error) ? 1 : 0;
}

/** pulsar-perf's batching defaults (-b 1 ms, -bm 1000), used for both batched producers and our packing. */
const batchSettings = { maxMessages: 1000, maxDelayMs: 1 } as const;
/** 128 KiB of payload per packed message: ~171 KiB frames, well under the proxy's 1 MiB frame limit. */
const packSettings: PackingOptions = { ...batchSettings, maxBytes: 128 * 1024 };

/** Our producer, closed loop: at most `inFlight` unacknowledged sends, like pulsar-perf's `-o`. */
async function measureOurProducer(
  ctx: Ctx,
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
async function measureOurConsumer(ctx: Ctx, topic: string, messages: number, mode: Mode): Promise<BenchRun> {
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

async function measurePerfProducer(
  ctx: Ctx,
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

async function measurePerfConsumer(ctx: Ctx, topic: string, messages: number, mode: Mode): Promise<BenchRun> {
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
  ctx: Ctx,
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
      clientStart = processCpuSeconds(pid);
      meter = cpuMeter(ctx.brokerPid);
    } else if (meter && /- -+ DONE/.test(line)) {
      const clientEnd = processCpuSeconds(pid);
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

/** CPU used from now on by this process and the broker, per message. */
function cpuMeter(brokerPid: number | undefined) {
  const self = process.cpuUsage();
  const broker = brokerPid === undefined ? undefined : processCpuSeconds(brokerPid);
  return {
    perMessage(messages: number): { client: number; broker?: number } {
      const used = process.cpuUsage(self);
      const brokerNow = brokerPid === undefined ? undefined : processCpuSeconds(brokerPid);
      return {
        client: round((used.user + used.system) / messages),
        ...(broker !== undefined && brokerNow !== undefined
          ? { broker: round(((brokerNow - broker) * 1e6) / messages) }
          : {}),
      };
    },
  };
}

/**
 * utime + stime of a process from /proc/<pid>/stat (fields 14 and 15, counted after the last ")" since the
 * command name may hold spaces), in seconds at USER_HZ = 100; undefined when unreadable (not Linux, exited).
 */
export function processCpuSeconds(pid: number, stat?: string): number | undefined {
  let text = stat;
  if (text === undefined) {
    try {
      text = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      return undefined;
    }
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / 100 : undefined;
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && processCpuSeconds(pid) !== undefined ? pid : undefined;
  } catch {
    return undefined;
  }
}

function report(r: BenchRun): void {
  if (r.error) {
    progress(`  FAILED: ${r.error}`);
    return;
  }
  const lat = r.latencyMs ? `, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms` : "";
  const cpu = r.cpuUsPerMsg
    ? `, CPU µs/msg client ${r.cpuUsPerMsg.client ?? "?"} broker ${r.cpuUsPerMsg.broker ?? "?"}`
    : "";
  progress(
    `  ${Math.round(r.msgsPerSec ?? 0)} msgs/s over ${((r.elapsedMs ?? 0) / 1000).toFixed(2)} s${lat}${cpu}`,
  );
}

/** pulsar-perf's run that an `ours` run is compared with: same kind and mode; packed → batched. */
function counterpart(runs: readonly BenchRun[], r: BenchRun): BenchRun | undefined {
  const mode = r.mode === "packed" ? "batched" : r.mode;
  return runs.find((t) => t.tool === "pulsar-perf" && t.kind === r.kind && t.mode === mode);
}

/** ours / pulsar-perf msgs/s for each test both completed. */
export function ratios(runs: readonly BenchRun[]): Array<{ test: string; oursOverPerf: number }> {
  const out: Array<{ test: string; oursOverPerf: number }> = [];
  for (const r of runs) {
    if (r.tool !== "ours" || r.msgsPerSec === undefined) continue;
    const theirs = counterpart(runs, r)?.msgsPerSec;
    if (theirs) out.push({ test: testName(r), oursOverPerf: round(r.msgsPerSec / theirs, 3) });
  }
  return out;
}

function testName(r: Pick<BenchRun, "kind" | "mode">): string {
  if (r.kind === "produce") {
    return r.mode === "packed" ? "produce, packed (ours) vs batched (perf)" : `produce, ${r.mode}`;
  }
  return r.mode === "packed"
    ? "consume packed topic (ours) vs batched (perf)"
    : `consume ${r.mode} topic, acked`;
}

/** The results as a markdown table: one row per test of ours, pulsar-perf's counterpart beside it. */
export function markdownTable(runs: readonly BenchRun[]): string {
  const rows = [
    "| test | ours msgs/s | pulsar-perf msgs/s | ours / perf | p50 / p99 ms ours | p50 / p99 ms perf | CPU µs/msg ours (client + broker) | CPU µs/msg perf (client + broker) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const rate = (r: BenchRun | undefined) =>
    r === undefined ? "–" : r.error ? "failed" : Math.round(r.msgsPerSec ?? 0).toLocaleString("en-US");
  const lat = (r: BenchRun | undefined) =>
    r?.latencyMs ? `${fmt(r.latencyMs.p50)} / ${fmt(r.latencyMs.p99)}` : "–";
  const cpu = (r: BenchRun | undefined) =>
    r?.cpuUsPerMsg
      ? `${r.cpuUsPerMsg.client === undefined ? "?" : fmt(r.cpuUsPerMsg.client)} + ${r.cpuUsPerMsg.broker === undefined ? "?" : fmt(r.cpuUsPerMsg.broker)}`
      : "–";
  for (const ours of runs.filter((r) => r.tool === "ours")) {
    const theirs = counterpart(runs, ours);
    const ratio =
      ours.msgsPerSec && theirs?.msgsPerSec
        ? `${Math.round((100 * ours.msgsPerSec) / theirs.msgsPerSec)} %`
        : "–";
    rows.push(
      `| ${testName(ours)} | ${rate(ours)} | ${rate(theirs)} | ${ratio} | ${lat(ours)} | ${lat(theirs)} | ${cpu(ours)} | ${cpu(theirs)} |`,
    );
  }
  return rows.join("\n");
}

const docBegin = "<!-- bench-pulsar:begin (rewritten by `bun run bench pulsar`) -->";
const docEnd = "<!-- bench-pulsar:end -->";

/** Replaces the marked section of the doc (the hand-written explanation around it stays). */
async function updateDoc(file: string, section: string): Promise<void> {
  const text = await readFile(file, "utf8").catch(() => "");
  const block = `${docBegin}\n${section}\n${docEnd}`;
  const begin = text.indexOf(docBegin);
  const end = text.indexOf(docEnd);
  const next =
    begin >= 0 && end > begin
      ? `${text.slice(0, begin)}${block}${text.slice(end + docEnd.length)}`
      : `${text}${text ? "\n" : "# Pulsar client benchmark\n\n"}${block}\n`;
  await writeFile(file, next);
}

/**
 * Keeps bench topics readable by the consume tests although no subscription exists while they are
 * filled: the standalone's default retention is 0, so acknowledged-by-nobody data could be trimmed.
 */
async function setRetention(url: string, namespace: string): Promise<void> {
  const res = await fetch(`${url}/admin/v2/namespaces/${namespace}/retention`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ retentionTimeInMinutes: 60, retentionSizeInMB: 1024 }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) {
    throw new PipelineError(
      "internal",
      `Pulsar answered ${res.status} to set retention on ${namespace}: ${await res.text()}`,
    );
  }
}

async function brokerVersion(url: string): Promise<string> {
  try {
    const res = await fetch(`${url}/admin/v2/brokers/version`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? (await res.text()).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmt(x: number): string {
  return x >= 100 ? String(Math.round(x)) : x.toFixed(1);
}
