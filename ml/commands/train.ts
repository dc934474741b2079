/**
 * `bun run ml train`: the initial models — one per seed device plus the `shared` fallback — trained from the
 * seed CSVs with both heads (the better on validation kept), stored as version `initial` and promoted.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandSpec, commandMain, opt, type Values } from "../../lib/config.ts";
import { errorMessage, PipelineError } from "../../lib/errors.ts";
import { readSeedCsv, type SeedSeries } from "../seed.ts";
import { artifactFromTraining } from "../store/artifact.ts";
import { initialVersion, ModelStore, parseScope, scopeKey, versionForRange } from "../store/model-store.ts";
import { modelStoreConfig, modelStoreOptions } from "../store/options.ts";
import type { ModelArtifact, ModelScope } from "../store/types.ts";
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
  epochs: opt.int("training epochs per head", { default: "200", min: 1, max: 100_000 }),
  hidden: opt.int("LSTM units", { default: String(defaultTrainOptions.hidden), min: 1, max: 1024 }),
  seed: opt.int("random seed (training is deterministic given it)", {
    default: String(defaultTrainOptions.seed),
    min: 0,
  }),
  head: opt.choice(
    "forecast head; best = train both, keep the lower validation error",
    ["best", "recursive", "direct"] as const,
    { default: "best" },
  ),
  rows: opt.int("latest seed rows per device model (the study trained on 600)", { default: "600", min: 100 }),
  sharedRows: opt.int("latest seed rows of each device pooled into the shared model", {
    default: "300",
    min: 100,
  }),
  seedDir: opt.string("directory of the seed CSVs", { default: defaultSeedDir }),
  promote: opt.choice(
    "auto = promote unless a retrained version serves; always; never (store only)",
    ["auto", "always", "never"] as const,
    { default: "auto" },
  ),
  ...modelStoreOptions,
};

const spec: CommandSpec<typeof trainOptions> = {
  name: "bun run ml train",
  summary:
    "Trains the initial forecaster models from the seed CSVs (one per device and a shared fallback), " +
    "stores them as version `initial` in the model store and promotes them. Progress on stderr, a table on stdout.",
  options: trainOptions,
  examples: [
    "bun run ml train --devices 2,shared --epochs 50",
    "S3_ENDPOINT=http://127.0.0.1:9000 S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… bun run ml train",
  ],
};

/** The longest series per sensor among the seed CSVs (device 1 appears in two files). */
async function readSeedDevices(dir: string): Promise<Map<number, SeedSeries>> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".csv")).sort();
  } catch (cause) {
    throw new PipelineError("not-found", `seed directory ${dir} cannot be read: ${errorMessage(cause)}`, {
      hint: "pass --seed-dir",
      cause,
    });
  }
  const devices = new Map<number, SeedSeries>();
  for (const file of files) {
    const series = await readSeedCsv(join(dir, file));
    const known = devices.get(series.sensorId);
    if (!known || known.values.length < series.values.length) devices.set(series.sensorId, series);
  }
  return devices;
}

interface Series {
  values: Float64Array;
  from: Date;
  to: Date;
}

function latest(series: SeedSeries, rows: number): Series {
  const start = Math.max(0, series.values.length - rows);
  const ts = series.timestampsMs.subarray(start);
  return { values: series.values.subarray(start), from: new Date(ts[0]!), to: new Date(ts[ts.length - 1]!) };
}

/** The shared model's series: each device's latest rows, concatenated by sensor id. */
function pooled(devices: Map<number, SeedSeries>, rows: number): Series {
  const parts = [...devices.keys()].sort((a, b) => a - b).map((id) => latest(devices.get(id)!, rows));
  const values = new Float64Array(parts.reduce((n, p) => n + p.values.length, 0));
  let at = 0;
  for (const p of parts) {
    values.set(p.values, at);
    at += p.values.length;
  }
  const from = new Date(Math.min(...parts.map((p) => p.from.getTime())));
  const to = new Date(Math.max(...parts.map((p) => p.to.getTime())));
  return { values, from, to };
}

function fit(series: Series, values: Values<typeof trainOptions>, label: string): TrainResult {
  let head = values.head === "best" ? "recursive" : values.head;
  const every = Math.max(1, Math.round(values.epochs / 10));
  const options: Partial<TrainOptions> = {
    epochs: values.epochs,
    hidden: values.hidden,
    seed: values.seed,
    validateEvery: 0,
    onEpoch: (epoch, loss) => {
      if (epoch % every === 0 || epoch === values.epochs) {
        process.stderr.write(`  ${label} ${head} epoch ${epoch}/${values.epochs} loss ${loss.toFixed(5)}\n`);
      }
      // trainBest trains the recursive head, then the direct one.
      if (epoch === values.epochs && values.head === "best") head = "direct";
    },
  };
  if (values.head === "best") return trainBest(series.values, options).best;
  return train(series.values, { ...options, head: values.head });
}

interface Row {
  scope: ModelScope;
  version: string;
  head: string;
  rows: number;
  rmse: number;
  persistenceRmse: number;
  skill: number;
  promoted: boolean;
  seconds: number;
}

async function trainScope(
  store: ModelStore,
  scope: ModelScope,
  series: Series,
  values: Values<typeof trainOptions>,
): Promise<Row> {
  const label = scope === "shared" ? "shared" : `sensor ${scope}`;
  process.stderr.write(
    `${label}: ${series.values.length} rows ${series.from.toISOString()} → ${series.to.toISOString()}, ` +
      `${values.epochs} epochs, head ${values.head}\n`,
  );
  const started = performance.now();
  const result = fit(series, values, label);
  const info = { scope, trainedFrom: series.from, trainedTo: series.to };
  let artifact: ModelArtifact = artifactFromTraining(result, series.values, {
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
      artifact = artifactFromTraining(result, series.values, { ...info, version });
      process.stderr.write(
        `${label}: ${scopeKey(scope)}/initial holds another model; storing as ${version}\n`,
      );
    }
  }
  const { meta } = artifact;
  await store.saveVersion(artifact);
  const serving = (await store.readManifest(scope))?.promoted ?? null;
  const retrainedServes = serving !== null && serving !== initialVersion && serving !== meta.version;
  const promote = values.promote === "always" || (values.promote === "auto" && !retrainedServes);
  const m = meta.metrics;
  const figures = `validation rmse ${m.rmse.toFixed(1)} W, persistence ${m.persistenceRmse.toFixed(1)} W, skill ${m.skill.toFixed(3)}`;
  const reason = promote
    ? `initial model from the seed CSVs (${meta.head} head; ${figures})`
    : values.promote === "never"
      ? `stored only (--promote never; ${figures})`
      : `not promoted: retrained version ${serving} serves (--promote always replaces it; ${figures})`;
  // A re-run that produced the very model already serving changes nothing worth a history entry.
  if (serving !== meta.version) {
    await store.recordDecision(scope, {
      version: meta.version,
      at: new Date().toISOString(),
      promoted: promote,
      reason,
      metrics: m,
    });
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `${label}: stored ${scopeKey(scope)}/${meta.version} in ${seconds.toFixed(1)} s; ${reason}\n`,
  );
  return {
    scope,
    version: meta.version,
    head: meta.head,
    rows: series.values.length,
    rmse: m.rmse,
    persistenceRmse: m.persistenceRmse,
    skill: m.skill,
    promoted: promote,
    seconds,
  };
}

function table(rows: Row[]): string {
  const header = ["device", "version", "head", "rows", "rmse W", "persistence W", "skill", "promoted", "s"];
  const body = rows.map((r) => [
    String(r.scope),
    r.version,
    r.head,
    String(r.rows),
    r.rmse.toFixed(1),
    r.persistenceRmse.toFixed(1),
    r.skill.toFixed(3),
    r.promoted ? "yes" : "no",
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
    const devices = await readSeedDevices(values.seedDir);
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
        scope === "shared" ? pooled(devices, values.sharedRows) : latest(devices.get(scope)!, values.rows);
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
