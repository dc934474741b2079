/**
 * One sweep point: a fresh core (own database, own Pulsar namespace when on Pulsar) and an edge process
 * sending S sensors × R readings/s for D seconds through the bench's Mosquitto, measured end to end.
 *
 * Time: the edge runs in real time (speed 1) with its event clock started at a chosen instant T close to
 * now, placed so a minute boundary falls `leadS` seconds into the run; otherwise a short run would often
 * contain no closed one-minute window to time. The event clock then trails (or leads) the wall clock by a
 * constant offset k, read from the edge's "agent started" log line (its timestamp is the agent's wall-clock
 * start, its eventTime is T) and subtracted from window-end times, so delays are processing time only.
 * Reading → window latency uses message_creation_time (wall clock) and needs no correction.
 */

import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { windowMs } from "@energy/contracts/records.ts";
import {
  histogramOf,
  metricByLabel,
  parsePrometheus,
  type Sample,
  sumMetric,
} from "@energy/platform/prom-text.ts";
import { freePort } from "@energy/testing/net.ts";
import { type ProcSampler, readThreadCpu, threadCpuBetween } from "../lib/procstat.ts";
import { waitReady } from "../lib/ready.ts";
import { bucketQuantile, percentile, round, summarize } from "../lib/stats.ts";
import type { Child, Children } from "./procs.ts";
import { createBenchNamespace, deleteBenchNamespace, subscriptionBacklog } from "./pulsar.ts";
import {
  createScratchDatabase,
  emitDelaysMs,
  forecastDelaysMs,
  fullWindowStoreDelaysMs,
  openPgliteResults,
  openPostgresResults,
  type ResultsDb,
  type StoredCounts,
  storedCounts,
} from "./results-db.ts";
import { peakRate } from "./saturation.ts";

export type Mode = "A" | "B";

export interface PointSpec {
  mode: Mode;
  sensors: number;
  /** Readings per second per sensor. */
  rate: number;
  durationS: number;
  /** "sweep" or "ramp": where the point belongs in the report. */
  phase: "sweep" | "ramp";
}

export interface RunContext {
  children: Children;
  sampler: ProcSampler;
  mqttUrl: string;
  /** Where this run's logs and PGlite directories go. */
  dir: string;
  databaseUrl: URL | undefined;
  pulsarUrl: URL | undefined;
  /** Run the core's in-process forecaster (--forecast) and time forecasts; false = --no-forecast. */
  forecast: boolean;
  /** Whether the core knows --forecast at all (older cores have no forecaster). */
  forecastOption: boolean;
  /** The run's own model store (a copy of the checkout's), so no point trains or writes a shared one. */
  modelDir: string;
  allowedLatenessS: number;
  idleTimeoutS: number;
  /** Seconds into the run at which a minute boundary falls (event time). */
  leadS: number;
  /** The core's --memory-budget, MB (0 = the machine's RAM). */
  coreMemoryMb: number;
  progress: (line: string) => void;
  /** A unique suffix for names on shared servers (database, Pulsar namespace). */
  uniqueId: string;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  /** "exact" = from every window's stored times; "buckets" = interpolated from a /metrics histogram. */
  source: "exact" | "buckets";
  n: number;
  /** A bucket estimate that fell in the +Inf bucket is only a lower bound. */
  lowerBound?: boolean;
}

export interface ProcFigures {
  cpuSeconds: number;
  cpuSecondsPerMillionReadings: number;
  /** VmHWM: the process's lifetime peak, start-up included (PGlite's migrations peak near 1 GB). */
  peakRssMb: number;
  /** Highest VmRSS sampled between the edge's start and the end of the drain: the load's own footprint. */
  runPeakRssMb: number;
  /**
   * The core only: its CPU net of answering the bench's own /metrics polls (polls × the CPU of one poll,
   * measured on the core after the drain). The bench polls every 1 s during the load and every 200 ms
   * while draining (2–3.5 ms of core CPU each, measured: ~5 % of B's core CPU, ~3 % of A's).
   */
  pollsServed?: number;
  cpuSecondsPerPoll?: number;
  cpuSecondsPerMillionReadingsNetOfPolls?: number;
  /**
   * The core only: the same CPU by thread (`main`: our JavaScript, GC work on that thread, I/O; `JITWorker`:
   * compiling; `HeapHelper`: parallel GC; `mi-scavenger`: the allocator returning memory), s per M readings.
   * What sampling profilers of the JavaScript thread cannot show.
   */
  cpuByThread?: { thread: string; secondsPerMillionReadings: number }[];
}

export interface PointResult {
  spec: PointSpec;
  label: string;
  offered: { readings: number; readingsPerSecond: number };
  edge: {
    readingsSent: number;
    messagesSent: number;
    bytesSent: number;
    dropped: number;
    errors: number;
    abandoned: number;
    /** Agent start to process exit: above D when the edge (or the broker's acks) could not keep pace. */
    sendSeconds: number;
  };
  achieved: {
    /** Readings the core accepted. */
    readings: number;
    /** readings ÷ (time from the agent's start until the core had accepted the last one + 1/R). */
    readingsPerSecond: number;
    ratio: number;
    /** After the edge stopped, until the core had every reading: the backlog it built up. */
    drainLagSeconds: number;
    /**
     * Fastest intake over any ≥ 5-s stretch of the core's accepted count (bench/ab/saturation.ts
     * `peakRate`): for B, how fast a whole interval's burst is absorbed. Absent in older results.
     */
    peakReadingsPerSecond?: number;
  };
  mqtt: {
    messagesReceived: number;
    bytesReceived: number;
    messagesPerSecond: number;
    bytesPerSecond: number;
    messagesPerReading: number;
    bytesPerReading: number;
  };
  latency: {
    /** Window end → window emitted, ms (exact, per watermark-closed window). */
    windowEndToEmittedMs: Percentiles & { min: number; max: number; mean: number };
    /** Full windows (every slot filled): window end → row stored, ms (exact). */
    fullWindowEndToStoredMs?: Percentiles & { min: number; max: number; mean: number };
    /** Full windows: their last reading → row stored, ms (exact). */
    fullLastReadingToStoredMs?: Percentiles & { min: number; max: number; mean: number };
    /** Full windows: their last reading → emitted by the windower, ms (exact). */
    fullLastReadingToEmittedMs?: Percentiles & { min: number; max: number; mean: number };
    /** Full windows: emitted → row stored (the windows log and the store), ms (exact). */
    fullEmittedToStoredMs?: Percentiles & { min: number; max: number; mean: number };
    /** Newest reading's creation → window emitted, seconds (core histogram buckets). */
    readingToWindowS: Percentiles;
    /** Window end → forecast stored, ms (exact) — only when the core forecasts. */
    windowEndToForecastMs?: Percentiles;
    /** pipeline_end_to_end_seconds buckets, when the core exposes it. */
    endToEndS?: Percentiles;
  };
  counts: {
    sent: number;
    storedReadings: number;
    windows: number;
    lost: number;
    late: number;
    invalid: number;
    duplicates: number;
    deadLetters: Record<string, number>;
    invalidByReason: Record<string, number>;
  };
  processes: { core: ProcFigures; edge: ProcFigures; broker: ProcFigures };
  pulsarBacklog?: Record<string, number>;
  eventClockOffsetMs: number;
  /** False when the core had not taken in every reading before the drain deadline. */
  complete: boolean;
  /** The emulator itself could not offer the load (sent late): the point measures the edge, not the core. */
  edgeLimited: boolean;
  notes: string[];
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function scrape(port: number): Promise<Sample[] | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return parsePrometheus(await res.text());
  } catch {
    return undefined;
  }
}

/** The event-time start T: the instant near `nowMs` at which a minute boundary lies `leadS` seconds later. */
export function eventStartFor(nowMs: number, leadS: number): number {
  const minute = 60_000;
  return Math.round((nowMs + leadS * 1000) / minute) * minute - leadS * 1000;
}

/** Parses the edge's `agent started {...,"eventTime":"..."}` line: [wall ms of the line, event ms]. */
export function parseAgentStarted(line: string): { wallMs: number; eventMs: number } | undefined {
  if (!line.includes("agent started")) return undefined;
  const wallMs = Date.parse(line.slice(0, line.indexOf(" ")));
  const m = /"eventTime":"([^"]+)"/.exec(line);
  const eventMs = m ? Date.parse(m[1]!) : Number.NaN;
  return Number.isFinite(wallMs) && Number.isFinite(eventMs) ? { wallMs, eventMs } : undefined;
}

function bucketPercentiles(samples: Sample[], name: string): Percentiles | undefined {
  const h = histogramOf(samples, name);
  if (!h || h.count === 0) return undefined;
  const total = h.buckets.at(-1)?.count ?? 0;
  const lastFinite = h.buckets.filter((b) => Number.isFinite(b.le)).at(-1)?.count ?? 0;
  return {
    p50: bucketQuantile(h.buckets, 0.5),
    p95: bucketQuantile(h.buckets, 0.95),
    p99: bucketQuantile(h.buckets, 0.99),
    source: "buckets",
    n: h.count,
    // The p99 rank lies in the +Inf bucket: the estimate is only the largest finite bound.
    ...(lastFinite < 0.99 * total ? { lowerBound: true } : {}),
  };
}

/** Exact nearest-rank percentiles and extremes of raw samples. */
export function exactPercentiles(
  values: readonly number[],
): Percentiles & { min: number; max: number; mean: number } {
  const s = summarize(values);
  return {
    p50: s.p50,
    p95: percentile(Float64Array.from(values).sort(), 95),
    p99: s.p99,
    source: "exact",
    n: s.count,
    min: s.min,
    max: s.max,
    mean: s.mean,
  };
}

const procFigures = (
  sampler: ProcSampler,
  name: string,
  cpuSeconds: number,
  readings: number,
  fromMs: number,
): ProcFigures => ({
  cpuSeconds: Math.round(cpuSeconds * 100) / 100,
  cpuSecondsPerMillionReadings: readings > 0 ? (cpuSeconds / readings) * 1e6 : Number.NaN,
  peakRssMb: mb(sampler.peakRssBytes(name)),
  runPeakRssMb: mb(sampler.maxRssBytes(name, fromMs)),
});

/** A point's identity: its progress label, its directory of logs, its name on the shared servers. */
interface Point {
  spec: PointSpec;
  label: string;
  dir: string;
  /** The point's own database and (with dashes) Pulsar namespace, so its counts are its own. */
  name: string;
  notes: string[];
  say: (text: string) => void;
}

/** What a point has started so far, so its cleanup stops exactly that, whichever step failed. */
interface Started {
  scratch?: Awaited<ReturnType<typeof createScratchDatabase>>;
  pulsarNamespace?: string;
  core?: Child;
  edge?: Child;
  db?: ResultsDb;
}

type Sampled = ReturnType<ProcSampler["sample"]>;
type ThreadCpu = ReturnType<typeof readThreadCpu>;

/** Runs one point and returns its figures; every process it started is stopped before it returns. */
export async function runPoint(ctx: RunContext, spec: PointSpec): Promise<PointResult> {
  const point = describePoint(ctx, spec);
  const started: Started = {};
  try {
    const pgliteDir = join(point.dir, "pglite");
    await createPointStorage(ctx, point, started);
    const corePort = freePort();
    const edgePort = freePort();
    const core = await startCore(ctx, point, started, corePort, pgliteDir);

    const progress = new CoreProgress(corePort, offeredReadings(spec), point.say);
    const load = await driveLoad(ctx, point, started, edgePort, progress);
    point.say(`edge done (${load.readingsSent} readings sent); waiting for the core to store every window`);
    const drained = await drainCore(ctx, point, progress, load, started.scratch?.url);
    const poll = await measurePollCpu(ctx, corePort, progress);
    const final = await stopCore(ctx, started, core, corePort, progress, drained.samples);
    const stored = await readStored(ctx, point, started, pgliteDir, load);
    const result = summarise(ctx, point, { load, complete: drained.complete, ...final, stored, poll });
    point.say(
      `achieved ${Math.round(result.achieved.readingsPerSecond)} of ${spec.sensors * spec.rate} readings/s ` +
        `(peak intake ${Math.round(result.achieved.peakReadingsPerSecond ?? 0)}/s over 5 s), lost ${result.counts.lost}, ` +
        `emit p99 ${Math.round(result.latency.windowEndToEmittedMs.p99)} ms, ` +
        (result.latency.fullWindowEndToStoredMs
          ? `full windows: end → stored p99 ${Math.round(result.latency.fullWindowEndToStoredMs.p99)} ms, ` +
            `last reading → stored p99 ${Math.round(result.latency.fullLastReadingToStoredMs!.p99)} ms ` +
            `(→ emitted ${Math.round(result.latency.fullLastReadingToEmittedMs!.p99)}, emitted → stored ${Math.round(result.latency.fullEmittedToStoredMs!.p99)}; ${result.latency.fullWindowEndToStoredMs.n}), `
          : "") +
        `core ${result.processes.core.cpuSecondsPerMillionReadings.toFixed(1)} CPU s/M readings ` +
        `(${result.processes.core.cpuSecondsPerMillionReadingsNetOfPolls?.toFixed(1)} net of ${result.processes.core.pollsServed} /metrics polls at ${((result.processes.core.cpuSecondsPerPoll ?? 0) * 1000).toFixed(1)} ms), ` +
        `core peak RSS ${result.processes.core.peakRssMb} MB; core s/M by thread: ${(
          result.processes.core.cpuByThread ?? []
        )
          .map((t) => `${t.thread} ${t.secondsPerMillionReadings}`)
          .join(", ")}`,
    );
    return result;
  } finally {
    await cleanUp(ctx, started);
  }
}

function describePoint(ctx: RunContext, spec: PointSpec): Point {
  const label = `${spec.mode} S=${spec.sensors} R=${spec.rate}/s D=${spec.durationS}s`;
  const slug = `${spec.phase}-${spec.mode}-s${spec.sensors}-r${spec.rate}`;
  const dir = join(ctx.dir, slug);
  mkdirSync(dir, { recursive: true });
  return {
    spec,
    label,
    dir,
    name: `bench_ab_${ctx.uniqueId}_${slug.replaceAll("-", "_").replaceAll(".", "_")}`.toLowerCase(),
    notes: [],
    say: (text: string) => ctx.progress(`[${label}] ${text}`),
  };
}

/** Starts the point's core and waits until it is ready; its CPU and memory are sampled from then on. */
async function startCore(
  ctx: RunContext,
  point: Point,
  started: Started,
  port: number,
  pgliteDir: string,
): Promise<Child> {
  point.say("starting core");
  const core = ctx.children.spawn("core", coreArgs(ctx, started, port, pgliteDir), {
    logFile: join(point.dir, "core.log"),
    env: childEnv,
  });
  started.core = core;
  await waitReady(port, core, 90_000);
  ctx.sampler.watch("core", core.pid);
  return core;
}

/** CPU seconds a process used between two samples (0 for a sample that could not be read). */
const cpuUsed = (end: Sampled, start: Sampled) => (end?.cpuSeconds ?? 0) - (start?.cpuSeconds ?? 0);

/** CPU of one /metrics poll, from 20 more polls of the drained core (counted with the run's own). */
async function measurePollCpu(
  ctx: RunContext,
  port: number,
  progress: CoreProgress,
): Promise<{ polls: number; cpuSecondsPerPoll: number }> {
  const before = ctx.sampler.sample("core");
  const n = 20;
  for (let i = 0; i < n; i++) await scrape(port);
  const used = cpuUsed(ctx.sampler.sample("core"), before);
  return { polls: progress.polls + n, cpuSecondsPerPoll: Math.max(0, used / n) };
}

/** The core's and the broker's counters at the end of the drain, its last /metrics, then a graceful stop. */
async function stopCore(
  ctx: RunContext,
  started: Started,
  core: Child,
  port: number,
  progress: CoreProgress,
  lastPolled: Sample[] | undefined,
): Promise<
  Pick<
    Measured,
    | "samples"
    | "finalReachedMs"
    | "peakReadingsPerSecond"
    | "coreEnd"
    | "coreThreadsEnd"
    | "brokerEnd"
    | "pulsarBacklog"
  >
> {
  const coreEnd = ctx.sampler.sample("core");
  const coreThreadsEnd = readThreadCpu(core.pid);
  const brokerEnd = ctx.sampler.sample("broker");
  const samples = (await scrape(port)) ?? lastPolled ?? [];
  const pulsarBacklog =
    ctx.pulsarUrl && started.pulsarNamespace
      ? await subscriptionBacklog(ctx.pulsarUrl, started.pulsarNamespace)
      : undefined;
  await core.stop(30_000);
  const finalReachedMs = progress.reachedAt(sumMetric(samples, "core_readings_total"));
  const peakReadingsPerSecond = progress.peakRate(5_000);
  return {
    samples,
    finalReachedMs,
    peakReadingsPerSecond,
    coreEnd,
    coreThreadsEnd,
    brokerEnd,
    pulsarBacklog,
  };
}

const offeredReadings = (spec: PointSpec) => Math.ceil(spec.durationS * spec.rate) * spec.sensors;

/** The point's scratch database on the PostgreSQL server and its Pulsar namespace, when the run uses them. */
async function createPointStorage(ctx: RunContext, point: Point, started: Started): Promise<void> {
  if (ctx.databaseUrl) started.scratch = await createScratchDatabase(ctx.databaseUrl, point.name);
  if (ctx.pulsarUrl) {
    const namespace = `public/${point.name.replaceAll("_", "-")}`;
    await createBenchNamespace(ctx.pulsarUrl, namespace);
    started.pulsarNamespace = namespace;
  }
}

// The children must not inherit the bench's PULSAR_URL/DATABASE_URL: their flags say exactly what they use.
const childEnv = { PULSAR_URL: undefined, DATABASE_URL: undefined, MQTT_URL: undefined, LOG_LEVEL: "info" };

function coreArgs(ctx: RunContext, started: Started, port: number, pgliteDir: string): string[] {
  return [
    process.execPath,
    "apps/core.ts",
    "--mqtt-url",
    ctx.mqttUrl,
    "--http-port",
    String(port),
    "--allowed-lateness",
    String(ctx.allowedLatenessS),
    "--idle-timeout",
    String(ctx.idleTimeoutS),
    ...(started.scratch ? ["--database-url", started.scratch.url.href] : ["--data-dir", pgliteDir]),
    ...(ctx.pulsarUrl && started.pulsarNamespace
      ? ["--pulsar-url", ctx.pulsarUrl.href, "--pulsar-namespace", started.pulsarNamespace]
      : []),
    "--memory-budget",
    String(ctx.coreMemoryMb),
    ...(ctx.forecastOption
      ? ctx.forecast
        ? ["--forecast", "--model-dir", ctx.modelDir]
        : ["--no-forecast"]
      : []),
  ];
}

function edgeArgs(ctx: RunContext, spec: PointSpec, port: number, eventStartMs: number): string[] {
  return [
    process.execPath,
    "apps/edge.ts",
    "--mqtt-url",
    ctx.mqttUrl,
    "--http-port",
    String(port),
    "--source",
    "generator",
    "--sensors",
    String(spec.sensors),
    "--rate",
    String(spec.rate),
    "--speed",
    "1",
    "--duration",
    String(spec.durationS),
    "--start",
    new Date(eventStartMs).toISOString(),
    "--client-id-prefix",
    `ab-edge-${ctx.uniqueId}`,
    ...(spec.mode === "B" ? ["--batch"] : []),
  ];
}

/**
 * Readings the core has accepted, sampled over time from its /metrics: when it reached the final count is
 * the end of the run as the pipeline saw it.
 */
class CoreProgress {
  private readonly trace: { atMs: number; readings: number }[] = [];
  private lastReport = Date.now();
  /** Scrapes made so far: the core's CPU includes answering them. */
  polls = 0;

  constructor(
    private readonly port: number,
    private readonly offered: number,
    private readonly say: (text: string) => void,
  ) {}

  /** Scrapes the core once (undefined when it did not answer), saying how far it is every 5 s. */
  async poll(): Promise<Sample[] | undefined> {
    this.polls++;
    const s = await scrape(this.port);
    if (!s) return undefined;
    this.trace.push({ atMs: Date.now(), readings: sumMetric(s, "core_readings_total") });
    if (Date.now() - this.lastReport >= 5_000) {
      this.lastReport = Date.now();
      this.say(
        `core accepted ${this.trace.at(-1)!.readings} of ${this.offered} readings, stored ${sumMetric(s, "core_windows_stored_total")} windows`,
      );
    }
    return s;
  }

  /** Fastest intake over any stretch of at least `spanMs`, readings/s. */
  peakRate(spanMs: number): number {
    return peakRate(this.trace, spanMs);
  }

  /** When the core first had accepted `readings` (now if never seen). */
  reachedAt(readings: number): number {
    return this.trace.find((t) => t.readings >= readings)?.atMs ?? Date.now();
  }
}

/** The edge's run as the bench saw it: its clocks, its own summary and the CPU counters at its start. */
interface LoadPhase {
  eventStartMs: number;
  runStartMs: number;
  started: { wallMs: number; eventMs: number };
  /** Event clock minus wall clock of the edge: subtracted from window-end times. */
  eventClockOffsetMs: number;
  edgeEndMs: number;
  edgeSummary: Record<string, number>;
  readingsSent: number;
  coreAtStart: Sampled;
  coreThreadsAtStart: ThreadCpu;
  brokerAtStart: Sampled;
  edgeAtStart: Sampled;
  edgeLast: Sampled;
}

/** Starts the edge and polls the core until the edge exits (stopping it after D + 90 s). */
async function driveLoad(
  ctx: RunContext,
  point: Point,
  started: Started,
  edgePort: number,
  progress: CoreProgress,
): Promise<LoadPhase> {
  const { spec, notes } = point;
  const eventStartMs = eventStartFor(Date.now() + 500, ctx.leadS);
  let agentStarted: { wallMs: number; eventMs: number } | undefined;
  const runStartMs = Date.now();
  const coreAtStart = ctx.sampler.sample("core");
  const coreThreadsAtStart = started.core ? readThreadCpu(started.core.pid) : undefined;
  const brokerAtStart = ctx.sampler.sample("broker");
  let edgeAtStart: Sampled;
  point.say("starting edge");
  const edge = ctx.children.spawn("edge", edgeArgs(ctx, spec, edgePort, eventStartMs), {
    logFile: join(point.dir, "edge.log"),
    env: childEnv,
    captureStdout: true,
    onStderrLine: (line) => {
      const s = agentStarted === undefined ? parseAgentStarted(line) : undefined;
      if (s) {
        agentStarted = s;
        edgeAtStart = ctx.sampler.sample("edge");
      }
    },
  });
  started.edge = edge;
  ctx.sampler.watch("edge", edge.pid);
  edgeAtStart = ctx.sampler.sample("edge");

  let edgeCode: number | undefined;
  const edgeDone = edge.exited.then((code) => (edgeCode = code));
  const edgeDeadline = Date.now() + (spec.durationS + 90) * 1000;
  // Once a second while the edge runs: every scrape costs the core CPU (prom-client renders all metrics),
  // which this benchmark counts against it. After the edge stops, 200 ms to time the drain's end.
  while (edgeCode === undefined && Date.now() < edgeDeadline) {
    await Promise.race([progress.poll(), edgeDone]);
    // Near the end the last reading's arrival is what is being timed: poll finer then.
    const elapsedS = agentStarted ? (Date.now() - agentStarted.wallMs) / 1000 : 0;
    await Promise.race([Bun.sleep(elapsedS > spec.durationS - 3 ? 200 : 1_000), edgeDone]);
  }
  const edgeEndMs = Date.now();
  if (edgeCode === undefined) {
    notes.push("edge did not finish in D + 90 s and was stopped");
    await edge.stop(5_000);
  }
  const edgeLast = ctx.sampler.last("edge");
  const summaryLine = edge.stdout().trim().split("\n").at(-1) ?? "{}";
  let edgeSummary: Record<string, number> = {};
  try {
    edgeSummary = JSON.parse(summaryLine) as Record<string, number>;
  } catch {
    notes.push("edge printed no summary");
  }
  if (!agentStarted)
    throw new PipelineError("internal", `the edge never logged "agent started" (see ${point.dir}/edge.log)`);
  return {
    eventStartMs,
    runStartMs,
    started: agentStarted,
    eventClockOffsetMs: agentStarted.wallMs - agentStarted.eventMs,
    edgeEndMs,
    edgeSummary,
    readingsSent: edgeSummary.readingsSent ?? 0,
    coreAtStart,
    coreThreadsAtStart,
    brokerAtStart,
    edgeAtStart,
    edgeLast,
  };
}

/** Until the core has every reading and every window is closed and stored, bounded. */
async function drainCore(
  ctx: RunContext,
  point: Point,
  progress: CoreProgress,
  load: LoadPhase,
  scratchUrl: URL | undefined,
): Promise<{ samples: Sample[] | undefined; complete: boolean }> {
  const { spec } = point;
  const { readingsSent, eventStartMs } = load;
  // Windows of the run per sensor: the minutes its readings span (each sensor sends at the same instants).
  const lastEventMs = eventStartMs + ((Math.ceil(spec.durationS * spec.rate) - 1) * 1000) / spec.rate;
  const expectedWindows =
    spec.sensors * (Math.floor(lastEventMs / windowMs) - Math.floor(eventStartMs / windowMs) + 1);
  const drainDeadline = Date.now() + (ctx.idleTimeoutS + ctx.allowedLatenessS + 30 + spec.durationS) * 1000;
  let samples: Sample[] | undefined;
  let complete = false;
  // On a PostgreSQL server the rows can be read while the core runs: the drain also waits until they hold
  // every accepted reading. Counting windows alone ended a B run early: each window had been stored once
  // (partial, from its first batch) while the last batches were still in the readings log.
  const rows = scratchUrl ? await openPostgresResults(scratchUrl) : undefined;
  const readingsInRows = async () =>
    rows
      ? Number((await rows.query<{ n: string | null }>("select sum(count) as n from windows"))[0]?.n ?? 0)
      : Number.POSITIVE_INFINITY;
  while (Date.now() < drainDeadline) {
    samples = await progress.poll();
    if (samples) {
      const accepted = sumMetric(samples, "core_readings_total");
      const open = sumMetric(samples, "core_open_windows");
      const emitted = sumMetric(samples, "core_windows_emitted_total");
      const stored = sumMetric(samples, "core_windows_stored_total");
      const rejected = sumMetric(samples, "core_invalid_messages_total");
      // Every window emitted and stored: all closed (open 0), or each sensor's windows of the run emitted
      // at least once, the last by the idle timeout, which emits but keeps it open until the sensor is
      // evicted (minutes later: waiting for that would time the drain deadline, not the pipeline).
      const allEmitted = open === 0 || emitted >= expectedWindows;
      const late = sumMetric(samples, "core_late_readings_total");
      const duplicates = sumMetric(samples, "core_duplicate_readings_total");
      if (
        accepted + rejected >= readingsSent &&
        allEmitted &&
        emitted > 0 &&
        emitted === stored &&
        (await readingsInRows()) + late + duplicates >= accepted
      ) {
        complete = accepted + rejected >= readingsSent;
        break;
      }
    }
    await Bun.sleep(200);
  }
  await rows?.close();
  if (!complete) point.notes.push("the core had not stored every reading by the drain deadline");
  return { samples, complete };
}

/** Exact figures from the point's database, once its core has stopped. */
interface StoredFigures {
  counts: StoredCounts;
  /** Window end → emitted, ms, per watermark-closed window. */
  emitMs: number[];
  /** Window end → forecast stored, ms (empty without the forecaster). */
  forecastMs: number[];
  /** Windows with every slot filled: window end, and their last reading, → stored row, ms. */
  full: {
    fromWindowEnd: number[];
    fromLastReading: number[];
    lastReadingToEmitted: number[];
    emittedToStored: number[];
  };
}

async function readStored(
  ctx: RunContext,
  point: Point,
  started: Started,
  pgliteDir: string,
  load: LoadPhase,
): Promise<StoredFigures> {
  const k = load.eventClockOffsetMs;
  started.db = started.scratch
    ? await openPostgresResults(started.scratch.url)
    : await openPgliteResults(pgliteDir);
  const db = started.db;
  const counts = await storedCounts(db);
  // Windows whose end lies before the last reading by more than the lateness closed by the watermark (A)
  // or by a complete batch (B); later ones closed by the idle timeout after the run and are not timed.
  const cutoffMs = load.eventStartMs + point.spec.durationS * 1000 - ctx.allowedLatenessS * 1000;
  const emitMs = (await emitDelaysMs(db, cutoffMs)).map((ms) => ms - k);
  const forecastMs = ctx.forecast ? (await forecastDelaysMs(db, cutoffMs)).map((ms) => ms - k) : [];
  const fullDelays = await fullWindowStoreDelaysMs(db);
  const full = {
    fromWindowEnd: fullDelays.fromWindowEnd.map((ms) => ms - k),
    fromLastReading: fullDelays.fromLastReading.map((ms) => ms - k),
    lastReadingToEmitted: fullDelays.lastReadingToEmitted.map((ms) => ms - k),
    // Both wall-clock times of this machine: no event-clock offset.
    emittedToStored: fullDelays.emittedToStored,
  };
  await db.close();
  started.db = undefined;
  // The logs stay for a post-mortem; the database (tens of MB per point) does not.
  if (!started.scratch) rmSync(pgliteDir, { recursive: true, force: true });
  return { counts, emitMs, forecastMs, full };
}

/** Everything measured for a point, before it is turned into figures. */
interface Measured {
  load: LoadPhase;
  /** The core's last /metrics. */
  samples: Sample[];
  complete: boolean;
  /** When the core had accepted its final count of readings. */
  finalReachedMs: number;
  peakReadingsPerSecond: number;
  coreEnd: Sampled;
  coreThreadsEnd: ThreadCpu;
  brokerEnd: Sampled;
  pulsarBacklog: Record<string, number> | undefined;
  stored: StoredFigures;
  poll: { polls: number; cpuSecondsPerPoll: number };
}

/** The point's figures from what was measured: no I/O. */
function summarise(ctx: RunContext, point: Point, m: Measured): PointResult {
  const { spec } = point;
  const { load, samples, stored } = m;
  const { edgeSummary, readingsSent } = load;
  const offered = offeredReadings(spec);
  const accepted = sumMetric(samples, "core_readings_total");
  // Reading i of a sensor is due at i/R s, so the last is due at D − 1/R; each reading stands for one
  // 1/R slot, so a pipeline that delivers instantly spans exactly D and achieves exactly the offered rate.
  const span = (m.finalReachedMs - load.started.wallMs) / 1000 + 1 / spec.rate;
  const messagesReceived = sumMetric(samples, "core_messages_received_total");
  const bytesReceived = sumMetric(samples, "core_bytes_received_total");
  const late = sumMetric(samples, "core_late_readings_total");
  const invalid = sumMetric(samples, "core_invalid_messages_total");
  const readingToWindow = bucketPercentiles(samples, "core_reading_to_window_seconds") ?? {
    p50: Number.NaN,
    p95: Number.NaN,
    p99: Number.NaN,
    source: "buckets" as const,
    n: 0,
  };
  const endToEnd = bucketPercentiles(samples, "pipeline_end_to_end_seconds");
  const lost = Math.max(0, readingsSent - stored.counts.readings - stored.counts.duplicates - late - invalid);
  const sendSeconds = (load.edgeEndMs - load.started.wallMs) / 1000;
  const coreCpu = cpuUsed(m.coreEnd, load.coreAtStart);
  return {
    spec,
    label: point.label,
    offered: { readings: offered, readingsPerSecond: spec.sensors * spec.rate },
    edge: {
      readingsSent,
      messagesSent: edgeSummary.messagesSent ?? 0,
      bytesSent: edgeSummary.bytesSent ?? 0,
      dropped: edgeSummary.droppedReadings ?? edgeSummary.dropped ?? 0,
      errors: edgeSummary.errors ?? 0,
      abandoned: edgeSummary.abandoned ?? 0,
      sendSeconds,
    },
    achieved: {
      readings: accepted,
      readingsPerSecond: accepted / span,
      ratio: accepted / span / (spec.sensors * spec.rate),
      drainLagSeconds: Math.max(0, (m.finalReachedMs - load.edgeEndMs) / 1000),
      peakReadingsPerSecond: m.peakReadingsPerSecond,
    },
    mqtt: {
      messagesReceived,
      bytesReceived,
      messagesPerSecond: messagesReceived / span,
      bytesPerSecond: bytesReceived / span,
      messagesPerReading: accepted > 0 ? messagesReceived / accepted : Number.NaN,
      bytesPerReading: accepted > 0 ? bytesReceived / accepted : Number.NaN,
    },
    latency: {
      windowEndToEmittedMs: exactPercentiles(stored.emitMs),
      ...(stored.full.fromWindowEnd.length > 0
        ? {
            fullWindowEndToStoredMs: exactPercentiles(stored.full.fromWindowEnd),
            fullLastReadingToStoredMs: exactPercentiles(stored.full.fromLastReading),
            fullLastReadingToEmittedMs: exactPercentiles(stored.full.lastReadingToEmitted),
            fullEmittedToStoredMs: exactPercentiles(stored.full.emittedToStored),
          }
        : {}),
      readingToWindowS: readingToWindow,
      ...(stored.forecastMs.length > 0 ? { windowEndToForecastMs: exactPercentiles(stored.forecastMs) } : {}),
      ...(endToEnd ? { endToEndS: endToEnd } : {}),
    },
    counts: {
      sent: readingsSent,
      storedReadings: stored.counts.readings,
      windows: stored.counts.windows,
      lost,
      late,
      invalid,
      duplicates: stored.counts.duplicates,
      deadLetters: stored.counts.deadLetters,
      invalidByReason: metricByLabel(samples, "core_invalid_messages_total", "reason"),
    },
    processes: {
      core: {
        ...procFigures(ctx.sampler, "core", coreCpu, accepted, load.runStartMs),
        pollsServed: m.poll.polls,
        cpuSecondsPerPoll: m.poll.cpuSecondsPerPoll,
        cpuSecondsPerMillionReadingsNetOfPolls:
          accepted > 0 ? ((coreCpu - m.poll.polls * m.poll.cpuSecondsPerPoll) / accepted) * 1e6 : Number.NaN,
        cpuByThread: threadCpuBetween(m.coreThreadsEnd, load.coreThreadsAtStart).map((t) => ({
          thread: t.thread,
          secondsPerMillionReadings: accepted > 0 ? round((t.seconds / accepted) * 1e6, 2) : Number.NaN,
        })),
      },
      edge: procFigures(
        ctx.sampler,
        "edge",
        cpuUsed(load.edgeLast, load.edgeAtStart),
        readingsSent,
        load.runStartMs,
      ),
      broker: procFigures(
        ctx.sampler,
        "broker",
        cpuUsed(m.brokerEnd, load.brokerAtStart),
        accepted,
        load.runStartMs,
      ),
    },
    ...(m.pulsarBacklog ? { pulsarBacklog: m.pulsarBacklog } : {}),
    eventClockOffsetMs: load.eventClockOffsetMs,
    complete: m.complete,
    edgeLimited: readingsSent < 0.95 * offered || sendSeconds > spec.durationS * 1.1 + 5,
    notes: point.notes,
  };
}

/** Stops and removes whatever the point started, in reverse order; problems are reported, not thrown. */
async function cleanUp(ctx: RunContext, started: Started): Promise<void> {
  await started.edge?.stop(5_000);
  await started.core?.stop(10_000);
  await started.db?.close().catch(() => {});
  await started.scratch
    ?.drop()
    .catch((e) => ctx.progress(`cannot drop scratch database: ${errorMessage(e)}`));
  if (ctx.pulsarUrl && started.pulsarNamespace) {
    const problem = await deleteBenchNamespace(ctx.pulsarUrl, started.pulsarNamespace);
    if (problem) ctx.progress(`Pulsar cleanup: ${problem}`);
  }
}
