/**
 * `bun run bench idle`: what a core costs while no sensor sends anything. It starts `bun run core`
 * (windows only), waits for /ready and a warm-up, then reads for `--seconds` each thread's CPU time and
 * its voluntary context switches (how often it slept and woke again) from /proc/<pid>/task.
 *
 * Why it matters: a core's fixed costs are billed to every reading. At 10,000 readings/s an idle cost of
 * 1 % of a core is 1 CPU-s per million readings, which is half of what architecture B costs per reading
 * (bench ab). On a virtual machine every wake-up is a reschedule through the hypervisor, so the number of
 * wake-ups, not the work done in them, is what an idle process mostly pays for.
 *
 * @example
 * DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun run bench idle --seconds 30
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { commandMain, opt, type Values } from "@energy/platform/config.ts";
import { databaseUrlOption, mqttUrlOption, pulsarUrlOption } from "@energy/platform/options.ts";
import { PulsarAdmin } from "@energy/pulsar/admin.ts";
import { freePort } from "@energy/testing/net.ts";
import { machineInfo } from "./lib/machine.ts";
import { readThreadStats } from "./lib/procstat.ts";
import { waitReady } from "./lib/ready.ts";
import { round } from "./lib/stats.ts";

const spec = {
  name: "bun run bench idle",
  summary:
    "An idle core: CPU and wake-ups per second, by thread, with no sensor sending (windows only).\n" +
    "Needs Mosquitto (MQTT_URL); PostgreSQL from DATABASE_URL, else embedded PGlite in a temporary directory.",
  options: {
    seconds: opt.int("seconds measured", { default: "30", min: 1 }),
    warmup: opt.int("seconds after /ready before measuring (start-up compiles and loads)", {
      default: "8",
      min: 0,
    }),
    mqttUrl: mqttUrlOption("MQTT broker the core subscribes to"),
    databaseUrl: databaseUrlOption("PostgreSQL server; unset = embedded PGlite in a temporary directory"),
    pulsarUrl: pulsarUrlOption(
      "Pulsar web service: the core's logs on Pulsar (a fresh namespace); unset = in-process logs",
    ),
    outDir: opt.string("where the JSON goes", { default: "bench/results" }),
  },
};

type Options = Values<typeof spec.options>;

function threadsOf(pid: number) {
  const stats = readThreadStats(pid);
  if (!stats) throw new PipelineError("internal", `cannot read /proc/${pid}/task: did the core exit?`);
  return stats;
}

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(o: Options): Promise<number> {
  const port = freePort();
  const namespace = `public/bench-idle-${Date.now().toString(36)}`;
  if (o.pulsarUrl) await new PulsarAdmin({ url: o.pulsarUrl.href }).ensureNamespace(namespace);
  const dataDir = o.databaseUrl ? undefined : await mkdtemp(path.join(os.tmpdir(), "bench-idle-"));
  const core = Bun.spawn(
    [
      process.execPath,
      "apps/core.ts",
      "--no-forecast",
      "--http-port",
      String(port),
      "--mqtt-url",
      o.mqttUrl.href,
      ...(o.databaseUrl ? ["--database-url", o.databaseUrl.href] : ["--data-dir", dataDir!]),
      ...(o.pulsarUrl ? ["--pulsar-url", o.pulsarUrl.href, "--pulsar-namespace", namespace] : []),
    ],
    { stdout: "ignore", stderr: "ignore", env: { ...process.env, PULSAR_URL: undefined } },
  );
  try {
    await waitReady(port, core, 60_000);
    await Bun.sleep(o.warmup * 1000);
    const start = threadsOf(core.pid);
    console.error(`[bench idle] core pid ${core.pid} ready; measuring ${o.seconds} s`);
    await Bun.sleep(o.seconds * 1000);
    const end = threadsOf(core.pid);
    const threads = [...end]
      .map(([thread, e]) => {
        const s = start.get(thread) ?? { cpuSeconds: 0, wakeups: 0 };
        return {
          thread,
          cpuMsPerSecond: round(((e.cpuSeconds - s.cpuSeconds) * 1000) / o.seconds, 2),
          wakeupsPerSecond: round((e.wakeups - s.wakeups) / o.seconds, 1),
        };
      })
      .filter((t) => t.cpuMsPerSecond > 0 || t.wakeupsPerSecond > 0)
      .sort((a, b) => b.wakeupsPerSecond - a.wakeupsPerSecond);
    const total = {
      cpuMsPerSecond: round(
        threads.reduce((n, t) => n + t.cpuMsPerSecond, 0),
        2,
      ),
      wakeupsPerSecond: round(
        threads.reduce((n, t) => n + t.wakeupsPerSecond, 0),
        1,
      ),
    };
    for (const t of threads)
      console.error(
        `[bench idle] ${t.thread.padEnd(14)} ${String(t.wakeupsPerSecond).padStart(7)} wake-ups/s ${String(t.cpuMsPerSecond).padStart(7)} CPU ms/s`,
      );
    console.error(
      `[bench idle] total          ${String(total.wakeupsPerSecond).padStart(7)} wake-ups/s ${String(total.cpuMsPerSecond).padStart(7)} CPU ms/s (${round(total.cpuMsPerSecond / 10, 2)} % of a core)`,
    );
    const file = path.join(o.outDir, `${new Date().toISOString().slice(0, 10)}-idle.json`);
    await mkdir(o.outDir, { recursive: true });
    await writeFile(
      file,
      `${JSON.stringify(
        {
          machine: machineInfo(),
          options: {
            seconds: o.seconds,
            warmup: o.warmup,
            database: o.databaseUrl ? "server" : "embedded",
            logs: o.pulsarUrl ? "pulsar" : "embedded",
          },
          total,
          threads,
        },
        null,
        2,
      )}\n`,
    );
    console.error(`[bench idle] wrote ${file}`);
    return 0;
  } finally {
    core.kill("SIGTERM");
    await core.exited;
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
