/**
 * `bun run bench ml`: the forecaster's costs against the issue's targets (a device's model trains in under
 * 10 s on one core; batched inference under 0.1 ms per sensor).
 *
 * - Training: each head trained as in production (seed device 2's first 600 rows, LSTM(25), lookback 60,
 *   batch 32, residual target, the production epochs): wall time per model and per epoch (p50/p99).
 * - `bun run ml train` for every seed device and the shared model, as a user runs it (a subprocess writing
 *   to a temporary model directory): wall time against the 60-s target.
 * - Inference through onnxruntime-node (OnnxForecaster, one intra-op thread): latency of a whole 60-s
 *   forecast for 1 sensor and for a batch of 1,000 sensors, per-sensor cost, forecasts per second.
 *
 * Writes bench/results/<date>-ml.json (with the machine) and prints a markdown table.
 *
 *     bun run bench ml            # ~2 min (the recursive head's 1,000-sensor forecast is 60 ONNX runs)
 *     bun run bench ml --quick    # ~10 s: 20 epochs, fewer inference runs
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { OnnxForecaster } from "@energy/ml/inference.ts";
import { encodeOnnxModel } from "@energy/ml/onnx.ts";
import { readSeedCsv } from "@energy/ml/seed.ts";
import { defaultTrainOptions, type ForecastHead, train } from "@energy/ml/train.ts";
import { commandMain, opt, type Values } from "@energy/platform/config.ts";
import { machineInfo } from "./lib/machine.ts";
import { type Summary, summarize } from "./lib/stats.ts";

const repoRoot = new URL("../", import.meta.url).pathname;

const spec = {
  name: "bun run bench ml",
  summary:
    "LSTM training time per model and per epoch (600 rows), `bun run ml train` for all seed devices, ONNX " +
    "inference latency for 1 and 1,000 sensors, forecasts/s. Writes bench/results/<date>-ml.json and prints a markdown table.",
  options: {
    quick: opt.boolean(
      "~10 s preset: 10 epochs, fewer inference runs, no ml train run (results file gets -quick)",
    ),
    epochs: opt.int(`training epochs (default ${defaultTrainOptions.epochs}, --quick 10)`, {
      min: 1,
      max: 10_000,
    }),
    heads: opt.list(
      "heads to measure",
      (raw, label) => {
        if (raw !== "recursive" && raw !== "direct") {
          throw new PipelineError("config", `${label} "${raw}" is not recursive or direct`);
        }
        return raw as ForecastHead;
      },
      { default: "recursive,direct" },
    ),
    sensors: opt.int("sensors in the batched inference test", { default: "1000", min: 2 }),
    seedFile: opt.string("seed CSV to train on (its first 600 rows)", {
      default: join(repoRoot, "data/seed/device_2_batch_data_2025-12-08.csv"),
    }),
    outDir: opt.string("where the JSON goes", { default: join(repoRoot, "bench/results") }),
  },
  examples: ["bun run bench ml", "bun run bench ml --quick --heads direct"],
};

type Options = Values<typeof spec.options>;

interface TrainingFigures {
  head: ForecastHead;
  epochs: number;
  windows: number;
  /** Whole train() call: epochs, periodic validation and the final validation forecasts (wall clock). */
  modelSeconds: number;
  /** CPU time of the same call (user + system): on a shared, busy machine closer to an idle core's wall time. */
  cpuSeconds: number;
  epochMs: Summary;
  validationRmse: number;
}

interface InferenceFigures {
  head: ForecastHead;
  sensors: number;
  runs: number;
  /** Latency of one `forecast()` call producing 60 values per sensor (recursive: 60 ONNX runs). */
  latencyMs: Summary;
  perSensorUsP50: number;
  forecastsPerSecond: number;
}

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(o: Options): Promise<number> {
  const startedAt = new Date();
  const machineBefore = machineInfo();
  const epochs = o.epochs ?? (o.quick ? 10 : defaultTrainOptions.epochs);
  const seed = await readSeedCsv(o.seedFile);
  if (seed.values.length < 600 + 60) {
    throw new PipelineError("validation", `${o.seedFile} has ${seed.values.length} rows, need at least 660`);
  }
  const series = seed.values.subarray(0, 600);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const training: TrainingFigures[] = [];
  const inference: InferenceFigures[] = [];
  for (const head of o.heads ?? []) {
    log(`training ${head} head: ${epochs} epochs on 600 rows…`);
    const stamps: number[] = [];
    let last = performance.now();
    const cpuBefore = process.cpuUsage();
    const result = train(series, {
      head,
      epochs,
      onEpoch: () => {
        const now = performance.now();
        stamps.push(now - last);
        last = now;
      },
    });
    const cpu = process.cpuUsage(cpuBefore);
    training.push({
      head,
      epochs,
      windows: result.trainSamples,
      modelSeconds: result.trainMs / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      epochMs: summarize(stamps),
      validationRmse: result.validation.rmse,
    });
    log(`  ${(result.trainMs / 1000).toFixed(2)} s (CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s)`);

    const onnx = await OnnxForecaster.load(
      encodeOnnxModel(result.model, {
        lookback: 60,
        scaler: result.scaler,
        ...(result.residual ? { residual: result.residual } : {}),
        head,
        horizon: 60,
      }),
      { threads: 1, source: `bench ${head} model` },
    );
    try {
      for (const sensors of [1, o.sensors]) {
        // Real windows (raw watts; the scaler is folded into the graph), cycling through the seed series.
        const windows = new Float32Array(sensors * 60);
        for (let s = 0; s < sensors; s++) {
          const start = (s * 7) % (seed.values.length - 60);
          windows.set(seed.values.subarray(start, start + 60), s * 60);
        }
        const runs =
          sensors === 1
            ? o.quick
              ? 50
              : 300
            : head === "recursive"
              ? o.quick
                ? 3
                : 10
              : o.quick
                ? 10
                : 50;
        await onnx.forecast(windows, sensors, 60);
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          await onnx.forecast(windows, sensors, 60);
          times.push(performance.now() - t0);
        }
        const latencyMs = summarize(times);
        inference.push({
          head,
          sensors,
          runs,
          latencyMs,
          perSensorUsP50: (latencyMs.p50 * 1000) / sensors,
          forecastsPerSecond: (sensors * 1000) / latencyMs.p50,
        });
        log(`  inference ${sensors} sensor(s): p50 ${latencyMs.p50.toFixed(3)} ms`);
      }
    } finally {
      await onnx.release();
    }
  }
  let trainAllSeconds: number | null = null;
  if (!o.quick) {
    // The command a user runs, timed end to end (process start, seed CSVs, every model, the store).
    const dir = await mkdtemp(join(tmpdir(), "bench-ml-train-"));
    try {
      log("bun run ml train (all seed devices and shared)…");
      const t0 = performance.now();
      const proc = Bun.spawn(["bun", join(repoRoot, "apps/ml.ts"), "train", "--model-dir", dir], {
        stdout: "pipe",
        stderr: "ignore",
      });
      const table = await new Response(proc.stdout).text();
      if ((await proc.exited) !== 0) throw new PipelineError("internal", "bun run ml train failed");
      trainAllSeconds = (performance.now() - t0) / 1000;
      log(`  ${trainAllSeconds.toFixed(1)} s\n${table}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const result = {
    benchmark: "ml",
    date: startedAt.toISOString(),
    preset: o.quick ? "quick" : "default",
    setup: {
      seedFile: o.seedFile.replace(repoRoot, ""),
      rows: 600,
      lookback: 60,
      horizon: 60,
      hidden: 25,
      batchSize: 32,
      epochs,
      onnxThreads: 1,
    },
    machine: { ...machineBefore, loadAverage1mAfter: machineInfo().loadAverage1m },
    training,
    trainAllSeconds,
    inference,
  };
  await mkdir(o.outDir, { recursive: true });
  const file = join(o.outDir, `${startedAt.toISOString().slice(0, 10)}-ml${o.quick ? "-quick" : ""}.json`);
  await Bun.write(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ${result.preset} preset, ` +
      `${machineBefore.cpuModel} (${machineBefore.cores} cores, load ${machineBefore.loadAverage1m}), Bun ${machineBefore.bun}\n\n` +
      `${markdownTables(training, inference)}\n` +
      (trainAllSeconds === null
        ? ""
        : `bun run ml train, all seed devices + shared: ${trainAllSeconds.toFixed(1)} s (target ≤ 60 s ${trainAllSeconds <= 60 ? "✓" : "✗"})\n\n`) +
      `wrote ${file}\n`,
  );
  return 0;
}

const f = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");

/** Training and inference tables in markdown. */
export function markdownTables(training: readonly TrainingFigures[], inference: readonly InferenceFigures[]) {
  const lines = [
    "| training (600 rows, LSTM(25), batch 32) | epochs | windows | per model, wall (s) | per model, CPU (s) | per epoch p50 (ms) | per epoch p99 (ms) | target |",
    "|---|---|---|---|---|---|---|---|",
    ...training.map(
      (t) =>
        `| ${t.head} head | ${t.epochs} | ${t.windows} | ${f(t.modelSeconds, 2)} | ${f(t.cpuSeconds, 2)} | ${f(t.epochMs.p50, 1)} | ` +
        `${f(t.epochMs.p99, 1)} | ${t.modelSeconds < 10 ? "< 10 s ✓" : "< 10 s ✗"} |`,
    ),
    "",
    "| inference (onnxruntime-node, 1 thread, 60-s forecast) | sensors | runs | p50 (ms) | p99 (ms) | per sensor p50 (µs) | forecasts/s | target |",
    "|---|---|---|---|---|---|---|---|",
    ...inference.map(
      (r) =>
        `| ${r.head} head | ${r.sensors} | ${r.runs} | ${f(r.latencyMs.p50, 3)} | ${f(r.latencyMs.p99, 3)} | ` +
        `${f(r.perSensorUsP50, 1)} | ${Math.round(r.forecastsPerSecond).toLocaleString("en-US")} | ` +
        `${r.sensors > 1 ? (r.perSensorUsP50 < 100 ? "< 0.1 ms ✓" : "< 0.1 ms ✗") : ""} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
