/** `bun run bench <name>`: benchmarks that write JSON (and plots) under bench/results/. */
import { runSubcommands } from "@energy/platform/subcommands.ts";

await runSubcommands(
  "bun run bench",
  "Benchmarks of the pipeline; each writes bench/results/<date>-<name>.json and prints a table.",
  {
    ab: {
      summary: "architecture A (streaming sensors) vs B (smart batching sensors) through the full pipeline",
      load: () => import("./ab.ts"),
    },
    pulsar: {
      summary: "our TypeScript Pulsar producer/consumer vs Pulsar's own pulsar-perf, same standalone",
      load: () => import("./pulsar/main.ts"),
    },
    "pulsar-log": {
      summary: "the core's readings log on Pulsar: packed per partition vs one message per record",
      load: () => import("./pulsar-log.ts"),
    },
    idle: {
      summary: "an idle core: CPU and wake-ups per second by thread, with no sensor sending",
      load: () => import("./idle.ts"),
    },
    chaos: {
      summary: "fault matrix: the real core against broker, database, Pulsar, S3 and process faults",
      load: () => import("./chaos.ts"),
    },
    ml: {
      summary: "LSTM training time, ONNX inference latency (1 and 1,000 sensors), forecasts/s",
      load: () => import("./ml.ts"),
    },
  },
);
