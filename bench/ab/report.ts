/**
 * The A-vs-B results as data (`AbResults`, written as JSON), the issue's targets evaluated from them, and
 * the Markdown report. Pure: everything here is computed from the results object alone.
 */
import { basename } from "node:path";
import type { MachineInfo } from "../lib/machine.ts";
import type { BaselineResult } from "./baseline.ts";
import type { Plan } from "./options.ts";
import type { Mode, PointResult } from "./run.ts";
import { findSaturation, type Saturation, saturationThreshold } from "./saturation.ts";

export interface TargetResult {
  target: string;
  status: "met" | "missed" | "not measured";
  detail: string;
}

export interface AbResults {
  benchmark: "ab";
  date: string;
  startedAt: string;
  finishedAt: string;
  plan: Plan;
  settings: {
    allowedLatenessS: number;
    idleTimeoutS: number;
    leadS: number;
    /** The core's engine memory budget, MB (0 = the machine's RAM); absent in runs before it existed. */
    coreMemoryMb?: number;
    logs: "pulsar" | "embedded";
    database: "postgres" | "pglite";
    forecast: boolean;
  };
  machine: MachineInfo & { mosquitto: string; mosquittoConfig: string; pulsar: string };
  baseline: Partial<Record<Mode, BaselineResult>>;
  points: PointResult[];
  saturation: Partial<
    Record<
      Mode,
      Saturation & {
        sensors: number;
        steps: { offered: number; achieved: number; lost: number; edgeLimited: boolean }[];
      }
    >
  >;
  targets: TargetResult[];
}

const largestS = (r: AbResults) => Math.max(...r.points.map((p) => p.spec.sensors));

/** The ramp at the largest S (the sweep point at that S is its first step). */
export function saturationOf(r: AbResults, mode: Mode): NonNullable<AbResults["saturation"][Mode]> {
  const sensors = largestS(r);
  const steps = r.points
    .filter((p) => p.spec.mode === mode && p.spec.sensors === sensors)
    .map((p) => ({
      offered: p.offered.readingsPerSecond,
      achieved: p.achieved.readingsPerSecond,
      lost: p.counts.lost,
      edgeLimited: p.edgeLimited,
    }))
    .sort((a, b) => a.offered - b.offered);
  return { ...findSaturation(steps), sensors, steps };
}

const fmt = (n: number | undefined, digits = 0): string => {
  if (n === undefined || !Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
};
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? a / b : Number.NaN);

/** The four targets of issue 7, each met, missed (with the reason) or not measured in this run. */
export function evaluateTargets(r: AbResults): TargetResult[] {
  const out: TargetResult[] = [];
  const sensorsSwept = [
    ...new Set(r.points.filter((p) => p.spec.phase === "sweep").map((p) => p.spec.sensors)),
  ];

  // 1. The core is never the bottleneck before the broker.
  const rawA = r.baseline.A?.readingsPerSecond;
  const satA = r.saturation.A;
  if (!rawA || !satA) {
    out.push({
      target: "A: pipeline rate ≥ 0.8 × raw Mosquitto rate",
      status: "not measured",
      detail: "mode A or its baseline was not run",
    });
  } else {
    const share = satA.maxAchieved / rawA;
    const satStep = satA.steps.find((s) => s.offered === satA.saturatedAt);
    const detail =
      satA.saturatedAt === undefined
        ? `kept up at every offered rate up to ${fmt(satA.steps.at(-1)?.offered)} readings/s = ${fmt(share, 2)} × raw ${fmt(rawA)}; ramp higher to find the limit`
        : `saturates at ${fmt(satA.saturatedAt)} readings/s offered (S = ${satA.sensors}); best achieved ${fmt(satA.maxAchieved)} = ${fmt(share, 2)} × raw ${fmt(rawA)} readings/s` +
          (satStep?.edgeLimited
            ? " — the edge emulator could not offer that step on time (edge-limited)"
            : "");
    out.push({
      target: "A: pipeline rate ≥ 0.8 × raw Mosquitto rate",
      status: share >= 0.8 ? "met" : satA.saturatedAt === undefined ? "not measured" : "missed",
      detail,
    });
  }

  // 2. B's CPU and message savings, at the same reading rate (same S and R, sweep or ramp).
  const pairs = samePairs(r);
  if (pairs.length === 0) {
    out.push({
      target: "B: ≥ 5× less core CPU per reading than A",
      status: "not measured",
      detail: "A and B not both run",
    });
    out.push({
      target: "B: ≥ 10× fewer MQTT messages than A",
      status: "not measured",
      detail: "A and B not both run",
    });
  } else {
    const name = (x: Pair) => `S=${x.s} R=${x.rate}`;
    const cpu = pairs.map((x) => ({
      x,
      v: ratio(
        x.a.processes.core.cpuSecondsPerMillionReadings,
        x.b.processes.core.cpuSecondsPerMillionReadings,
      ),
    }));
    const list = (xs: { x: Pair; v: number }[]) => xs.map((c) => `${name(c.x)}: ${fmt(c.v, 1)}×`).join(", ");
    // Judged at the highest common reading rate: at 10 sensors × 1/s the core's fixed costs (timers,
    // scrapes, database) and per-window costs dwarf the per-reading work that B saves.
    const top = cpu.reduce((best, c) =>
      c.x.a.offered.readingsPerSecond > best.x.a.offered.readingsPerSecond ? c : best,
    );
    out.push({
      target: "B: ≥ 5× less core CPU per reading than A",
      status: top.v >= 5 ? "met" : "missed",
      detail: `A/B core CPU per reading ${list(cpu)} (judged at the highest common rate, ${name(top.x)})`,
    });
    const sweeps = pairs.filter((x) => x.a.spec.phase === "sweep");
    const msgs = (sweeps.length > 0 ? sweeps : pairs).map((x) => ({
      x,
      v: ratio(x.a.mqtt.messagesReceived, x.b.mqtt.messagesReceived),
    }));
    const last = msgs.at(-1)!;
    const intervals = last.x.b.mqtt.messagesReceived / Math.max(1, last.x.s);
    out.push({
      target: "B: ≥ 10× fewer MQTT messages than A",
      status: last.v >= 10 ? "met" : "missed",
      detail:
        `A/B messages ${list(msgs)}; a run of D s spans ${fmt(intervals, 1)} partial-or-full intervals per sensor, ` +
        `so the ratio is R·D / intervals (steady state: 60 × R)`,
    });
  }

  // 3. Window end → emitted p99 < allowed lateness + 100 ms.
  const limitMs = r.settings.allowedLatenessS * 1000 + 100;
  const timed = r.points.filter((p) => p.spec.phase === "sweep" && p.latency.windowEndToEmittedMs.n > 0);
  if (timed.length === 0) {
    out.push({
      target: `window end → emitted p99 < ${limitMs} ms`,
      status: "not measured",
      detail: "no window closed by the watermark",
    });
  } else {
    const worst = timed.reduce((w, p) =>
      p.latency.windowEndToEmittedMs.p99 > w.latency.windowEndToEmittedMs.p99 ? p : w,
    );
    out.push({
      target: `window end → emitted p99 < allowed lateness + 100 ms = ${limitMs} ms`,
      status: timed.every((p) => p.latency.windowEndToEmittedMs.p99 < limitMs) ? "met" : "missed",
      detail: `${timed.map((p) => `${p.spec.mode} S=${p.spec.sensors}: ${fmt(p.latency.windowEndToEmittedMs.p99)} ms`).join(", ")}; worst ${worst.label}`,
    });
  }

  // 4. 10,000 sensors without loss, core RSS < 200 MB.
  const big = r.points.filter((p) => p.spec.phase === "sweep" && p.spec.sensors >= 10_000);
  if (big.length === 0) {
    out.push({
      target: "10,000 sensors without loss, core RSS < 200 MB",
      status: "not measured",
      detail: `largest sweep point S = ${fmt(Math.max(0, ...sensorsSwept))} (a --quick run stops at 1,000)`,
    });
  } else {
    // RSS during the load, not VmHWM: with embedded PGlite the lifetime peak is its start-up migrations.
    // Late readings are dead-lettered, not in any window: for this in-order workload they are loss too.
    const ok = big.every(
      (p) => p.counts.lost === 0 && p.counts.late === 0 && p.complete && p.processes.core.runPeakRssMb < 200,
    );
    out.push({
      target: "10,000 sensors without loss, core RSS < 200 MB",
      status: ok ? "met" : "missed",
      detail: big
        .map(
          (p) =>
            `${p.spec.mode}: lost ${p.counts.lost}, late ${p.counts.late}, core RSS during the load ${fmt(p.processes.core.runPeakRssMb)} MB (VmHWM ${fmt(p.processes.core.peakRssMb)} MB${r.settings.database === "pglite" ? ", embedded PGlite included" : ""})`,
        )
        .join("; "),
    });
  }
  return out;
}

function sweepTable(r: AbResults): string[] {
  const rawOf = (m: Mode) => r.baseline[m]?.readingsPerSecond ?? Number.NaN;
  const rows = [
    "| S | mode | offered rd/s | achieved rd/s | ÷ offered | ÷ raw | MQTT msg/s | MQTT KB/s | bytes/rd | reading→window p50/p99 s (buckets) | window end→emitted p50/p95/p99 ms (exact, n) | window end→forecast p50/p99 ms (exact) | core CPU s/M rd | edge CPU s/M rd | broker CPU s/M rd | core RSS MB: run peak (VmHWM) | edge RSS MB | lost / late / invalid |",
    "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---|---:|---|",
  ];
  for (const p of r.points.filter((x) => x.spec.phase === "sweep")) {
    const e = p.latency.windowEndToEmittedMs;
    const rw = p.latency.readingToWindowS;
    const f = p.latency.windowEndToForecastMs;
    rows.push(
      `| ${fmt(p.spec.sensors)} | ${p.spec.mode} | ${fmt(p.offered.readingsPerSecond)} | ${fmt(p.achieved.readingsPerSecond)} | ${fmt(p.achieved.ratio, 2)} | ${fmt(ratio(p.achieved.readingsPerSecond, rawOf(p.spec.mode)), 3)} | ${fmt(p.mqtt.messagesPerSecond)} | ${fmt(p.mqtt.bytesPerSecond / 1024, 1)} | ${fmt(p.mqtt.bytesPerReading, 1)} | ${fmt(rw.p50, 2)} / ${rw.lowerBound ? ">" : ""}${fmt(rw.p99, 2)} | ${fmt(e.p50)} / ${fmt(e.p95)} / ${fmt(e.p99)} (${e.n}) | ${f ? `${fmt(f.p50)} / ${fmt(f.p99)}` : "–"} | ${fmt(p.processes.core.cpuSecondsPerMillionReadings, 1)} | ${fmt(p.processes.edge.cpuSecondsPerMillionReadings, 1)} | ${fmt(p.processes.broker.cpuSecondsPerMillionReadings, 1)} | ${fmt(p.processes.core.runPeakRssMb)} (${fmt(p.processes.core.peakRssMb)}) | ${fmt(p.processes.edge.runPeakRssMb)} | ${p.counts.lost} / ${p.counts.late} / ${p.counts.invalid}${p.complete ? "" : " (incomplete)"} |`,
    );
  }
  return rows;
}

/** Pulsar backlog of the core's subscriptions right after the last window was stored (acks are async). */
function pulsarLines(r: AbResults): string[] {
  const withBacklog = r.points.filter((p) => p.pulsarBacklog);
  if (withBacklog.length === 0) return [];
  const cell = (b: Record<string, number>) =>
    Object.entries(b)
      .map(([topic, n]) => `${topic} ${n < 0 ? "unreadable" : fmt(n)}`)
      .join(", ");
  return [
    `Pulsar backlog at the end (readings for the windower, windows for the forecaster when it runs): ${withBacklog.map((p) => `${p.spec.mode} S=${p.spec.sensors} R=${p.spec.rate}: ${cell(p.pulsarBacklog!)}`).join("; ")}.`,
    "",
  ];
}

interface Pair {
  s: number;
  rate: number;
  a: PointResult;
  b: PointResult;
}

/** A and B points with the same S and R (sweep and ramp), by offered rate. */
function samePairs(r: AbResults): Pair[] {
  const out: Pair[] = [];
  for (const a of r.points.filter((p) => p.spec.mode === "A")) {
    const b = r.points.find(
      (p) => p.spec.mode === "B" && p.spec.sensors === a.spec.sensors && p.spec.rate === a.spec.rate,
    );
    if (b) out.push({ s: a.spec.sensors, rate: a.spec.rate, a, b });
  }
  return out.sort((x, y) => x.a.offered.readingsPerSecond - y.a.offered.readingsPerSecond);
}

function abRatioTable(r: AbResults): string[] {
  const rows = [
    "| S | R/s | readings/s | core CPU s/M rd A / B | core CPU per reading A ÷ B | MQTT messages A ÷ B | MQTT bytes A ÷ B | edge CPU per reading A ÷ B |",
    "|---:|---:|---:|---|---:|---:|---:|---:|",
  ];
  for (const { s, rate, a, b } of samePairs(r)) {
    rows.push(
      `| ${fmt(s)} | ${fmt(rate, rate < 1 ? 3 : 0)} | ${fmt(a.offered.readingsPerSecond)} | ${fmt(a.processes.core.cpuSecondsPerMillionReadings, 1)} / ${fmt(b.processes.core.cpuSecondsPerMillionReadings, 1)} | ${fmt(ratio(a.processes.core.cpuSecondsPerMillionReadings, b.processes.core.cpuSecondsPerMillionReadings), 1)} | ${fmt(ratio(a.mqtt.messagesReceived, b.mqtt.messagesReceived), 1)} | ${fmt(ratio(a.mqtt.bytesReceived, b.mqtt.bytesReceived), 2)} | ${fmt(ratio(a.processes.edge.cpuSecondsPerMillionReadings, b.processes.edge.cpuSecondsPerMillionReadings), 1)} |`,
    );
  }
  return rows;
}

function saturationTable(r: AbResults): string[] {
  const rows = [
    "| mode | S | steps: offered → achieved readings/s | saturated at (offered) | best achieved | ÷ raw |",
    "|:---:|---:|---|---:|---:|---:|",
  ];
  for (const m of ["A", "B"] as const) {
    const s = r.saturation[m];
    if (!s) continue;
    const steps = s.steps
      .map(
        (x) =>
          `${fmt(x.offered)} → ${fmt(x.achieved)}${x.lost > 0 ? ` (lost ${x.lost})` : ""}${x.edgeLimited ? " (edge-limited)" : ""}`,
      )
      .join("; ");
    rows.push(
      `| ${m} | ${fmt(s.sensors)} | ${steps} | ${s.saturatedAt === undefined ? `not reached (> ${fmt(s.steps.at(-1)?.offered)})` : fmt(s.saturatedAt)} | ${fmt(s.maxAchieved)} | ${fmt(ratio(s.maxAchieved, r.baseline[m]?.readingsPerSecond ?? Number.NaN), 2)} |`,
    );
  }
  return rows;
}

/**
 * Hand-written findings that a regenerated report keeps (`--from-json` re-renders with the current text):
 * what limits each missed target, from profiles and A/B runs on the development machine.
 */
export const analysis: string[] = [
  "## What limits it (the committed full run, plus targeted runs the same day; 2 cores shared with the edge and Mosquitto)",
  "",
  "The table above is one run: the edge, Mosquitto and the core share the machine's 2 cores, and the core runs the forecaster in-process (its default). Extra figures below were measured the same day, each named with its setup; the profile is `bun --cpu-prof` of the core (A, 1,000 sensors × 16/s, windows only). Bun's sampler attributes some native time loosely; shares are rounded.",
  "",
  "- **The answer to the study's question.** B sends 30× fewer MQTT messages in a 90-s run (60 × R in steady state) and 4.7–5.0× fewer bytes, costs the edge 1.2–5.3× less CPU per reading, closes its windows as soon as a sensor's batch says `complete` (window end → emitted p99 65–189 ms up to 1,000 sensors, 990 ms at 10,000, against A's lateness-bound 5.0–5.6 s), and reaches 74,590 readings/s at 10,000 sensors where A is held to ~38,800 by the edge emulator. Both lose nothing (0 lost, 0 late, 0 invalid at every point).",
  "- **B ≥ 5× less core CPU per reading** is missed (1.3× at 1/s per sensor, 2.9× at 8/s). B removes per-message work only: mqtt.js's receive path and one PUBACK per QoS 1 message, JSON.parse and validation per message, a prom-client label lookup per message (profile of A at saturation: MQTT receive and PUBACK writes ≈ 35 %, windower ≈ 20 %, prom-client ≈ 4 %, parse/validation ≈ 5 %). Per-window work is the same in both modes and dominates at 1 reading/s (a window holds ≤ 60 readings): the windower's aggregates and 60-slot arrays, the window upsert, and — with the forecaster in the core — 60 actuals, an ONNX forecast and 60 forecast rows per window. Windows only (`--windows-only`, 1,000 sensors × 1/s, 20 s, PostgreSQL server) the core used 127 vs 57 s/M readings (2.2×); with the forecaster 255 vs 192 before its writes became `unnest()` arrays, 99 vs 78 in this run. The ratio grows with the rate as per-window work spreads over more readings. Fixes: count metrics in plain numbers and copy them at scrape time (as the edge does), update the idle order once per tick instead of per reading, build slot arrays lazily, run the forecaster in its own process (`bun run forecaster` on Pulsar).",
  "- **Window end → emitted p99 < lateness + 100 ms** holds for B everywhere and for A up to 100 sensors (5,027–5,034 ms); A misses it at 1,000 (5,160 ms) and 10,000 (5,567 ms). In A a window closes when a reading ≥ lateness past its end arrives, and every sensor's reading of that second arrives in the same edge tick: the last of 10,000 windows waits for the whole burst (10,000 messages, then 10,000 window records and upserts) to be processed on one thread. Cutting the core's per-message cost (above) shortens the burst; so would spreading the edge's sends over the second, as real sensors do.",
  "- **Window end → forecast** (forecaster in the core): p99 89–235 ms (B) and ~5.1 s (A) up to 100 sensors, 1.6 s / 6.8 s at 1,000, but 17.3 s (B) and 23.7 s (A) at 10,000: 10,000 windows close within seconds of each other, and their 1.2 M actual and forecast rows are written by the same process that ingests. At that scale run the forecaster as its own process (compose does).",
  "- **10,000 sensors without loss** holds (0 lost, 0 late in both modes); **core RSS < 200 MB** does not: 610 MB (A) and 659 MB (B) with the forecaster in the core. Measured the same day on a PostgreSQL server, A, 10,000 × 1/s, 60 s: 1,168 MB before the windower stopped holding every unfinished readings record until its window closed (it now keeps only the ack, and nothing on the in-process log), 524 MB after, and 268 MB with `--windows-only`: the forecaster (onnxruntime, its batches of rows) accounts for ~250 MB, the windower's per-sensor state (every distinct reading of the open windows, kept so the aggregates do not depend on arrival order) for most of the rest. Embedded PGlite adds about 1 GB at start-up (its migrations), so the RSS target needs a server database. Fixes: a compact per-sensor slot buffer (60 typed slots instead of a map of readings), the forecaster in its own process.",
  "- **A ≥ 0.8 × the raw Mosquitto rate** is met: 38,831 readings/s = 0.92 × the raw 42,331 msg/s of the same run, and that ramp step (80,000 offered) was limited by the edge emulator, not the core (the core kept up with everything the edge sent).",
  "- **Saturation rule for B**: B delivers an interval's readings in one burst at its end; a run's final burst is counted inside the achieved-rate window, so B's achieved rate sits slightly below A's at equal load and its saturation point (74,590 of 80,000 = 93 %) is a lower bound.",
  "- **Not measured here**: the same sweep with the logs on Pulsar (`PULSAR_URL=… bun run bench ab`); our Pulsar consumer reached ~16k messages/s in bench/PULSAR.md, and A puts one readings record per reading on the topic, so the readings topic may become A's limit well before the 38,800 readings/s measured here; B packs a minute per record.",
];

export function renderReport(
  r: AbResults,
  o: { jsonPath: string; plots: string[]; reportPath: string; tableOnly?: boolean },
): string {
  const rel = (p: string) => (p.startsWith("bench/") ? p.slice("bench/".length) : p);
  const m = r.machine;
  const tables = [
    "### Raw broker baseline (same Mosquitto, same payloads, no pipeline)",
    "",
    "| payload | messages | msg/s | readings/s | bytes/msg | lost |",
    "|---|---:|---:|---:|---:|---:|",
    ...(["A", "B"] as const).flatMap((k) => {
      const b = r.baseline[k];
      return b
        ? [
            `| ${k === "A" ? "A: streaming reading" : `B: batch of ${b.readingsPerMessage}`} | ${fmt(b.messages)} | ${fmt(b.messagesPerSecond)} | ${fmt(b.readingsPerSecond)} | ${fmt(b.bytesPerMessage)} | ${b.lost} |`,
          ]
        : [];
    }),
    "",
    `### Sweep: S sensors × ${r.plan.rate} reading/s for ${r.plan.durationS} s`,
    "",
    ...sweepTable(r),
    "",
    ...pulsarLines(r),
    "### A ÷ B at the same reading rate (sweep and ramp points with equal S and R)",
    "",
    ...abRatioTable(r),
    "",
    `### Saturation (achieved < ${saturationThreshold * 100} % of offered, or any loss)`,
    "",
    ...saturationTable(r),
    "",
    "### Targets (issue 7)",
    "",
    "| target | status | detail |",
    "|---|---|---|",
    ...r.targets.map(
      (t) =>
        `| ${t.target} | ${t.status === "met" ? "✅ met" : t.status === "missed" ? "❌ missed" : "– not measured"} | ${t.detail} |`,
    ),
    "",
  ];
  if (o.tableOnly) return `${tables.join("\n")}\n`;
  const lines = [
    "# A (streaming sensors) vs B (smart batching sensors): results",
    "",
    `Generated by \`bun run bench ab${r.plan.quick ? " --quick" : ""}\` on ${r.startedAt.slice(0, 16).replace("T", " ")} UTC` +
      ` (${Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 60_000)} min); raw figures in \`${rel(o.jsonPath)}\`.`,
    "",
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${fmt(m.memoryMb / 1024, 1)} GB, load ${m.loadAverage1m} at start; Bun ${m.bun}; Mosquitto ${m.mosquitto}` +
      ` (own instance, loopback, unlimited in-flight and queues); logs: **${r.settings.logs === "pulsar" ? `Pulsar ${m.pulsar}` : "embedded (in-process), not Pulsar"}**;` +
      ` database: ${r.settings.database === "pglite" ? "embedded PGlite inside the core process" : "PostgreSQL server"}; forecaster: ${r.settings.forecast ? "in the core (its default `--forecast`)" : "off (`--windows-only`, or a core without one): window end → forecast not measured"}.` +
      ` Core: allowed lateness ${r.settings.allowedLatenessS} s, idle timeout ${r.settings.idleTimeoutS} s.`,
    "",
    ...(r.plan.quick
      ? [
          "> A `--quick` run (S ≤ 1,000, 20-s points, short ramp) on a shared machine: indicative only. The full run (`bun run bench ab`, about 25 minutes on a quiet machine) replaces it.",
          "",
        ]
      : []),
    ...o.plots.map((p) => `![${basename(p, ".svg")}](${rel(p)})`),
    "",
    ...tables,
    "## How it is measured",
    "",
    "- Each point starts a fresh core (`bun apps/core.ts`, own PGlite directory or scratch database, own Pulsar namespace when on Pulsar) and an edge (`bun apps/edge.ts --source generator --speed 1`, `--batch` for B) against the bench's own Mosquitto; the core's MQTT client is MQTT 5 with receive maximum 65,535.",
    "- **Offered** = S × R readings/s for D s. **Achieved** = readings the core accepted ÷ (time from the edge agent's start until the core had accepted the last one + 1/R, the slot of the last reading): a pipeline that delivers at once spans exactly D; one that falls behind stretches the denominator. B sends each interval at its end, so its last batches arrive in one burst when the run stops; a short run therefore slightly understates B.",
    "- **Window end → emitted** is exact: `emitted_at − window_end` of every stored window that closed by the watermark (A) or a complete batch (B), i.e. ending at least the allowed lateness before the last reading; windows closed later by the idle timeout are not timed. The edge's event clock starts at a chosen instant near now (a minute boundary falls a few seconds into the run); its constant offset from the wall clock, read from the edge's start log line, is subtracted. It includes up to one edge scheduler tick (50 ms).",
    "- **Reading → window** comes from the core's `core_reading_to_window_seconds` histogram (interpolated in its buckets 5 s / 10 s wide around A's value: coarse).",
    "- **CPU** = utime + stime from `/proc/<pid>/stat` between the edge's start and the moment the core had stored every window, per million readings accepted; it includes the core's fixed costs over that time (timers, the bench's once-a-second /metrics scrape, the database), which dominate at 10 sensors. **RSS**: highest VmRSS sampled every 250 ms during the load, and VmHWM (lifetime peak) in parentheses; with PGlite the core's RSS includes the embedded PostgreSQL, whose start-up migrations peak near 1 GB.",
    "- **Lost** = readings the edge sent − readings in stored windows − duplicates − late − invalid. Late and invalid come from the core's counters and must be 0 for this in-order live workload.",
    "- **Raw baseline**: a publisher process (4 QoS 1 connections, 1,000 in flight each, as the edge) and a subscriber process (MQTT 5, receive maximum 65,535, QoS 1, counting only), same Mosquitto, the same message shapes; rate = messages received ÷ (last receive − first publish).",
    "",
    ...analysis,
    "",
  ];
  return `${lines.join("\n")}\n`;
}
