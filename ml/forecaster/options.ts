/**
 * The forecaster's own options, declared once for `bun run forecaster`, `bun run core --forecast` and the
 * demo (store options come from ml/store/options.ts).
 */
import { opt, type Values } from "@energy/platform/config.ts";
import { modelStoreOptions } from "../store/options.ts";

/**
 * The retrain defaults repeat ml/retrain.ts's (an hour of rows, 30 epochs) as literals: importing them
 * would load onnxruntime into every process that declares these options, `bun run core --help` included.
 * service.test.ts keeps them equal.
 */
export const forecasterOptions = {
  modelPollInterval: opt.number(
    "seconds between model-store manifest polls (hot reload of promoted models)",
    {
      env: "MODEL_POLL_INTERVAL_S",
      default: "10",
      min: 0.1,
      max: 86_400,
    },
  ),
  bootstrap: {
    ...opt.boolean(
      "when the store has no promoted shared model, train one from the seed CSVs in a worker (--no-bootstrap: persistence until one is promoted)",
      { env: "FORECASTER_BOOTSTRAP" },
    ),
    default: "true",
  },
  bootstrapCsv: opt.string("seed CSV the bootstrap model trains on (its first --bootstrap-rows values)", {
    env: "BOOTSTRAP_CSV",
    default: "data/seed/device_3_batch_data_2025-12-08.csv",
  }),
  bootstrapRows: opt.int("values of the seed CSV the bootstrap model trains on (the last 20 % validate it)", {
    env: "BOOTSTRAP_ROWS",
    default: "1200",
    min: 300,
  }),
  bootstrapEpochs: opt.int("epochs of the bootstrap model (few: it must serve within seconds)", {
    env: "BOOTSTRAP_EPOCHS",
    default: "20",
    min: 1,
  }),
  retrainEvery: opt.number("seconds between scheduled retraining runs in a worker (0 = off)", {
    env: "RETRAIN_EVERY_S",
    default: "0",
    min: 0,
  }),
  retrainRows: opt.int("latest rows per sensor a scheduled retrain trains and evaluates on", {
    env: "RETRAIN_ROWS",
    default: "3600",
    min: 300,
  }),
  retrainEpochs: opt.int("epochs of a scheduled retrain", {
    env: "RETRAIN_EPOCHS",
    default: "30",
    min: 1,
  }),
  demoteAfter: opt.number(
    "seconds a served model's rolling live MAE may exceed persistence's before it is demoted and persistence serves (0 = never)",
    { env: "FORECASTER_DEMOTE_AFTER_S", default: "600", min: 0, max: 604_800 },
  ),
};

/** Everything an entry point declares to run a forecaster: the model store and the forecaster's own options. */
export const forecasterRunOptions = { ...modelStoreOptions, ...forecasterOptions };
export type ForecasterRunValues = Values<typeof forecasterRunOptions>;

/** `bun run core`'s addition: the forecaster in-process on the core's windows log, on by default. */
export const coreForecastOptions = {
  forecast: {
    ...opt.boolean(
      "run the forecaster in-process on the core's windows (--no-forecast: windows only, e.g. when `bun run forecaster` consumes them from Pulsar)",
      { env: "CORE_FORECAST" },
    ),
    default: "true",
  },
  ...forecasterRunOptions,
};
