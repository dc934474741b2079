/**
 * `bun run ml retrain`: retrains a sensor's model (or all of them, and the shared fallback) from the latest
 * rows of `actuals` and serves the winner of the serving policy — the candidate, the serving model,
 * persistence or the minute mean, scored on the same minute-aligned held-out origins (ml/retrain.ts).
 * Prints one line per model with the decision and its reason.
 *
 * With the embedded PGlite database, stop the forecaster first (or let it retrain on its own schedule): a
 * PGlite directory can only be open in one process.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { type CommandSpec, commandMain, opt, type Values } from "@energy/platform/config.ts";
import { databaseOptions } from "@energy/platform/options.ts";
import {
  defaultRetrainOptions,
  defaultRetrainRows,
  type RetrainResult,
  retrainFromConfig,
} from "../retrain.ts";
import { parseScope } from "../store/model-store.ts";
import { modelStoreConfig, modelStoreOptions } from "../store/options.ts";
import type { ModelScope } from "../store/types.ts";

const scopeItem = (raw: string, label: string): ModelScope => {
  const scope = parseScope(raw);
  if (scope === null || scope === 0) {
    throw new PipelineError("config", `${label} "${raw}" is neither a sensor id ≥ 1 nor "shared"`);
  }
  return scope;
};

export const retrainOptions = {
  sensor: opt.list('sensors to retrain, e.g. "2" or "2,3,shared"', scopeItem),
  all: opt.boolean("retrain every sensor with rows in actuals, then the shared model"),
  rows: opt.int("latest rows per sensor to train and evaluate on (the study: 600)", {
    default: String(defaultRetrainRows),
    min: 100,
  }),
  epochs: opt.int("training epochs per head", { default: String(defaultRetrainOptions.epochs), min: 1 }),
  hidden: opt.int("LSTM units", { default: String(defaultRetrainOptions.hidden), min: 1, max: 1024 }),
  seed: opt.int("random seed", { default: String(defaultRetrainOptions.seed), min: 0 }),
  head: opt.choice(
    "forecast head; best = train both, keep the lower validation error",
    ["best", "recursive", "direct"] as const,
    { default: defaultRetrainOptions.head },
  ),
  ...databaseOptions,
  ...modelStoreOptions,
};

const spec: CommandSpec<typeof retrainOptions> = {
  name: "bun run ml retrain",
  summary:
    "Retrains from the latest rows in PostgreSQL; the candidate, the serving model, persistence and the minute " +
    "mean are scored on the same minute-aligned held-out origins and the winner serves (a baseline when it wins); " +
    "every decision is recorded with its reason (manifest and models table).",
  options: retrainOptions,
  examples: [
    "bun run ml retrain --sensor 2 --epochs 50",
    "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun run ml retrain --all",
  ],
};

function summaryLine(result: RetrainResult): string {
  const who = result.scope === "shared" ? "shared" : `sensor ${result.scope}`;
  if ("error" in result) return `${who}: failed (${result.error.code}): ${result.error.message}`;
  const verdict = !result.trained
    ? "skipped"
    : result.promoted
      ? "PROMOTED"
      : `not promoted, ${result.serves ?? "the serving model"} serves`;
  return `${who}: ${result.version} ${verdict}: ${result.reason}`;
}

/** `bun run ml retrain [options]`; returns the exit code (2 = bad option, 1 = a retrain failed). */
export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(values: Values<typeof retrainOptions>): Promise<number> {
  if (!values.all && !values.sensor?.length) {
    throw new PipelineError("config", "nothing to retrain", { hint: "give --sensor N (or shared) or --all" });
  }
  if (values.all && values.sensor?.length) {
    throw new PipelineError("config", "--sensor and --all exclude each other");
  }
  const results = await retrainFromConfig(
    {
      databaseUrl: values.databaseUrl?.href,
      embeddedDir: values.dataDir,
      store: modelStoreConfig(values),
      scopes: values.all ? "all" : values.sensor!,
      rows: values.rows,
      options: { epochs: values.epochs, hidden: values.hidden, seed: values.seed, head: values.head },
    },
    (message) => process.stderr.write(`${message}\n`),
  );
  for (const result of results) process.stdout.write(`${summaryLine(result)}\n`);
  return results.some((r) => "error" in r) ? 1 : 0;
}
