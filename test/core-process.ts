/**
 * Helpers for tests that run the core as a child process (`bun core/cli.ts`) against real servers: start
 * it and wait for its ops URL, read its Prometheus metrics, and the window columns
 * that depend only on the readings (so stored rows compare with the pure windower's).
 *
 * @example
 * const core = await startCoreProcess({ PULSAR_URL: url, CORE_HTTP_PORT: "0" });
 * await until("a window", async () => (await metric(core.opsUrl, "core_windows_emitted_total")) > 0, 10_000, core.log);
 */
import { fileURLToPath } from "node:url";
import { parsePrometheus, sumMetric } from "../lib/prom-text.ts";
import type { WindowRecord } from "../lib/records.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** A `bun core/cli.ts` child process and what it wrote to stderr. */
export interface CoreProcess {
  proc: ReturnType<typeof Bun.spawn>;
  opsUrl: string;
  log: () => string;
}

/** Spawns a core with `env` on top of this process's environment; resolves once it says it is running. */
export async function startCoreProcess(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<CoreProcess> {
  const proc = Bun.spawn(["bun", "core/cli.ts"], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let text = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) text += decoder.decode(chunk);
  })();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = /core running; health (http:\/\/[^\s,]+)\/health/.exec(text);
    if (found) return { proc, opsUrl: found[1]!, log: () => text };
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`core did not start (exit ${proc.exitCode}); its log:\n${text}`);
    await Bun.sleep(50);
  }
}

/** Sum of a metric of the core's /metrics over the series matching `where` (`{ topic: "readings" }`); 0 if absent. */
export async function metric(
  opsUrl: string,
  name: string,
  where: Record<string, string> = {},
): Promise<number> {
  return sumMetric(parsePrometheus(await (await fetch(`${opsUrl}/metrics`)).text()), name, where);
}

/** The window columns that depend only on the readings (not on processing time or redeliveries). */
export function comparable(w: Omit<WindowRecord, "duplicates" | "maxCreatedAtMs" | "emittedAtMs">) {
  return {
    sensorId: w.sensorId,
    windowStartMs: w.windowStartMs,
    windowEndMs: w.windowEndMs,
    count: w.count,
    sum: w.sum,
    mean: w.mean,
    min: w.min,
    max: w.max,
    firstEventMs: w.firstEventMs,
    lastEventMs: w.lastEventMs,
    slots: w.slots,
    imputed: w.imputed,
    imputedCount: w.imputed.filter(Boolean).length,
  };
}

/** A stored `windows` row (postgres.js) in `comparable`'s shape. */
export function comparableRow(r: Record<string, unknown>): ReturnType<typeof comparable> {
  return {
    sensorId: r.sensor_id as number,
    windowStartMs: (r.window_start as Date).getTime(),
    windowEndMs: (r.window_end as Date).getTime(),
    count: r.count as number,
    sum: r.sum as number,
    mean: r.mean as number,
    min: r.min as number,
    max: r.max as number,
    firstEventMs: (r.first_event as Date).getTime(),
    lastEventMs: (r.last_event as Date).getTime(),
    slots: r.slots as number[],
    imputed: r.imputed as boolean[],
    imputedCount: r.imputed_count as number,
  };
}
