/** The run's results as text: a progress line per test, ours/perf ratios, the Markdown table of PULSAR.md. */
import { readFile, writeFile } from "node:fs/promises";
import { round } from "../lib/stats.ts";
import type { BenchRun } from "./measure.ts";

/** One test's figures (or its failure) as a progress line. */
export function describeRun(r: BenchRun): string {
  if (r.error) return `  FAILED: ${r.error}`;
  const lat = r.latencyMs ? `, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms` : "";
  const cpu = r.cpuUsPerMsg
    ? `, CPU µs/msg client ${r.cpuUsPerMsg.client ?? "?"} broker ${r.cpuUsPerMsg.broker ?? "?"}`
    : "";
  return `  ${Math.round(r.msgsPerSec ?? 0)} msgs/s over ${((r.elapsedMs ?? 0) / 1000).toFixed(2)} s${lat}${cpu}`;
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

function fmt(x: number): string {
  return x >= 100 ? String(Math.round(x)) : x.toFixed(1);
}

const docBegin = "<!-- bench-pulsar:begin (rewritten by `bun run bench pulsar`) -->";
const docEnd = "<!-- bench-pulsar:end -->";

/** Replaces the marked section of the doc (the hand-written explanation around it stays). */
export async function updateDoc(file: string, section: string): Promise<void> {
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
