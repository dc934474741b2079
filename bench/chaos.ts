/**
 * `bun run chaos`: the fault matrix of issue 11. Starts its own Mosquitto (one per scenario, persistence
 * on), PostgreSQL cluster, second Pulsar standalone and S3Proxy on loopback, runs the real core against
 * each fault with an in-order fleet, and writes bench/results/<date>-chaos[-quick][-label].json and .md.
 * Exits 1 when a scenario misses a target (CI runs `--quick`).
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { coreOptions } from "@energy/core/options.ts";
import { coreForecastOptions } from "@energy/ml/forecaster/options.ts";
import { commandMain, opt, type Values } from "@energy/platform/config.ts";
import { Children } from "./ab/procs.ts";
import { markdownReport } from "./chaos/report.ts";
import { failedResult, type RunContext, type ScenarioResult, scenarios } from "./chaos/scenarios.ts";
import { Cleanup, PgCluster, PulsarInstance, repoRoot, S3Proxy } from "./chaos/servers.ts";
import { machineInfo } from "./lib/machine.ts";

const spec = {
  name: "bun run chaos",
  summary:
    "Fault matrix (issue 11): each scenario runs the real core against servers this command starts on loopback\n" +
    "(Mosquitto, a PostgreSQL cluster, a second Pulsar standalone, S3Proxy), injects one fault and accounts for\n" +
    "every reading: sent, stored, late, duplicates, lost, dead-lettered, recovery, restarts, peak RSS.",
  options: {
    quick: opt.boolean("CI subset (poison messages, a broker restart, slow sensors) in parallel, ≤ 3 min"),
    scenario: opt.list(
      `scenarios to run (default: all, or the quick subset): ${scenarios.map((s) => s.name).join(", ")}`,
      (raw, label) => {
        if (!scenarios.some((s) => s.name === raw)) {
          throw new PipelineError("config", `${label} "${raw}" is not a scenario`, {
            hint: scenarios.map((s) => s.name).join(", "),
          });
        }
        return raw;
      },
    ),
    sensors: opt.int("in-order fleet size (≥ 100 for the matrix)", { default: "100", min: 1, max: 100_000 }),
    duration: opt.number("seconds per scenario instead of each scenario's own", { min: 30, max: 3600 }),
    rssLimitMb: opt.int("distinct-ids: peak core RSS target, MB", { default: "512", min: 16 }),
    label: opt.string("suffix of the results files, e.g. before / after", { default: "" }),
    out: opt.string("where the JSON and Markdown go", { default: join(repoRoot, "bench/results") }),
  },
  examples: [
    "bun run chaos --quick",
    "bun run chaos --scenario core-sigstop-30s,slow-sensors",
    "bun run chaos --label before",
  ],
};

type Options = Values<typeof spec.options>;

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

const log = (line: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} chaos: ${line}\n`);

/**
 * The cores this command spawns inherit its environment; a setting of the caller's own pipeline there (CI
 * exports PULSAR_URL for the tests) would point every scenario's core at one shared server and topic set, and
 * the parallel scenarios would then read each other's readings. Each scenario sets what its core uses.
 */
function forgetPipelineSettings(): void {
  const names = Object.values({ ...coreOptions, ...coreForecastOptions }).flatMap((o) =>
    o.env ? [o.env, `${o.env}_FILE`] : [],
  );
  for (const name of names) delete process.env[name];
}

async function run(o: Options): Promise<number> {
  forgetPipelineSettings();
  process.chdir(repoRoot);
  const startedAt = new Date().toISOString();
  const chosen = scenarios.filter((s) =>
    o.scenario ? o.scenario.includes(s.name) : o.quick ? s.quick : true,
  );
  const runDir = await mkdtemp(join(tmpdir(), "chaos-"));
  chmodSync(runDir, 0o755); // the PostgreSQL cluster runs as user postgres inside it
  log(`run directory ${runDir}; scenarios: ${chosen.map((s) => s.name).join(", ")}`);
  const children = new Children();
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: string) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping every server this run started`);
    void children
      .killAll(3_000, true)
      .then(() => cleanup.run(log))
      .finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  const results: ScenarioResult[] = [];
  try {
    const pg = new PgCluster(join(runDir, "pg"));
    await pg.init();
    await pg.start();
    cleanup.add("postgres", () => pg.stop());
    log(`PostgreSQL cluster on 127.0.0.1:${pg.port}`);

    let pulsar: Promise<PulsarInstance | undefined> | undefined;
    const getPulsar = () => {
      pulsar ??= (async () => {
        const p = new PulsarInstance(join(runDir, "pulsar"));
        cleanup.add("pulsar", () => p.stop());
        log(`starting a second Pulsar standalone on ${p.webPort}/${p.brokerPort} (~45 s)`);
        try {
          await p.start();
          return p;
        } catch (error) {
          log(`second Pulsar failed: ${(error as Error).message.slice(0, 500)}`);
          return undefined;
        }
      })();
      return pulsar;
    };
    let s3: Promise<S3Proxy | undefined> | undefined;
    const getS3 = () => {
      s3 ??= (async () => {
        try {
          await S3Proxy.fetchJar();
          const proxy = new S3Proxy(join(runDir, "s3proxy"), children);
          cleanup.add("s3proxy", () => proxy.stop());
          await proxy.start();
          log(`S3Proxy on ${proxy.url}`);
          return proxy;
        } catch (error) {
          log(`S3Proxy failed: ${(error as Error).message.slice(0, 500)}`);
          return undefined;
        }
      })();
      return s3;
    };
    const ctx: RunContext = {
      runDir,
      children,
      cleanup,
      pg,
      pulsar: getPulsar,
      s3: getS3,
      log,
      sensors: o.sensors,
      durationS: o.duration,
      quick: o.quick,
      rssLimitMb: o.rssLimitMb,
    };
    const runOne = async (s: (typeof chosen)[number]) => {
      const t0 = Date.now();
      log(`[${s.name}] start: ${s.description}`);
      let result: ScenarioResult;
      try {
        result = await s.run(ctx);
      } catch (error) {
        if (interrupted) throw error;
        log(`[${s.name}] failed: ${(error as Error).stack ?? error}`);
        result = failedResult(s, `harness error: ${(error as Error).message}`);
      }
      const a = result.accounting;
      log(
        `[${s.name}] done in ${Math.round((Date.now() - t0) / 1000)}s: sent=${a.sent} stored=${a.stored} late=${a.late} dup=${a.duplicates} lost=${a.lost} invalid=${a.invalid} recovery=${result.recoveryS} restarts=${result.restartsNeeded} rss=${result.peakCoreRssMb}MB ${
          result.ok
            ? "targets met"
            : `MISSED: ${result.targets
                .filter((t) => !t.ok)
                .map((t) => `${t.name}=${t.value}`)
                .join(", ")}`
        }`,
      );
      return result;
    };
    // The quick subset runs in parallel (each scenario has its own broker, database, topic prefix and core);
    // the full matrix one by one, so one scenario's fault never disturbs another's figures.
    if (o.quick && !o.scenario) results.push(...(await Promise.all(chosen.map(runOne))));
    else for (const s of chosen) results.push(await runOne(s));
  } finally {
    await children.killAll(5_000, true);
    await cleanup.run(log);
    // The logs stay for inspection; the servers' data (hundreds of MB with Pulsar) goes.
    for (const data of ["pg/data", "pulsar/data"])
      rmSync(join(runDir, data), { recursive: true, force: true });
    log(`servers stopped; logs in ${runDir}`);
  }

  const date = startedAt.slice(0, 10);
  const name = `${date}-chaos${o.quick ? "-quick" : ""}${o.label ? `-${o.label}` : ""}`;
  mkdirSync(o.out, { recursive: true });
  const machine = machineInfo();
  const command = `bun run chaos ${process.argv.slice(3).join(" ")}`.trim();
  writeFileSync(
    join(o.out, `${name}.json`),
    `${JSON.stringify({ startedAt, command, machine, results }, null, 2)}\n`,
  );
  const md = markdownReport(results, {
    title: `Fault matrix ${o.quick ? "(quick) " : ""}${o.label}`.trim(),
    command,
    machine: `${machine.cores} cores ${machine.cpuModel}, load ${machine.loadAverage1m} at the end, shared with other work`,
    startedAt,
  });
  writeFileSync(join(o.out, `${name}.md`), md);
  process.stdout.write(md);
  log(`wrote ${join(o.out, `${name}.json`)} and .md`);
  return results.every((r) => r.ok) ? 0 : 1;
}
