/**
 * `bun run ml evaluate`: rolling-origin evaluation of the 60-second-ahead forecast on every seed device;
 * writes EVALUATION.md, evaluation.json and evaluation.svg (the logic is in ml/evaluate.ts).
 */
import { mkdir, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandMain, opt, type Values } from "../../lib/config.ts";
import { PipelineError } from "../../lib/errors.ts";
import { type DeviceEvaluation, evaluateDevice, renderMarkdown, renderPlot } from "../evaluate.ts";
import { readSeedCsv, type SeedSeries } from "../seed.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;

const spec = {
  name: "bun run ml evaluate",
  summary:
    "Trains each seed device's models on its first rows and scores our LSTM, the study's recursive setup, " +
    "persistence and the minute mean on 60-s-ahead forecasts from rolling origins in the rest. Progress on stderr.",
  options: {
    seedDir: opt.string("directory of the seed CSVs (one device per sensor_id; the longest file wins)", {
      default: join(repoRoot, "data/seed"),
    }),
    outDir: opt.string("where EVALUATION.md, evaluation.json and evaluation.svg go (--quick: a temp dir)", {
      default: join(repoRoot, "ml"),
    }),
    quick: opt.boolean(
      "20 epochs and an origin every 60 s: a smoke run of a minute, not the committed table",
    ),
    epochs: opt.int("training epochs (default 200, --quick 20)", { min: 1, max: 10_000 }),
    step: opt.int("seconds between forecast origins (default 10, --quick 60)", { min: 1, max: 3600 }),
    trainRows: opt.int("rows each device trains on (the study: 600)", { default: "600", min: 120 }),
    seed: opt.int("random seed for initialisation, shuffling and dropout", { default: "42", min: 0 }),
    devices: opt.list("only these sensor ids (comma-separated)", (raw, label) => {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new PipelineError("config", `${label} "${raw}" is not a sensor id`);
      return n;
    }),
  },
  examples: ["bun run ml evaluate", "bun run ml evaluate --quick --devices 2,3"],
};

type Options = Values<typeof spec.options>;

/** The seed series per sensor id: the longest file of each (60_batch_values.csv is a prefix of device 1). */
async function loadSeedDevices(dir: string): Promise<SeedSeries[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".csv")).sort();
  } catch (cause) {
    throw new PipelineError("not-found", `seed directory ${dir} cannot be read`, { cause });
  }
  const bySensor = new Map<number, SeedSeries>();
  for (const name of names) {
    const s = await readSeedCsv(join(dir, name));
    const kept = bySensor.get(s.sensorId);
    if (!kept || s.values.length > kept.values.length) bySensor.set(s.sensorId, s);
  }
  if (bySensor.size === 0) throw new PipelineError("not-found", `no seed CSV in ${dir}`);
  return [...bySensor.values()].sort((a, b) => a.sensorId - b.sensorId);
}

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, (options) => run(options, argv));
}

async function run(o: Options, argv: string[]): Promise<number> {
  const epochs = o.epochs ?? (o.quick ? 20 : 200);
  const step = o.step ?? (o.quick ? 60 : 10);
  const outDirGiven = argv.some((a) => a === "--out-dir" || a.startsWith("--out-dir="));
  // A quick run must not overwrite the committed table by accident.
  const outDir = o.quick && !outDirGiven ? join(tmpdir(), "ml-evaluate-quick") : o.outDir;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const all = await loadSeedDevices(o.seedDir);
  const selected = o.devices ? all.filter((s) => o.devices!.includes(s.sensorId)) : all;
  if (selected.length === 0) {
    throw new PipelineError("config", `--devices ${o.devices} matches none of ${all.map((s) => s.sensorId)}`);
  }
  const started = performance.now();
  const results: DeviceEvaluation[] = [];
  for (const s of selected) {
    results.push(
      evaluateDevice(s.sensorId, s.values, {
        trainRows: o.trainRows,
        step,
        train: { epochs, seed: o.seed },
        log,
      }),
    );
  }
  // The command as recorded in the outputs, without where they were written (so a copy compares equal).
  const shown = argv.filter((a, i) => !a.startsWith("--out-dir") && argv[i - 1] !== "--out-dir");
  const command = ["bun run ml evaluate", ...shown].join(" ");
  await mkdir(outDir, { recursive: true });
  const md = join(outDir, "EVALUATION.md");
  const json = join(outDir, "evaluation.json");
  const svg = join(outDir, "evaluation.svg");
  await Bun.write(md, renderMarkdown(results, { command, seed: o.seed, quick: o.quick }));
  await Bun.write(
    json,
    // The plot's sample series stay out of the JSON (they are in the SVG): long number arrays are what
    // the formatter would rewrap, and the figures are what a reader compares.
    `${JSON.stringify(
      {
        command,
        seed: o.seed,
        quick: o.quick,
        epochs,
        step,
        trainRows: o.trainRows,
        devices: results.map(({ example: _example, ...figures }) => figures),
      },
      null,
      2,
    )}\n`,
  );
  await Bun.write(svg, `${renderPlot(results)}\n`);
  log(`wrote ${md}, ${json}, ${svg} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const d of results) {
    process.stdout.write(
      `device ${d.device}: LSTM (${d.chosenHead}) MAE ${d.methods.lstm.mae.toFixed(1)} W, skill ${d.methods.lstm.skill.toFixed(3)}\n`,
    );
  }
  return 0;
}
