/** The fault matrix as a Markdown table (pure). */
import type { ScenarioResult } from "./scenarios.ts";

const cell = (v: number | string | null | undefined) => (v === null || v === undefined ? "–" : String(v));

export function markdownReport(
  results: readonly ScenarioResult[],
  meta: { title: string; command: string; machine: string; startedAt: string },
): string {
  const lines = [
    `# ${meta.title}`,
    "",
    `Command: \`${meta.command}\` — started ${meta.startedAt}. Machine: ${meta.machine}.`,
    "",
    "| scenario | fault | sent | stored | late | duplicates | lost | invalid / dead-lettered | recovery s | restarts needed | peak core RSS MB | stop s | targets |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of results) {
    const a = r.accounting;
    const missed = r.targets.filter((t) => !t.ok).map((t) => `${t.name} (${t.value})`);
    lines.push(
      `| ${r.scenario} | ${r.fault || "–"} | ${a.sent} | ${a.stored} | ${a.late} | ${a.duplicates} | ${a.lost} | ${a.invalid} | ${cell(r.recoveryS)} | ${r.restartsNeeded}${r.coreGaveUp ? " (gave up)" : ""} | ${r.peakCoreRssMb} | ${cell(r.shutdownS)} | ${missed.length === 0 ? "all met" : `missed: ${missed.join("; ")}`} |`,
    );
  }
  lines.push(
    "",
    "Columns: *sent* = distinct readings of the in-order fleet the broker acknowledged (edge scenario: seen by a",
    "tap subscriber); *stored* = sum of the stored windows' counts for the fleet; *late* = late dead letters of fleet sensors;",
    "*duplicates* = readings counted twice (a window count above its real slots, a late letter for a stored reading,",
    "a repeated late letter); *lost* = sent − stored − late-and-not-stored − rejected; *invalid* = dead letters",
    "with another reason; *recovery* = seconds from the fault's end until /ready is 200, the core has received",
    "what the fleet had sent by then (± 3 s of fleet output) and stored the windows it had emitted; *restarts",
    "needed* = unplanned core exits the harness restarted (budget 3); *stop* = graceful SIGTERM stop duration.",
    "",
  );
  for (const r of results) {
    const notes = [...r.notes, ...(r.error ? [`error: ${r.error}`] : [])];
    const extra = Object.keys(r.extra).length > 0 ? ` extra: \`${JSON.stringify(r.extra)}\`` : "";
    const counters =
      Object.keys(r.coreCounters).length > 0 ? ` core counters: \`${JSON.stringify(r.coreCounters)}\`` : "";
    lines.push(
      `- **${r.scenario}** — ${r.description}.${counters}${extra}${notes.length ? ` Notes: ${notes.join("; ")}.` : ""}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
