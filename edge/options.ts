/**
 * Sensor options that `bun run edge` and the demo's sensors both declare: one env var, one meaning and
 * default; each command words the description for its own `--help`.
 */
import { opt } from "@energy/platform/config.ts";

/** Where readings come from: the seed CSVs, or the synthetic generator. */
export const sourceOption = (description: string) =>
  opt.choice(description, ["csv", "generator"], { env: "EDGE_SOURCE", default: "csv" });

/** The seed CSVs `--source csv` replays. */
export const csvDirOption = (description: string) =>
  opt.string(description, { env: "EDGE_CSV_DIR", default: "data/seed" });

/** Smart batching (architecture B) instead of one message per reading (A). */
export const batchOption = (description: string) => opt.boolean(description, { env: "EDGE_BATCH" });

/** The study's out-of-order workload. */
export const disorderOption = (description: string) => opt.boolean(description, { env: "EDGE_DISORDER" });
