/** `bun run ml <command>`: training, retraining and evaluation of the forecaster's models. */
import { runSubcommands } from "../lib/subcommands.ts";

await runSubcommands("bun run ml", "The forecaster's models: train, retrain from PostgreSQL, evaluate.", {
  train: {
    summary: "train initial models from the seed CSVs and store them in the model store",
    load: () => import("./commands/train.ts"),
  },
  retrain: {
    summary:
      "retrain from the latest rows in PostgreSQL; promote only if it beats the current model and persistence",
    load: () => import("./commands/retrain.ts"),
  },
  evaluate: {
    summary: "rolling-origin evaluation on the seed devices; writes ml/EVALUATION.md, JSON and a plot",
    load: () => import("./commands/evaluate.ts"),
  },
});
