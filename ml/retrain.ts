/**
 * Retraining a device's model (or the shared fallback) from the latest rows in PostgreSQL, through the
 * serving policy (ml/policy.ts, ml/promote.ts): the candidate, the serving model, persistence and the minute
 * mean are scored on the same minute-aligned held-out origins by MAE, and the winner serves — a baseline
 * when it wins. Every decision is kept with its reason (manifest history and `models` table).
 *
 * The steps are separate functions so the forecaster can run the CPU-heavy part in a Worker while its own
 * thread keeps the database (an embedded PGlite can only be opened by one thread):
 *
 *     main thread                          worker
 *     loadTrainingSeries(db, scope) ──►  retrainSeries({ store, series })  (train, export, score, store)
 *     recordModelRow(db, outcome)   ◄──  RetrainOutcome (plain data)
 *
 * `retrainScope` chains the three for one process, `retrainFromConfig` also opens and closes the database
 * and store from plain options (for `bun run ml retrain`, or a worker talking to a PostgreSQL server).
 */

import { actuals } from "@energy/contracts/db/schema.ts";
import { type ErrorCode, errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import type { Db } from "@energy/platform/db/client.ts";
import { openDatabase } from "@energy/platform/db/client.ts";
import { saveModel } from "@energy/platform/db/models.ts";
import { desc, eq, max } from "drizzle-orm";
import { minuteOrigins } from "./policy.ts";
import { promoteByPolicy, type SeriesPart } from "./promote.ts";
import { artifactFromTraining } from "./store/artifact.ts";
import {
  ModelStore,
  type ModelStoreOptions,
  scopeKey,
  versionForRange,
  versionPrefix,
} from "./store/model-store.ts";
import type { ModelMetrics, ModelScope } from "./store/types.ts";
import {
  defaultTrainOptions,
  type ForecastHead,
  type ForecastTarget,
  type TrainOptions,
  type TrainResult,
  train,
  trainBest,
} from "./train.ts";

/**
 * An hour of one-second rows: the study's 600 gave the promotion decision one or two minute-aligned held-out
 * origins, and a model trained on 1,800 rows instead of 600 generalised far better (issue 12).
 */
export const defaultRetrainRows = 3600;
/** Sensors pooled into the shared model when the caller does not name them. */
export const defaultSharedSensors = 4;

/** Rows to train on, in time order per sensor. Plain typed arrays: structured-cloneable into a Worker. */
export interface TrainingSeries {
  scope: ModelScope;
  values: Float64Array;
  timestampsMs: Float64Array;
  /** Sensors whose rows make up the series, in order (one for a device; several for `shared`). */
  sensors: number[];
  /** Rows per sensor, in the order of `sensors` (the series' parts: training windows never cross them). */
  lengths?: number[];
  /** Rows whose value is the window mean filling a missing second. */
  imputed: number;
}

export interface RetrainOptions {
  epochs: number;
  hidden: number;
  lookback: number;
  horizon: number;
  batchSize: number;
  learningRate: number;
  dropout: number;
  validationFraction: number;
  seed: number;
  /** `best` trains both heads and keeps the one with the lower validation error. */
  head: ForecastHead | "best";
  target?: ForecastTarget;
  maxSamplesPerEpoch?: number;
}

export const defaultRetrainOptions: RetrainOptions = {
  epochs: defaultTrainOptions.epochs,
  hidden: defaultTrainOptions.hidden,
  lookback: defaultTrainOptions.lookback,
  horizon: defaultTrainOptions.horizon,
  batchSize: defaultTrainOptions.batchSize,
  learningRate: defaultTrainOptions.learningRate,
  dropout: defaultTrainOptions.dropout,
  validationFraction: defaultTrainOptions.validationFraction,
  seed: defaultTrainOptions.seed,
  head: "direct",
};

/** What a retrain did and why; plain data (crosses a Worker boundary, becomes a `models` row). */
export interface RetrainOutcome {
  scope: ModelScope;
  version: string;
  /** False when the version already existed (no new rows since it was trained): nothing was written. */
  trained: boolean;
  promoted: boolean;
  reason: string;
  /** The candidate's figures on the held-out tail (for `trained: false`, the stored version's). */
  metrics: ModelMetrics;
  /** The serving model scored on the same tail, when there was one that could be scored. */
  current: { version: string; rmse: number; mae?: number } | null;
  /** What serves after this decision: the candidate, the previous model, or a baseline version. */
  serves?: string;
  /** Key prefix in the model store, `{device}/{version}/`. */
  location: string;
  head: ForecastHead;
  trainedFrom: string;
  trainedTo: string;
  rows: number;
  trainMs: number;
  decidedAt: string;
}

function checkScope(scope: ModelScope): void {
  scopeKey(scope);
  if (scope === 0) {
    throw new PipelineError(
      "validation",
      "sensor 0 cannot be retrained: sensor_id 0 is the shared model in models",
      {
        hint: 'retrain "shared" instead, or renumber the sensor',
      },
    );
  }
}

/**
 * The latest `rows` rows of a sensor from `actuals`, in time order; for `shared`, the latest `rows` of
 * each of `sharedSensors` (default: the most recently active few), concatenated by sensor id. The shared
 * series therefore has a jump at each sensor boundary; the few training windows straddling one are noise
 * the model has to tolerate, which is acceptable for a fallback model.
 *
 * @example
 * const series = await loadTrainingSeries(db, 2, 600);
 */
export async function loadTrainingSeries(
  db: Db,
  scope: ModelScope,
  rows = defaultRetrainRows,
  sharedSensors?: number[],
): Promise<TrainingSeries> {
  checkScope(scope);
  if (!Number.isInteger(rows) || rows < 1) {
    throw new PipelineError("config", `retrain rows ${rows} is not a positive integer`);
  }
  let sensors: number[];
  if (scope === "shared") {
    sensors =
      sharedSensors ??
      (
        await db
          .select({ sensorId: actuals.sensorId, last: max(actuals.ts) })
          .from(actuals)
          .groupBy(actuals.sensorId)
          .orderBy(desc(max(actuals.ts)))
          .limit(defaultSharedSensors)
      ).map((r) => r.sensorId);
    sensors = [...new Set(sensors)].sort((a, b) => a - b);
  } else {
    sensors = [scope];
  }
  const chunks: Array<{ ts: Date; value: number; imputed: boolean }[]> = [];
  for (const sensor of sensors) {
    const latest = await db
      .select({ ts: actuals.ts, value: actuals.value, imputed: actuals.imputed })
      .from(actuals)
      .where(eq(actuals.sensorId, sensor))
      .orderBy(desc(actuals.ts))
      .limit(rows);
    if (latest.length > 0) chunks.push(latest.reverse());
  }
  const n = chunks.reduce((sum, c) => sum + c.length, 0);
  if (n === 0) {
    throw new PipelineError(
      "not-found",
      `no rows in actuals for ${scope === "shared" ? `the shared model (sensors ${sensors.join(", ") || "none"})` : `sensor ${scope}`}`,
      { hint: "run the forecaster (or bun run demo) until it has stored actuals" },
    );
  }
  const values = new Float64Array(n);
  const timestampsMs = new Float64Array(n);
  const lengths = chunks.map((c) => c.length);
  let imputed = 0;
  let i = 0;
  for (const chunk of chunks) {
    for (const row of chunk) {
      values[i] = row.value;
      timestampsMs[i] = row.ts.getTime();
      if (row.imputed) imputed++;
      i++;
    }
  }
  return { scope, values, timestampsMs, sensors, imputed, lengths };
}

/** The series' parts (one per sensor), each with the time of its first row (for minute alignment). */
export function seriesParts(series: TrainingSeries): SeriesPart[] {
  const lengths = series.lengths ?? [series.values.length];
  const parts: SeriesPart[] = [];
  let at = 0;
  for (const n of lengths) {
    if (n > 0) parts.push({ values: series.values.subarray(at, at + n), startMs: series.timestampsMs[at] });
    at += n;
  }
  return parts;
}

function timeRange(series: TrainingSeries): { from: Date; to: Date } {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const t of series.timestampsMs) {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  return { from: new Date(lo), to: new Date(hi) };
}

/** The fields every outcome of one series carries, whatever was decided. */
type OutcomeBase = Pick<
  RetrainOutcome,
  "scope" | "version" | "location" | "trainedFrom" | "trainedTo" | "rows"
>;

/** The version a series trains (named by its time range) and where it is stored. */
function outcomeBase(series: TrainingSeries): OutcomeBase {
  const { from, to } = timeRange(series);
  const version = versionForRange(from, to);
  return {
    scope: series.scope,
    version,
    location: versionPrefix(series.scope, version),
    trainedFrom: from.toISOString(),
    trainedTo: to.toISOString(),
    rows: series.values.length,
  };
}

const noMetrics: ModelMetrics = { mae: 0, rmse: 0, persistenceRmse: 0, skill: 0, origins: 0 };

/**
 * The parts long enough to train on (the bounds train() enforces) and the minute-aligned held-out origins
 * they give the promotion decision.
 */
function trainableParts(parts: SeriesPart[], opts: RetrainOptions): { fits: SeriesPart[]; origins: number } {
  const outputs = opts.head === "recursive" ? 1 : opts.horizon;
  const fits = parts.filter((p) => {
    const split = Math.floor(p.values.length * (1 - opts.validationFraction));
    return p.values.length - split >= opts.horizon && split - opts.lookback - outputs >= 0;
  });
  const origins = fits.reduce(
    (n, p) =>
      n +
      minuteOrigins(p.values.length, {
        fraction: opts.validationFraction,
        lookback: opts.lookback,
        horizon: opts.horizon,
        startMs: p.startMs,
      }).length,
    0,
  );
  return { fits, origins };
}

/** A sensor that just appeared has too few rows: the normal state, skipped with the reason, not a failure. */
function tooFewRowsOutcome(base: OutcomeBase, opts: RetrainOptions, now: () => Date): RetrainOutcome {
  return {
    ...base,
    trained: false,
    promoted: false,
    reason: `only ${base.rows} rows: too few for lookback ${opts.lookback}, horizon ${opts.horizon} and a minute-aligned origin in the ${opts.validationFraction} held-out tail`,
    metrics: noMetrics,
    current: null,
    head: opts.head === "best" ? "recursive" : opts.head,
    trainMs: 0,
    decidedAt: now().toISOString(),
  };
}

/** No new rows since `base.version` was trained: report the stored version's figures, write nothing. */
async function existingVersionOutcome(
  store: ModelStore,
  base: OutcomeBase,
  now: () => Date,
): Promise<RetrainOutcome> {
  const existing = await store.loadVersion(base.scope, base.version).catch(() => null);
  const manifest = await store.readManifest(base.scope);
  return {
    ...base,
    trained: false,
    promoted: manifest?.promoted === base.version,
    reason: `version ${base.version} already exists: no new rows since it was trained`,
    metrics: existing?.meta.metrics ?? noMetrics,
    current: null,
    head: existing?.meta.head ?? "recursive",
    trainMs: 0,
    decidedAt: now().toISOString(),
  };
}

/** train()'s options for a retrain: no periodic validation (the policy scores the candidate afterwards). */
function trainOptionsFor(
  opts: RetrainOptions,
  onEpoch?: (epoch: number, loss: number) => void,
): Partial<TrainOptions> {
  return {
    epochs: opts.epochs,
    hidden: opts.hidden,
    lookback: opts.lookback,
    horizon: opts.horizon,
    batchSize: opts.batchSize,
    learningRate: opts.learningRate,
    dropout: opts.dropout,
    validationFraction: opts.validationFraction,
    seed: opts.seed,
    validateEvery: 0,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.maxSamplesPerEpoch !== undefined ? { maxSamplesPerEpoch: opts.maxSamplesPerEpoch } : {}),
    ...(onEpoch ? { onEpoch } : {}),
  };
}

/** Trains the candidate (both heads for `best`, keeping the better) and times it. */
function trainCandidate(
  values: ArrayLike<number>[],
  head: RetrainOptions["head"],
  options: Partial<TrainOptions>,
): { best: TrainResult; trainMs: number } {
  const started = performance.now();
  const best = head === "best" ? trainBest(values, options).best : train(values, { ...options, head });
  return { best, trainMs: performance.now() - started };
}

/**
 * Trains a candidate on `series`, stores it as version `{from}-{to}`, scores it against the serving model
 * and persistence on the same held-out tail, and records the decision in the manifest (promoting it only
 * if it beats both). Does not touch the database: pass the outcome to `recordModelRow`.
 *
 * @example
 * const outcome = await retrainSeries({ store, series: await loadTrainingSeries(db, 2), options: { epochs: 200 } });
 * await recordModelRow(db, outcome);
 */
export async function retrainSeries(input: {
  store: ModelStore;
  series: TrainingSeries;
  options?: Partial<RetrainOptions>;
  onProgress?: (message: string) => void;
  onEpoch?: (epoch: number, loss: number) => void;
  now?: () => Date;
}): Promise<RetrainOutcome> {
  const { store, series } = input;
  const opts: RetrainOptions = { ...defaultRetrainOptions, ...input.options };
  const now = input.now ?? (() => new Date());
  const { scope } = series;
  checkScope(scope);
  const base = outcomeBase(series);
  const { fits, origins } = trainableParts(seriesParts(series), opts);
  if (fits.length === 0 || origins === 0) return tooFewRowsOutcome(base, opts, now);
  if (await store.hasVersion(scope, base.version)) return existingVersionOutcome(store, base, now);

  const label = scope === "shared" ? "shared" : `sensor ${scope}`;
  input.onProgress?.(
    `${label}: training on ${base.rows} rows (${series.imputed} imputed) ${base.trainedFrom} → ${base.trainedTo}, ${opts.epochs} epochs, head ${opts.head}`,
  );
  const trainValues = fits.map((p) => p.values);
  const { best, trainMs } = trainCandidate(trainValues, opts.head, trainOptionsFor(opts, input.onEpoch));
  const artifact = artifactFromTraining(best, trainValues, {
    scope,
    version: base.version,
    trainedFrom: new Date(base.trainedFrom),
    trainedTo: new Date(base.trainedTo),
    createdAt: now(),
  });
  // Scored through onnxruntime like the serving model (exported graph against exported graph, float32
  // both), so a graph that does not run never serves.
  const { decision, metrics, reason } = await promoteByPolicy({
    store,
    scope,
    candidate: artifact,
    parts: fits,
    fraction: opts.validationFraction,
    what: `retrained on ${base.rows} rows`,
    now,
  });
  const serving = decision.contenders.find((c) => c.role === "serving");
  const promoted = decision.candidatePromoted;
  input.onProgress?.(`${label}: ${base.version} ${promoted ? "promoted" : "not promoted"}: ${reason}`);
  return {
    ...base,
    trained: true,
    promoted,
    reason,
    metrics,
    current: serving
      ? { version: serving.version, rmse: serving.scored.rmse, mae: serving.scored.mae }
      : null,
    serves: decision.winner.version,
    head: best.head,
    trainMs,
    decidedAt: now().toISOString(),
  };
}

/**
 * `retrainSeries` with the store opened (and closed) from plain options: the worker side of the split
 * described at the top of this module.
 *
 * @example
 * // worker: self.onmessage = async ({ data }) => postMessage(await retrainSeriesFromConfig(data));
 * // main:   worker.postMessage({ store: storeOptions, series: await loadTrainingSeries(db, 2) });
 * //         worker.onmessage = ({ data }) => recordModelRow(db, data);
 */
export async function retrainSeriesFromConfig(input: {
  store: ModelStoreOptions;
  series: TrainingSeries;
  options?: Partial<RetrainOptions>;
}): Promise<RetrainOutcome> {
  const store = await ModelStore.open(input.store);
  try {
    return await retrainSeries({
      store,
      series: input.series,
      ...(input.options ? { options: input.options } : {}),
    });
  } finally {
    await store.close();
  }
}

/**
 * The `models` registry row of an outcome (upsert by sensor and version; sensor 0 = shared). An outcome
 * that trained nothing writes nothing.
 */
export async function recordModelRow(db: Db, outcome: RetrainOutcome): Promise<void> {
  if (!outcome.trained) return;
  const metrics: Record<string, number> = { ...outcome.metrics };
  if (outcome.current) metrics.currentRmse = outcome.current.rmse;
  if (outcome.current?.mae !== undefined) metrics.currentMae = outcome.current.mae;
  const row = {
    sensorId: outcome.scope === "shared" ? 0 : outcome.scope,
    version: outcome.version,
    location: outcome.location,
    trainedFrom: new Date(outcome.trainedFrom),
    trainedTo: new Date(outcome.trainedTo),
    metrics,
    promoted: outcome.promoted,
    decision: outcome.serves ? `${outcome.reason} [serves ${outcome.serves}]` : outcome.reason,
    promotedAt: outcome.promoted ? new Date(outcome.decidedAt) : null,
  };
  await saveModel(db, row);
}

/**
 * Loads the latest rows, retrains, stores and records, in this process.
 *
 * @example
 * const outcome = await retrainScope({ db, store, scope: 2, rows: 600, epochs: 200 });
 * if (!outcome.promoted) log.info(outcome.reason);
 */
export async function retrainScope(input: {
  db: Db;
  store: ModelStore;
  scope: ModelScope;
  rows?: number;
  sharedSensors?: number[];
  epochs?: number;
  options?: Partial<RetrainOptions>;
  onProgress?: (message: string) => void;
}): Promise<RetrainOutcome> {
  const series = await loadTrainingSeries(input.db, input.scope, input.rows, input.sharedSensors);
  const options = { ...input.options, ...(input.epochs !== undefined ? { epochs: input.epochs } : {}) };
  const outcome = await retrainSeries({
    store: input.store,
    series,
    options,
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
  });
  await recordModelRow(input.db, outcome);
  return outcome;
}

/** Plain, serialisable configuration of a retrain run (what crosses into a Worker). */
export interface RetrainConfig {
  /** postgres:// URL; when absent the embedded PGlite in `embeddedDir` (default ./data/pglite). */
  databaseUrl?: string | undefined;
  embeddedDir?: string | undefined;
  store: ModelStoreOptions;
  /** `all`: every sensor with rows in actuals, then `shared`. */
  scopes: ModelScope[] | "all";
  rows?: number;
  sharedSensors?: number[];
  options?: Partial<RetrainOptions>;
}

/** A scope whose retrain failed (plain data: an Error's own fields do not survive postMessage). */
export interface RetrainFailure {
  scope: ModelScope;
  error: { code: ErrorCode; message: string };
}

export type RetrainResult = RetrainOutcome | RetrainFailure;

/**
 * Opens the database and the store, retrains each scope in turn (a failure of one is reported in its
 * result and does not stop the others), closes both.
 *
 * @example
 * const results = await retrainFromConfig({ databaseUrl: "postgres://postgres@127.0.0.1:5432/test",
 *   store: { localDir: "data/models" }, scopes: [2, "shared"], options: { epochs: 200 } });
 * for (const r of results) if ("error" in r) console.error(r.scope, r.error.message);
 */
export async function retrainFromConfig(
  config: RetrainConfig,
  onProgress?: (message: string) => void,
): Promise<RetrainResult[]> {
  const database = await openDatabase({
    url: config.databaseUrl ? new URL(config.databaseUrl) : undefined,
    ...(config.embeddedDir ? { embeddedDir: config.embeddedDir } : {}),
  });
  try {
    const store = await ModelStore.open(config.store);
    try {
      const scopes: ModelScope[] =
        config.scopes === "all"
          ? [...(await sensorsWithActuals(database.db)).filter((s) => s !== 0), "shared"]
          : config.scopes;
      const results: RetrainResult[] = [];
      for (const scope of scopes) {
        try {
          results.push(
            await retrainScope({
              db: database.db,
              store,
              scope,
              ...(config.rows !== undefined ? { rows: config.rows } : {}),
              ...(config.sharedSensors ? { sharedSensors: config.sharedSensors } : {}),
              ...(config.options ? { options: config.options } : {}),
              ...(onProgress ? { onProgress } : {}),
            }),
          );
        } catch (error) {
          const code: ErrorCode = error instanceof PipelineError ? error.code : "internal";
          results.push({ scope, error: { code, message: errorMessage(error) } });
        }
      }
      return results;
    } finally {
      await store.close();
    }
  } finally {
    await database.close();
  }
}

/** All sensors with rows in actuals, ascending (for `--all`). */
export async function sensorsWithActuals(db: Db): Promise<number[]> {
  const rows = await db.selectDistinct({ sensorId: actuals.sensorId }).from(actuals);
  return rows.map((r) => r.sensorId).sort((a, b) => a - b);
}
