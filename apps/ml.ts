/** `bun run ml <command>`: training, retraining and evaluation of the forecaster's models. */
import { runSubcommands } from "@energy/platform/subcommands.ts";

await runSubcommands("bun run ml", "The forecaster's models: train, retrain from PostgreSQL, evaluate.", {
  train: {
    summary: "train initial models from the seed CSVs and store them in the model store",
    load: () => import("@energy/ml/commands/train.ts"),
  },
  retrain: {
    summary:
      "retrain from the latest rows in PostgreSQL; serve the winner of candidate, current model, persistence and mean",
    load: () => import("@energy/ml/commands/retrain.ts"),
  },
  evaluate: {
    summary:
      "honest evaluation (minute-aligned origins, skill vs persistence, coverage; --walk-forward); writes ml/EVALUATION.md",
    load: () => import("@energy/ml/commands/evaluate.ts"),
  },
});
