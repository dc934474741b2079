/**
 * `bun run bench ab [--quick]`: architecture A (streaming sensors) vs B (smart batching sensors) through
 * the full pipeline, against a raw-broker baseline measured in the same run (issue 7).
 *
 * Order: own Mosquitto → baseline (A payloads, B payloads) → sweep (each mode × each S, fresh core and
 * edge per point) → saturation ramp at the largest S → JSON, SVG plots, RESULTS.md. Every child process is
 * stopped at the end, on errors and on Ctrl-C.
 */

import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { coreOptions } from "@energy/core/options.ts";
import { type Option, parseCommand, usage } from "@energy/platform/config.ts";
import { runBaseline } from "./ab/baseline.ts";
import { startMosquitto } from "./ab/broker.ts";
import { abCommand, resolvePlan } from "./ab/options.ts";
import { writePlots } from "./ab/plots.ts";
import { Children } from "./ab/procs.ts";
import { type AbResults, evaluateTargets, renderReport, saturationOf } from "./ab/report.ts";
import { type PointResult, type PointSpec, runPoint } from "./ab/run.ts";
import { keptUp } from "./ab/saturation.ts";
import { machineInfo } from "./lib/machine.ts";
import { ProcSampler } from "./lib/procstat.ts";

const progress = (line: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ab: ${line}\n`);

/** Whether this checkout's core has the in-process forecaster option (added by another change). */
async function coreHasForecast(): Promise<boolean> {
  const proc = Bun.spawn([process.execPath, "apps/core.ts", "--help"], { stdout: "pipe", stderr: "ignore" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return /--forecast\b/.test(text);
}

export async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof parseCommand<typeof abCommand.options>>;
  try {
    o = parseCommand(abCommand, argv);
  } catch (error) {
    process.stderr.write(`${abCommand.name}: ${errorMessage(error)}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(
      usage(abCommand as { name: string; summary: string; options: Record<string, Option<unknown>> }),
    );
    return 0;
  }
  const options = o.values;
  if (options.fromJson) return rerender(options.fromJson, options.out, options.report);
  const plan = resolvePlan(options);
  const startedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  const uniqueId = `${process.pid}_${startedAt.getTime().toString(36)}`;
  // Logs and PGlite directories of this run; bench/results/tmp/ is git-ignored.
  const tmp = join(options.out, "tmp", `ab-${startedAt.toISOString().replaceAll(":", "-").slice(0, 19)}`);
  mkdirSync(tmp, { recursive: true });

  const children = new Children();
  const sampler = new ProcSampler(250);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress("interrupted: stopping every process this run started");
    void children.killAll(3_000, true).then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const forecastOption = await coreHasForecast();
    const forecast = forecastOption && !options.windowsOnly;
    // What the core runs with: the bench's option, else the core's own default.
    const coreMemoryMb = options.coreMemoryMb ?? Number(coreOptions.memoryBudget.default);
    // The core's model store defaults to the checkout's data/models; each run works on a copy so it
    // neither trains into nor reads changes from a store other work uses. Without one, the first point's
    // core trains the bootstrap model in a worker (its CPU then counts against that point).
    const modelDir = join(tmp, "models");
    if (forecast && existsSync("data/models")) cpSync("data/models", modelDir, { recursive: true });
    if (forecast && !existsSync(join(modelDir, "shared", "manifest.json"))) {
      // Without a serving model every core would train the bootstrap model during its measured run, and
      // that training's CPU would be billed to the readings of whichever point ran first.
      progress("no shared model to copy: training one now (ml train, 30 epochs), outside any measurement");
      const train = Bun.spawn(
        [
          process.execPath,
          "apps/ml.ts",
          "train",
          "--devices",
          "shared",
          "--epochs",
          "30",
          "--model-dir",
          modelDir,
        ],
        { stdout: "ignore", stderr: "inherit" },
      );
      if ((await train.exited) !== 0) {
        throw new PipelineError(
          "model",
          "training the shared model for the bench failed (see the log above)",
        );
      }
    }
    progress(
      `plan: modes ${plan.modes.join(",")}, sensors ${plan.sensors.join(",")} × ${plan.rate}/s for ${plan.durationS} s` +
        (plan.ramp
          ? `, ramp A ${plan.ramp.A.join(",")} / B ${plan.ramp.B.join(",")} per sensor for ${plan.ramp.durationS} s`
          : "") +
        `; logs ${options.pulsarUrl ? `Pulsar ${options.pulsarUrl.href}` : "embedded (in-process)"}` +
        `; database ${options.databaseUrl ? "PostgreSQL server" : "embedded PGlite"}; forecaster ${forecast ? "in the core" : forecastOption ? "off (--windows-only)" : "not in this core"}` +
        `; core memory budget ${coreMemoryMb === 0 ? "off (machine RAM)" : `${coreMemoryMb} MB`}`,
    );
    const broker = await startMosquitto(children, tmp);
    sampler.watch("broker", broker.child.pid);
    progress(`mosquitto ${broker.version} on ${broker.url} (config ${join(tmp, "mosquitto.conf")})`);

    // The baseline's batches hold what one B message holds at the sweep rate: one minute of readings.
    const readingsPerBatch = Math.max(1, Math.round(60 * plan.rate));
    const baselineSensors = Math.max(...plan.sensors);
    const baseline: AbResults["baseline"] = {};
    for (const m of plan.modes) {
      const kind = m === "A" ? "reading" : "batch";
      progress(`baseline ${m}: raw publish → subscribe of ${kind} messages, no pipeline`);
      const r = await runBaseline(children, {
        url: broker.url,
        kind,
        // A quarter as many batches: each carries a minute of readings, and a tenth ran for only 0.3 s.
        messages: m === "A" ? plan.baselineMessages : Math.max(1000, Math.round(plan.baselineMessages / 4)),
        sensors: baselineSensors,
        readingsPerBatch,
        ratePerSecond: plan.rate,
        dir: tmp,
        timeoutMs: 120_000,
      });
      baseline[m] = r;
      progress(
        `baseline ${m}: ${Math.round(r.messagesPerSecond)} msgs/s = ${Math.round(r.readingsPerSecond)} readings/s (${r.messages} messages, lost ${r.lost})`,
      );
    }

    const ctx = {
      children,
      sampler,
      mqttUrl: broker.url,
      dir: tmp,
      databaseUrl: options.databaseUrl,
      pulsarUrl: options.pulsarUrl,
      forecast,
      forecastOption,
      modelDir,
      allowedLatenessS: options.allowedLateness,
      idleTimeoutS: plan.idleTimeoutS,
      leadS: options.lead,
      coreMemoryMb,
      progress,
      uniqueId,
    };
    const points: PointResult[] = [];
    for (const sensors of plan.sensors) {
      for (const mode of plan.modes) {
        const spec: PointSpec = { mode, sensors, rate: plan.rate, durationS: plan.durationS, phase: "sweep" };
        points.push(await runPoint(ctx, spec));
      }
    }
    if (plan.ramp) {
      const sensors = Math.max(...plan.sensors);
      for (const mode of plan.modes) {
        const first = points.find((p) => p.spec.mode === mode && p.spec.sensors === sensors);
        if (first && !keptUp(stepOf(first))) {
          progress(`ramp ${mode}: already saturated at ${sensors * plan.rate} readings/s; no ramp`);
          continue;
        }
        for (const rate of plan.ramp[mode]) {
          if (rate <= plan.rate) continue;
          const spec: PointSpec = { mode, sensors, rate, durationS: plan.ramp.durationS, phase: "ramp" };
          const r = await runPoint(ctx, spec);
          points.push(r);
          if (!keptUp(stepOf(r))) {
            progress(`ramp ${mode}: saturated at ${sensors * rate} readings/s offered`);
            break;
          }
        }
      }
    }

    await broker.stop();
    sampler.stop();
    const results: AbResults = {
      benchmark: "ab",
      date,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      plan,
      settings: {
        allowedLatenessS: options.allowedLateness,
        idleTimeoutS: plan.idleTimeoutS,
        leadS: options.lead,
        coreMemoryMb,
        logs: options.pulsarUrl ? "pulsar" : "embedded",
        database: options.databaseUrl ? "postgres" : "pglite",
        forecast,
      },
      machine: {
        ...machineInfo(),
        mosquitto: broker.version,
        mosquittoConfig: join(tmp, "mosquitto.conf"),
        pulsar: options.pulsarUrl ? options.pulsarUrl.href : "embedded (in-process logs)",
      },
      baseline,
      points,
      saturation: {},
      targets: [],
    };
    for (const mode of plan.modes) results.saturation[mode] = saturationOf(results, mode);
    results.targets = evaluateTargets(results);

    mkdirSync(options.out, { recursive: true });
    // A windows-only run gets its own names, so it can sit next to the product-default run of the same day.
    const stem = `${date}-ab${forecastOption && !forecast ? "-windows-only" : ""}`;
    const jsonPath = join(options.out, `${stem}.json`);
    writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
    const plots = writePlots(results, options.out, stem);
    writeFileSync(options.report, renderReport(results, { jsonPath, plots, reportPath: options.report }));
    progress(`wrote ${jsonPath}, ${options.report} and ${plots.length} plots`);
    process.stdout.write(
      renderReport(results, { jsonPath, plots, reportPath: options.report, tableOnly: true }),
    );
    return 0;
  } catch (error) {
    progress(`failed: ${errorMessage(error)}`);
    if (!(error instanceof PipelineError) && error instanceof Error && error.stack) progress(error.stack);
    return 1;
  } finally {
    sampler.stop();
    await children.killAll(5_000);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Rewrites the report and plots of an earlier run from its JSON (the figures are not re-measured). */
async function rerender(jsonPath: string, out: string, report: string): Promise<number> {
  let results: AbResults;
  try {
    results = JSON.parse(await Bun.file(jsonPath).text()) as AbResults;
  } catch (error) {
    process.stderr.write(`${abCommand.name}: cannot read results JSON ${jsonPath}: ${errorMessage(error)}\n`);
    return 2;
  }
  results.targets = evaluateTargets(results);
  mkdirSync(out, { recursive: true });
  const stem = basename(jsonPath, ".json");
  const plots = writePlots(results, out, stem);
  writeFileSync(report, renderReport(results, { jsonPath, plots, reportPath: report }));
  progress(`re-rendered ${report} and ${plots.length} plots from ${jsonPath}`);
  return 0;
}

function stepOf(p: PointResult) {
  return {
    offered: p.offered.readingsPerSecond,
    achieved: p.achieved.readingsPerSecond,
    lost: p.counts.lost,
  };
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
