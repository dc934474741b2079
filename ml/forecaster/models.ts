/**
 * The models serving right now: one per sensor that has its own promoted model, plus the shared fallback.
 * `refresh` reads the store's manifests and swaps a newly promoted version in without a restart; a version
 * that fails to load (missing, truncated, wrong shape, failing its warm-up run) is logged and counted once,
 * and the model serving before it keeps serving.
 */
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { slotsPerWindow } from "@energy/contracts/records.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { ForecasterMetrics } from "@energy/platform/metrics.ts";
import type { OnnxForecaster } from "../inference.ts";
import { type Interval, isBaselineVersion, kindOfVersion, type ServedKind } from "../policy.ts";
import { openForecaster } from "../store/artifact.ts";
import type { Manifest, ModelArtifact, ModelMeta, ModelScope } from "../store/types.ts";
import { baselineVersion } from "./baseline.ts";

/**
 * What the forecaster needs from the model store (ml/store's `ModelStore` has it); an interface so the
 * serving logic does not depend on S3 or a directory.
 */
export interface ModelSource {
  readManifest(scope: ModelScope): Promise<Manifest | null>;
  /** Verified artifact; `not-found` or `model` PipelineError otherwise. */
  loadVersion(scope: ModelScope, version: string, expect?: { lookback?: number }): Promise<ModelArtifact>;
  /** Devices with anything stored. */
  listScopes(): Promise<ModelScope[]>;
}

/**
 * Which scope decided the forecast: `sensor` = the sensor's own manifest, `shared` = the fallback's,
 * `baseline` = nothing serves yet (persistence by default). What made it is `ServingModel.kind`.
 */
export type ModelKind = "sensor" | "shared" | "baseline";

/**
 * What serves a scope: an LSTM version (with its session), or a baseline that won the policy (no session).
 * `interval`: p10/p90 offsets per horizon step, from the manifest (the decision that made it serve).
 */
export interface ServingModel {
  readonly scope: ModelScope;
  readonly version: string;
  readonly kind: ServedKind;
  readonly interval?: Interval | undefined;
  readonly meta?: ModelMeta | undefined;
  readonly forecaster?: OnnxForecaster | undefined;
}

interface Slot {
  model: ServingModel;
  /** Inference runs holding the session; a replaced model is released when this drops to 0. */
  users: number;
  retired: boolean;
}

export interface ModelSetOptions {
  source: ModelSource;
  metrics: ForecasterMetrics;
  logger: Logger;
  /** Intra-op threads per ONNX session (1: ingestion and many sessions share the cores predictably). */
  threads?: number;
}

const scopeKey = (scope: ModelScope) => String(scope);

/**
 * The forecaster feeds 60 one-second slots and stores 60 seconds ahead; the store checks the lookback, this
 * the horizon (a recursive model's `horizon` is how far it was validated, a direct one's its output width).
 */
function checkHorizon(scope: ModelScope, version: string, meta: ModelMeta): void {
  if (meta.horizon < slotsPerWindow) {
    throw new PipelineError(
      "model",
      `model ${scope}/${version} forecasts ${meta.horizon} s ahead, the forecaster needs ${slotsPerWindow}`,
      { hint: "retrain with horizon 60; the previous model keeps serving" },
    );
  }
}

/**
 * @example
 * const models = new ModelSet({ source: store, metrics, logger });
 * await models.refresh(["shared", 7]);
 * const { kind, model } = models.pick(7); // "sensor" | "shared" | "baseline"
 */
export class ModelSet {
  private readonly slots = new Map<string, Slot>();
  /** Every slot by its model, serving or replaced but still running an inference. */
  private readonly slotByModel = new WeakMap<ServingModel, Slot>();
  /** Version per scope that failed to load: not retried (nor counted again) until the manifest changes. */
  private readonly failed = new Map<string, string>();
  private refreshing: Promise<void> = Promise.resolve();
  private readonly options: ModelSetOptions;

  constructor(options: ModelSetOptions) {
    this.options = options;
    this.publishGauges();
  }

  /** The model for a sensor: its own, else the shared one, else none (the baseline serves). */
  pick(sensorId: number): { kind: ModelKind; model: ServingModel | undefined } {
    const own = this.slots.get(scopeKey(sensorId));
    if (own) return { kind: "sensor", model: own.model };
    const shared = this.slots.get("shared");
    if (shared) return { kind: "shared", model: shared.model };
    return { kind: "baseline", model: undefined };
  }

  /** True once the shared scope is decided (a model or a baseline the policy chose serves every sensor). */
  hasShared(): boolean {
    return this.slots.has("shared");
  }

  serving(): ServingModel[] {
    return [...this.slots.values()].map((s) => s.model);
  }

  /**
   * Runs `fn` with the model's session held, so a hot swap in the meantime releases the old session only
   * after the run.
   */
  async use<R>(model: ServingModel, fn: (forecaster: OnnxForecaster) => Promise<R>): Promise<R> {
    if (!model.forecaster) {
      throw new PipelineError("internal", `${model.scope}/${model.version} is a baseline: it has no session`);
    }
    const slot = this.slotByModel.get(model);
    if (slot) slot.users++;
    try {
      return await fn(model.forecaster);
    } finally {
      if (slot) {
        slot.users--;
        if (slot.retired && slot.users === 0) await this.releaseSlot(slot);
      }
    }
  }

  /**
   * Reads the manifests of `scopes` and loads each newly promoted version. Refreshes run one at a time (a
   * slow store never stacks them up); errors are counted and logged, never thrown.
   */
  refresh(scopes: readonly ModelScope[]): Promise<void> {
    const run = this.refreshing.then(() => this.refreshNow(scopes));
    this.refreshing = run.catch(() => {});
    return run;
  }

  /** Releases every session (at shutdown). */
  async close(): Promise<void> {
    await this.refreshing;
    const slots = [...this.slots.values()];
    this.slots.clear();
    for (const slot of slots) {
      slot.retired = true;
      if (slot.users === 0) await this.releaseSlot(slot);
    }
    this.publishGauges();
  }

  private async refreshNow(scopes: readonly ModelScope[]): Promise<void> {
    for (const scope of scopes) {
      let manifest: Manifest | null;
      try {
        manifest = await this.options.source.readManifest(scope);
      } catch (error) {
        this.options.metrics.forecastErrors.inc({ stage: "manifest" });
        this.options.logger.warn(`cannot read the manifest of ${scope}; keeping the serving model`, {
          error: errorMessage(error),
        });
        continue;
      }
      const promoted = manifest?.promoted;
      const key = scopeKey(scope);
      if (!promoted) continue;
      const current = this.slots.get(key)?.model;
      if (current?.version === promoted) {
        // Same version, new decision (e.g. re-scored): only the interval may have changed.
        if (manifest?.interval && current.interval !== manifest.interval)
          this.setInterval(key, manifest.interval);
        continue;
      }
      if (this.failed.get(key) === promoted) continue;
      if (isBaselineVersion(promoted)) await this.serveBaseline(scope, promoted, manifest?.interval);
      else await this.load(scope, promoted, manifest?.interval);
    }
  }

  private setInterval(key: string, interval: Interval): void {
    const slot = this.slots.get(key);
    if (slot) (slot.model as { interval?: Interval }).interval = interval;
  }

  /**
   * Serves a baseline for `scope` in place of a model (the policy chose it, or a live demotion): sensors of
   * a sensor scope get it instead of the shared model; for `shared`, every sensor without its own.
   */
  serveBaseline(scope: ModelScope, version: string, interval?: Interval): Promise<void> {
    const key = scopeKey(scope);
    const previous = this.slots.get(key);
    const slot: Slot = {
      model: { scope, version, kind: kindOfVersion(version), interval },
      users: 0,
      retired: false,
    };
    this.slots.set(key, slot);
    this.slotByModel.set(slot.model, slot);
    this.failed.delete(key);
    this.options.logger.info(`serving ${kindOfVersion(version)} for ${scope}`, {
      previous: previous?.model.version ?? null,
    });
    this.publishGauges();
    return previous ? this.retire(previous) : Promise.resolve();
  }

  private async load(scope: ModelScope, version: string, interval?: Interval): Promise<void> {
    const key = scopeKey(scope);
    const { metrics, logger } = this.options;
    const started = performance.now();
    try {
      const artifact = await this.options.source.loadVersion(scope, version, { lookback: slotsPerWindow });
      checkHorizon(scope, version, artifact.meta);
      const forecaster = await openForecaster(artifact, this.options.threads ?? 1);
      const previous = this.slots.get(key);
      const slot: Slot = {
        model: {
          scope,
          version,
          kind: "lstm",
          interval: interval ?? artifact.meta.interval,
          meta: artifact.meta,
          forecaster,
        },
        users: 0,
        retired: false,
      };
      this.slots.set(key, slot);
      this.slotByModel.set(slot.model, slot);
      this.failed.delete(key);
      if (previous) await this.retire(previous);
      logger.info(`serving model ${scope}/${version}`, {
        previous: previous?.model.version ?? null,
        head: artifact.meta.head,
        rmse: artifact.meta.metrics.rmse,
        loadMs: Math.round(performance.now() - started),
      });
    } catch (error) {
      // A broken artifact stays broken: remember it. Anything else (store unreachable, an object not yet
      // visible) may pass on the next poll.
      const broken =
        error instanceof PipelineError && (error.code === "model" || error.code === "validation");
      if (broken) this.failed.set(key, version);
      metrics.forecastErrors.inc({ stage: "model_load" });
      logger.error(`model ${scope}/${version} failed to load; the previous model keeps serving`, {
        serving: this.slots.get(key)?.model.version ?? (scope === "shared" ? baselineVersion : "shared"),
        retry: broken ? "when another version is promoted" : "at the next poll",
        error: errorMessage(error),
      });
    }
    this.publishGauges();
  }

  private async retire(slot: Slot): Promise<void> {
    // A slot still in use is released by `use` when its last run ends.
    slot.retired = true;
    if (slot.users === 0) await this.releaseSlot(slot);
  }

  private async releaseSlot(slot: Slot): Promise<void> {
    await slot.model.forecaster?.release().catch((error) => {
      this.options.logger.warn(`releasing ${slot.model.scope}/${slot.model.version} failed`, {
        error: errorMessage(error),
      });
    });
  }

  /** forecaster_model_version_info and forecaster_models_loaded, from what serves now. */
  private publishGauges(): void {
    const { metrics } = this.options;
    metrics.modelVersion.reset();
    metrics.modelsLoaded.set(this.slots.size);
    if (!this.slots.has("shared")) metrics.modelVersion.set({ scope: "shared", version: baselineVersion }, 1);
    for (const slot of this.slots.values()) {
      const scope = slot.model.scope === "shared" ? "shared" : "sensor";
      metrics.modelVersion.set({ scope, version: slot.model.version }, 1);
    }
  }
}
