/**
 * `bun run ml evaluate`: the honest evaluation of what the forecaster serves (ml/evaluate.ts): variants
 * trained on a labelled synthetic set, tested across series on the real trace and on unseen synthetic
 * series; `--walk-forward` adds the replay through the retrain/promotion policy. Writes EVALUATION.md,
 * evaluation.json and evaluation.svg — deterministic: timings go to stderr only.
 */
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandMain, opt, type Values } from "@energy/platform/config.ts";
import {
  type Dataset,
  describeSeeds,
  evaluateVariant,
  type Report,
  renderMarkdown,
  renderPlot,
  type Variant,
  type WalkForwardOptions,
  walkForward,
} from "../evaluate.ts";
import { readSeedDir } from "../seed.ts";
import { syntheticSet } from "../synthetic.ts";
import { defaultTrainOptions } from "../train.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;
const jsonSteps = [1, 5, 10, 20, 30, 45, 60];

const spec = {
  name: "bun run ml evaluate",
  summary:
    "Scores the served forecast (60 s in, 60 s out, minute-aligned origins) by MAE-skill against persistence, by " +
    "horizon, with p10–p90 coverage, on data it never trained on; --walk-forward replays series through the " +
    "retrain/promotion policy. Progress and timings on stderr; the files are deterministic.",
  options: {
    seedDir: opt.string("directory of the seed CSVs", { default: join(repoRoot, "data/seed") }),
    outDir: opt.string("where EVALUATION.md, evaluation.json and evaluation.svg go (--quick: a temp dir)", {
      default: join(repoRoot, "ml"),
    }),
    quick: opt.boolean("one variant, fewer epochs and test series: a smoke run, not the committed table"),
    walkForward: opt.boolean(
      "also replay synthetic test series minute by minute through the retrain/promotion policy",
    ),
    epochs: opt.int("training epochs", { default: String(defaultTrainOptions.epochs), min: 1, max: 10_000 }),
    tests: opt.int("synthetic test series (2 h each, seeds 2000+)", { default: "4", min: 1, max: 50 }),
    trainSeries: opt.int("synthetic training series (2 h each, seeds 1000+)", {
      default: "4",
      min: 1,
      max: 50,
    }),
  },
  examples: ["bun run ml evaluate --walk-forward", "bun run ml evaluate --quick"],
};

type Options = Values<typeof spec.options>;

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, (options) => run(options, argv));
}

async function run(o: Options, argv: string[]): Promise<number> {
  const outDirGiven = argv.some((a) => a === "--out-dir" || a.startsWith("--out-dir="));
  const outDir = o.quick && !outDirGiven ? join(tmpdir(), "ml-evaluate-quick") : o.outDir;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  const seeds = await readSeedDir(o.seedDir);
  const seedInfo = describeSeeds(seeds);
  // Independent real traces only: a tiled one repeats another and is no test of generalisation.
  const real: Dataset[] = seeds
    .filter((_s, i) => seedInfo[i]!.period === null)
    .map((s) => ({ name: `real device ${s.sensorId}`, source: "real", values: s.values }));
  const testCount = o.quick ? 2 : o.tests;
  const synthetic: Dataset[] = syntheticSet(testCount, 7200, 2000).map((values, i) => ({
    name: `synthetic ${2000 + i}`,
    source: "synthetic",
    values,
  }));
  const tests = [...real, ...synthetic];
  const epochs = o.quick ? Math.min(o.epochs, 10) : o.epochs;
  const base = { epochs, head: "direct", target: "residual", objective: "mae" } as const;
  const variants: Variant[] = [
    { name: "residual · direct · MAE loss · 60 s", train: base, series: o.trainSeries },
  ];
  if (!o.quick) {
    variants.push(
      {
        name: "absolute (min–max) · direct · MAE loss",
        train: { ...base, target: "absolute" },
        series: o.trainSeries,
      },
      {
        name: "residual · direct · MSE loss (the study's)",
        train: { ...base, objective: "mse" },
        series: o.trainSeries,
      },
      {
        name: "residual · recursive · MAE loss",
        train: { ...base, head: "recursive", epochs: Math.ceil(epochs / 2) },
        series: o.trainSeries,
      },
      { name: "residual · direct · 2× training rows", train: base, series: 2 * o.trainSeries },
      {
        name: "residual · direct · lookback 120 s",
        train: { ...base, lookback: 120 },
        series: o.trainSeries,
        experimental: true,
      },
    );
  }
  const results = [];
  for (const v of variants) {
    const t0 = performance.now();
    const trainSet = syntheticSet(v.series, 7200, 1000);
    results.push(await evaluateVariant(v, trainSet, tests));
    log(`${v.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const wfOptions: WalkForwardOptions = {
    retrainEveryMin: 20,
    rows: 3600,
    train: { ...base, epochs: Math.max(5, Math.round(epochs / 2)), maxSamplesPerEpoch: 512 },
  };
  const wf = [];
  if (o.walkForward) {
    for (const d of synthetic) {
      const t0 = performance.now();
      wf.push(await walkForward(d, wfOptions));
      log(`walk-forward ${d.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  const shown = argv.filter((a, i) => !a.startsWith("--out-dir") && argv[i - 1] !== "--out-dir");
  const report: Report = {
    command: ["bun run ml evaluate", ...shown].join(" "),
    seeds: seedInfo,
    tests: tests.map((t) => ({ name: t.name, source: t.source, rows: t.values.length })),
    trainSeries: o.trainSeries,
    variants: results,
    walkForward: wf,
    walkForwardOptions: o.walkForward ? wfOptions : undefined,
  };
  await mkdir(outDir, { recursive: true });
  // Numbers rounded, and the 60-step skill curves reduced to the steps the table shows (the SVG has them
  // all): a long number array is what the formatter would rewrap, and the JSON must stay as written.
  const round = (k: string, v: unknown) =>
    typeof v === "number"
      ? Math.round(v * 10_000) / 10_000
      : k === "skillByStep" && Array.isArray(v)
        ? Object.fromEntries(jsonSteps.map((s) => [`${s}s`, v[s - 1]]))
        : v;
  await Bun.write(join(outDir, "EVALUATION.md"), renderMarkdown(report));
  await Bun.write(join(outDir, "evaluation.json"), `${JSON.stringify(report, round, 2)}\n`);
  await Bun.write(join(outDir, "evaluation.svg"), `${renderPlot(report)}\n`);
  log(
    `wrote ${outDir}/EVALUATION.md, evaluation.json, evaluation.svg in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const main = results[0]!;
  for (const t of tests) {
    const d = main.byDataset[t.name]!;
    process.stdout.write(
      `${t.name}: served ${main.served} skill ${d.served.skill.toFixed(3)}, model skill ${d.model.skill.toFixed(3)}, coverage ${(100 * d.served.coverage).toFixed(0)} %\n`,
    );
  }
  for (const w of wf) {
    process.stdout.write(
      `walk-forward ${w.dataset}: skill ${w.scores.skill.toFixed(3)}, coverage ${(100 * w.scores.coverage).toFixed(0)} %\n`,
    );
  }
  return 0;
}
