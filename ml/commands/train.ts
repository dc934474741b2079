/**
 * `bun run ml train`: the initial models — one per seed device plus the `shared` fallback — trained from the
 * seed CSVs, stored as version `initial`, and served only if they win the serving policy (ml/policy.ts)
 * against persistence and the minute mean on minute-aligned held-out origins; otherwise the winning
 * baseline serves the scope.
 *
 * Seed devices 2–5 are device 1's 300-s trace tiled 8× (data/seed/PROVENANCE.md): each seed series is
 * deduplicated to one period first, or the held-out tail would repeat the training data. The shared model
 * also trains on a clearly labelled synthetic set (ml/synthetic.ts), since five minutes of real data is all
 * there is.
 */
import { fileURLToPath } from "node:url";
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { type CommandSpec, commandMain, opt, type Values } from "@energy/platform/config.ts";
import { dedupe } from "../dedupe.ts";
import { trainingProgress } from "../progress.ts";
import { promoteByPolicy, type SeriesPart } from "../promote.ts";
import { readSeedDir, type SeedSeries } from "../seed.ts";
import { artifactFromTraining } from "../store/artifact.ts";
import { initialVersion, ModelStore, parseScope, scopeKey, versionForRange } from "../store/model-store.ts";
import { modelStoreConfig, modelStoreOptions } from "../store/options.ts";
import type { ModelArtifact, ModelScope } from "../store/types.ts";
import { syntheticSet } from "../synthetic.ts";
import { defaultTrainOptions, type TrainOptions, type TrainResult, train, trainBest } from "../train.ts";

const defaultSeedDir = fileURLToPath(new URL("../../data/seed", import.meta.url));

const scopeItem = (raw: string, label: string): ModelScope => {
  const scope = parseScope(raw);
  if (scope === null) {
    throw new PipelineError("config", `${label} "${raw}" is neither a sensor id nor "shared"`);
  }
  return scope;
};

export const trainOptions = {
  devices: opt.list('devices to train, e.g. "2,3,shared" (default: every seed device and shared)', scopeItem),
  epochs: opt.int("training epochs per head", {
    default: String(defaultTrainOptions.epochs),
    min: 1,
    max: 100_000,
  }),
  hidden: opt.int("LSTM units", { default: String(defaultTrainOptions.hidden), min: 1, max: 1024 }),
  seed: opt.int("random seed (training is deterministic given it)", {
    default: String(defaultTrainOptions.seed),
    min: 0,
  }),
  head: opt.choice(
    "forecast head; best = train both, keep the lower validation error",
    ["best", "recursive", "direct"] as const,
    { default: defaultTrainOptions.head },
  ),
  target: opt.choice(
    "what the network predicts: residual = change from the last reading (level-invariant), absolute = levels",
    ["residual", "absolute"] as const,
    { default: defaultTrainOptions.target },
  ),
  rows: opt.int("latest seed rows per device model, after deduplicating tiled traces", {
    default: "600",
    min: 100,
  }),
  synthetic: opt.int("synthetic series (2 h each, seeded generator) added to the shared model's training", {
    default: "4",
    min: 0,
    max: 100,
  }),
  seedDir: opt.string("directory of the seed CSVs", { default: defaultSeedDir }),
  promote: opt.choice(
    "auto = serve the policy's winner (model, persistence or mean) unless a retrained version serves; never = store only",
    ["auto", "never"] as const,
    { default: "auto" },
  ),
  ...modelStoreOptions,
};

const spec: CommandSpec<typeof trainOptions> = {
  name: "bun run ml train",
  summary:
    "Trains the initial forecaster models from the seed CSVs (one per device and a shared fallback), " +
    "stores them as version `initial` and serves each only if it beats persistence and the minute mean on " +
    "minute-aligned held-out origins (else the baseline serves). Progress on stderr, a table on stdout.",
  options: trainOptions,
  examples: [
    "bun run ml train --devices 2,shared --epochs 50",
    "S3_ENDPOINT=http://127.0.0.1:9000 S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… bun run ml train",
  ],
};

interface Series {
  /** One part per trace (training windows never cross parts). */
  parts: SeriesPart[];
  from: Date;
  to: Date;
  /** What the series is made of, for the log and the recorded reason. */
  about: string;
}

/** The latest `rows` of a device's one period (a tiled trace is cut to its first period). */
function latest(series: SeedSeries, rows: number): Series {
  const { values, period } = dedupe(series.values);
  const start = Math.max(0, values.length - rows);
  const ts = series.timestampsMs.subarray(start, values.length);
  return {
    parts: [{ values: values.subarray(start), startMs: ts[0] }],
    from: new Date(ts[0]!),
    to: new Date(ts[ts.length - 1]!),
    about:
      period === null
        ? `${values.length - start} seed rows`
        : `${values.length - start} seed rows (tiled trace: one ${period}-s period of ${series.values.length} rows)`,
  };
}

/** The shared model's series: each device's deduplicated trace, plus `synthetic` labelled synthetic series. */
function pooled(devices: Map<number, SeedSeries>, rows: number, synthetic: number): Series {
  const seeds = [...devices.keys()].sort((a, b) => a - b).map((id) => latest(devices.get(id)!, rows));
  const parts: SeriesPart[] = seeds.flatMap((p) => p.parts);
  for (const values of syntheticSet(synthetic, 7200)) parts.push({ values });
  const from = new Date(Math.min(...seeds.map((p) => p.from.getTime())));
  const to = new Date(Math.max(...seeds.map((p) => p.to.getTime())));
  return {
    parts,
    from,
    to,
    about: `${seeds.length} deduplicated seed traces + ${synthetic} synthetic 2-h series (ml/synthetic.ts)`,
  };
}

function fit(series: Series, values: Values<typeof trainOptions>, label: string): TrainResult {
  const heads = values.head === "best" ? ["recursive", "direct"] : [values.head];
  let run = 0;
  let progress = trainingProgress(`${label} ${heads[0]}`, values.epochs);
  const options: Partial<TrainOptions> = {
    epochs: values.epochs,
    hidden: values.hidden,
    seed: values.seed,
    target: values.target,
    validateEvery: 0,
    onEpoch: (epoch, loss) => {
      progress.epoch(epoch, loss);
      if (epoch === values.epochs) {
        progress.done(`${heads[run]} head trained`);
        run++;
        if (run < heads.length) progress = trainingProgress(`${label} ${heads[run]}`, values.epochs);
      }
    },
  };
  const parts = series.parts.map((p) => p.values);
  if (values.head === "best") return trainBest(parts, options).best;
  return train(parts, { ...options, head: values.head });
}

interface Row {
  scope: ModelScope;
  version: string;
  head: string;
  rows: number;
  mae: number;
  persistenceMae: number;
  meanMae: number;
  origins: number;
  serves: string;
  seconds: number;
}

const validationFraction = defaultTrainOptions.validationFraction;

async function trainScope(
  store: ModelStore,
  scope: ModelScope,
  series: Series,
  values: Values<typeof trainOptions>,
): Promise<Row> {
  const label = scope === "shared" ? "shared" : `sensor ${scope}`;
  const rows = series.parts.reduce((n, p) => n + p.values.length, 0);
  process.stderr.write(
    `${label}: ${series.about}, ${values.epochs} epochs, head ${values.head}, target ${values.target}\n`,
  );
  const started = performance.now();
  const result = fit(series, values, label);
  const info = { scope, trainedFrom: series.from, trainedTo: series.to };
  const trainParts = series.parts.map((p) => p.values);
  let artifact: ModelArtifact = artifactFromTraining(result, trainParts, {
    ...info,
    version: initialVersion,
  });
  // Versions are immutable and the forecaster reloads on a new version name: when `initial` already holds
  // another model (the forecaster's quick bootstrap model, or an earlier run with other options), this one
  // is stored under the version named by its seed rows' time range instead of overwriting `initial`.
  if (await store.hasVersion(scope, initialVersion)) {
    const existing = await store.loadVersion(scope, initialVersion).catch(() => null);
    if (existing?.meta.onnxSha256 !== artifact.meta.onnxSha256) {
      const version = versionForRange(series.from, series.to);
      artifact = artifactFromTraining(result, trainParts, { ...info, version });
      process.stderr.write(
        `${label}: ${scopeKey(scope)}/initial holds another model; storing as ${version}\n`,
      );
    }
  }
  const { meta } = artifact;
  const manifest = await store.readManifest(scope);
  const serving = manifest?.promoted ?? null;
  const retrainedServes =
    serving !== null &&
    serving !== initialVersion &&
    serving !== meta.version &&
    !serving.startsWith("baseline-");
  let serves = serving ?? "none";
  let mae = meta.metrics.mae;
  let persistenceMae = meta.metrics.persistenceMae ?? Number.NaN;
  let meanMae = Number.NaN;
  let origins = meta.metrics.origins;
  if (values.promote === "never" || retrainedServes) {
    await store.saveVersion(artifact);
    await store.recordDecision(scope, {
      version: meta.version,
      at: new Date().toISOString(),
      promoted: false,
      reason:
        values.promote === "never"
          ? `stored only (--promote never; ${series.about})`
          : `not decided: retrained version ${serving} serves; bun run ml retrain decides against it`,
      metrics: meta.metrics,
    });
  } else {
    const { decision, metrics } = await promoteByPolicy({
      store,
      scope,
      candidate: artifact,
      parts: series.parts,
      fraction: validationFraction,
      what: `initial model trained on ${series.about}`,
    });
    serves = decision.winner.version;
    mae = metrics.mae;
    persistenceMae = metrics.persistenceMae ?? Number.NaN;
    meanMae = metrics.meanMae ?? Number.NaN;
    origins = metrics.origins;
    process.stderr.write(`${label}: ${decision.reason}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `${label}: stored ${scopeKey(scope)}/${meta.version} in ${seconds.toFixed(1)} s; serving ${serves}\n`,
  );
  return {
    scope,
    version: meta.version,
    head: meta.head,
    rows,
    mae,
    persistenceMae,
    meanMae,
    origins,
    serves,
    seconds,
  };
}

function table(rows: Row[]): string {
  const header = [
    "device",
    "version",
    "head",
    "rows",
    "origins",
    "MAE W",
    "persistence W",
    "mean W",
    "serves",
    "s",
  ];
  const body = rows.map((r) => [
    String(r.scope),
    r.version,
    r.head,
    String(r.rows),
    String(r.origins),
    r.mae.toFixed(1),
    r.persistenceMae.toFixed(1),
    r.meanMae.toFixed(1),
    r.serves,
    r.seconds.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return `${[header, ...body]
    .map((cells) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** `bun run ml train [options]`; returns the exit code (2 = bad option, 1 = a model failed). */
export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(values: Values<typeof trainOptions>): Promise<number> {
  let store: ModelStore | undefined;
  try {
    const devices = new Map((await readSeedDir(values.seedDir)).map((s) => [s.sensorId, s]));
    const wanted: ModelScope[] = values.devices?.length
      ? values.devices
      : [...[...devices.keys()].sort((a, b) => a - b), "shared"];
    for (const scope of wanted) {
      if (scope !== "shared" && !devices.has(scope)) {
        throw new PipelineError("config", `device ${scope} has no seed CSV in ${values.seedDir}`, {
          hint: `seed devices: ${[...devices.keys()].sort((a, b) => a - b).join(", ")}`,
        });
      }
    }
    store = await ModelStore.open(modelStoreConfig(values));
    process.stderr.write(`model store: ${store.location}\n`);
    const rows: Row[] = [];
    let failed = 0;
    for (const scope of wanted) {
      const series =
        scope === "shared"
          ? pooled(devices, values.rows, values.synthetic)
          : latest(devices.get(scope)!, values.rows);
      try {
        rows.push(await trainScope(store, scope, series, values));
      } catch (error) {
        failed++;
        process.stderr.write(`${spec.name}: ${scope}: ${errorMessage(error)}\n`);
      }
    }
    process.stdout.write(table(rows));
    return failed > 0 ? 1 : 0;
  } finally {
    await store?.close();
  }
}
