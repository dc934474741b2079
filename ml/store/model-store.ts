/**
 * The model store: versioned forecaster models per device on S3-compatible storage or a local directory
 * (layout in `types.ts`), with a manifest per device naming the promoted version and the history of
 * promotion decisions.
 *
 * Loading checks everything that can go wrong between a writer and a reader — a missing version, a
 * model.onnx truncated or swapped (byte count and SHA-256 from meta.json), a meta.json or scaler.json that
 * does not parse, a shape other than the caller expects — and fails with a typed PipelineError, so the
 * forecaster can keep serving the model it already has.
 *
 * Trust model (see types.ts): the manifest is the root of trust; it records the SHA-256 of meta.json,
 * model.onnx and scaler.json of every version, written last and only after the objects were read back
 * intact, and a version loads only when all three match the manifest.
 *
 * Uploads retry with exponential backoff while the store is unreachable (`retry`); a save that still fails
 * leaves no manifest entry, so nothing half-written ever becomes servable.
 *
 * One writer per device is assumed (the forecaster's retrain worker, or `bun run ml train|retrain`): the
 * manifest is read-modified-written without a conditional put, because s3rver and some S3-compatible servers
 * do not implement If-Match on PUT.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { retry } from "@energy/platform/backoff.ts";
import { checkInterval, isBaselineVersion } from "../policy.ts";
import { MinMaxScaler, type MinMaxScalerJson } from "../scaler.ts";
import type { BlobStore } from "./blob.ts";
import { LocalBlobStore } from "./local.ts";
import { S3BlobStore, type S3Options } from "./s3.ts";
import type {
  Manifest,
  ManifestEntry,
  ModelArtifact,
  ModelMeta,
  ModelMetrics,
  ModelScope,
  VersionHashes,
} from "./types.ts";

export const initialVersion = "initial";
/** Manifest history entries kept (oldest dropped first): the manifest is read on every hot-reload check. */
export const defaultHistoryLimit = 50;

export interface ModelStoreOptions {
  /** S3-compatible storage; takes precedence over `localDir`. */
  s3?: S3Options | undefined;
  /** Local directory (default `data/models`) when `s3` is absent. */
  localDir?: string | undefined;
  historyLimit?: number;
  /** Attempts and first backoff of each object write/read on a `storage` error (default 6 × from 250 ms). */
  retry?: { attempts: number; baseMs: number };
}

export const defaultRetry = { attempts: 6, baseMs: 250 };

/** Shape a caller requires of a loaded version (e.g. the forecaster's lookback). */
export interface ExpectedShape {
  lookback?: number;
  horizon?: number;
  outputs?: number;
}

const rangeVersion = /^(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)$/;

/** `2025-01-01T00:00:00.000Z` → `20250101T000000Z` (seconds resolution, UTC). */
function compactUtc(date: Date): string {
  if (!Number.isFinite(date.getTime())) {
    throw new PipelineError("validation", `model version time ${String(date)} is not a valid date`);
  }
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replaceAll("-", "")
    .replaceAll(":", "");
}

function parseCompactUtc(raw: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(raw)!;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/**
 * Version name of a model retrained on rows from `from` to `to`.
 *
 * @example
 * versionForRange(new Date("2025-01-01T00:00:00Z"), new Date("2025-01-01T00:10:00Z"));
 * // "20250101T000000Z-20250101T001000Z"
 */
export function versionForRange(from: Date, to: Date): string {
  return `${compactUtc(from)}-${compactUtc(to)}`;
}

/** The training range of a retrained version, or null for `initial`. Throws on a malformed version. */
export function parseVersion(version: string): { from: Date; to: Date } | null {
  if (version === initialVersion) return null;
  const m = rangeVersion.exec(version);
  if (!m) {
    throw new PipelineError(
      "validation",
      `model version "${version}" is neither "initial" nor {from}-{to} like 20250101T000000Z-20250101T001000Z`,
    );
  }
  return { from: parseCompactUtc(m[1]!), to: parseCompactUtc(m[2]!) };
}

/** The `{device}` part of keys: the sensor id, or `shared`. */
export function scopeKey(scope: ModelScope): string {
  if (scope === "shared") return "shared";
  if (!Number.isInteger(scope) || scope < 0) {
    throw new PipelineError("validation", `model scope ${scope} is neither "shared" nor a sensor id ≥ 0`);
  }
  return String(scope);
}

/** `"shared"` or a sensor id from a key segment or CLI value; null when it is neither. */
export function parseScope(raw: string): ModelScope | null {
  if (raw === "shared") return "shared";
  return /^(0|[1-9]\d{0,9})$/.test(raw) && Number(raw) <= 2 ** 31 - 1 ? Number(raw) : null;
}

/** Key prefix of a version: `{device}/{version}/`. Also the `location` column of the `models` table. */
export function versionPrefix(scope: ModelScope, version: string): string {
  parseVersion(version);
  return `${scopeKey(scope)}/${version}/`;
}

/** Hex SHA-256, the integrity check of model.onnx. */
export function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (value: unknown) => encoder.encode(`${JSON.stringify(value, null, 2)}\n`);

function parseJson(bytes: Uint8Array, where: string, code: "model" | "storage"): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new PipelineError(code, `${where} is not valid JSON (${bytes.length} bytes)`, {
      hint:
        code === "model"
          ? "the upload was interrupted or the object was edited; the previous model keeps serving"
          : "fix or delete the object",
      cause,
    });
  }
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

function checkMetrics(m: unknown): m is ModelMetrics {
  const r = m as Partial<ModelMetrics> | null;
  return (
    r !== null &&
    typeof r === "object" &&
    isNum(r.mae) &&
    isNum(r.rmse) &&
    isNum(r.persistenceRmse) &&
    isNum(r.skill) &&
    Number.isInteger(r.origins)
  );
}

/** Validates a parsed meta.json; `where` names it in errors. */
export function parseMeta(value: unknown, where: string): ModelMeta {
  const m = value as Partial<ModelMeta> | null;
  const bad = (what: string): never => {
    throw new PipelineError("model", `${where}: ${what}`, {
      hint: "the version is unusable; the previous model keeps serving",
    });
  };
  if (m === null || typeof m !== "object") return bad("not a JSON object");
  if (m.scope !== "shared" && !(Number.isInteger(m.scope) && (m.scope as number) >= 0)) {
    bad(`scope ${JSON.stringify(m.scope)} is invalid`);
  }
  if (typeof m.version !== "string") bad("version is missing");
  for (const key of ["lookback", "horizon", "outputs", "hidden", "onnxBytes"] as const) {
    if (!isPosInt(m[key])) bad(`${key} ${JSON.stringify(m[key])} is not a positive integer`);
  }
  if (m.head !== "recursive" && m.head !== "direct") bad(`head ${JSON.stringify(m.head)} is invalid`);
  const wantOutputs = m.head === "direct" ? m.horizon : 1;
  if (m.outputs !== wantOutputs) {
    bad(`a ${m.head} model with horizon ${m.horizon} has ${wantOutputs} outputs, meta says ${m.outputs}`);
  }
  if (typeof m.onnxSha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.onnxSha256)) bad("onnxSha256 is invalid");
  if (!checkMetrics(m.metrics)) bad("metrics are incomplete");
  if (m.target !== undefined && m.target !== "residual" && m.target !== "absolute") {
    bad(`target ${JSON.stringify(m.target)} is invalid`);
  }
  if (m.target === "residual") {
    const r = m.residual;
    if (
      !r ||
      !isNum(r.scale) ||
      r.scale <= 0 ||
      !isNum(r.inputClip) ||
      !isNum(r.outputClip) ||
      !isNum(r.floor)
    ) {
      bad("residual scaling is incomplete");
    }
  }
  if (m.interval !== undefined && !checkInterval(m.interval, m.horizon))
    bad("interval is not p10/p90 per horizon step");
  return m as ModelMeta;
}

function parseManifest(value: unknown, where: string): Manifest {
  const m = value as Partial<Manifest> | null;
  const ok =
    m !== null &&
    typeof m === "object" &&
    (m.promoted === null || typeof m.promoted === "string") &&
    (m.interval === undefined || checkInterval(m.interval)) &&
    (m.versions === undefined || (typeof m.versions === "object" && m.versions !== null)) &&
    Array.isArray(m.history) &&
    m.history.every(
      (e) =>
        typeof e?.version === "string" && typeof e.promoted === "boolean" && typeof e.reason === "string",
    );
  if (!ok) {
    throw new PipelineError("storage", `${where} is not a manifest {scope, promoted, updatedAt, history}`, {
      hint: "delete it to start a new history (versions are kept); the serving model is unaffected",
    });
  }
  return m as Manifest;
}

/**
 * Versioned models per device, on S3 or a local directory.
 *
 * @example
 * const store = await ModelStore.open({ s3: { endpoint: "http://127.0.0.1:9000", bucket: "energy-models",
 *   region: "us-east-1", accessKeyId: "rustfsadmin", secretAccessKey: "rustfsadmin" } });
 * await store.saveVersion(artifact);                       // 2/initial/model.onnx, scaler.json, meta.json
 * await store.recordDecision(2, { version: "initial", at: new Date().toISOString(), promoted: true,
 *   reason: "initial model", metrics: artifact.meta.metrics });
 * const serving = await store.loadPromoted(2);             // ModelArtifact | null
 * const manifest = await store.readManifest(2);            // poll manifest.promoted to hot-reload
 */
export class ModelStore {
  readonly location: string;
  private readonly blobs: BlobStore;
  private readonly historyLimit: number;
  private readonly retry: { attempts: number; baseMs: number };

  constructor(blobs: BlobStore, historyLimit = defaultHistoryLimit, retry = defaultRetry) {
    this.blobs = blobs;
    this.location = blobs.location;
    this.historyLimit = historyLimit;
    this.retry = retry;
  }

  /**
   * Runs a store operation, retrying `storage` errors (unreachable, 5xx) with exponential backoff; other
   * errors (auth, a missing key) are final at once.
   */
  private async withRetry<T>(action: () => Promise<T>): Promise<T> {
    const { attempts, baseMs } = this.retry;
    // No cap below the last ceiling: `attempts` bounds the wait.
    return retry(action, {
      initialMs: baseMs,
      maxMs: baseMs * 2 ** attempts,
      attempts,
      retryable: (error) => error instanceof PipelineError && error.code === "storage",
    });
  }

  private put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    return this.withRetry(() => this.blobs.put(key, bytes, contentType));
  }

  private get(key: string): Promise<Uint8Array | null> {
    return this.withRetry(() => this.blobs.get(key));
  }

  /** S3 when `options.s3` is given (bucket created if missing), otherwise the local directory. */
  static async open(options: ModelStoreOptions = {}): Promise<ModelStore> {
    const blobs = options.s3
      ? await S3BlobStore.open(options.s3)
      : await LocalBlobStore.open(options.localDir);
    return new ModelStore(blobs, options.historyLimit, options.retry);
  }

  /**
   * Writes a version (model.onnx, scaler.json, then meta.json: a reader finding meta.json finds the rest).
   * Versions are immutable: writing an existing one with the same ONNX bytes is a no-op, with different
   * bytes a `storage` error unless `overwrite` (which a serving process does not notice: it reloads on a new
   * promoted version name, so prefer a new version).
   */
  async saveVersion(artifact: ModelArtifact, options: { overwrite?: boolean } = {}): Promise<void> {
    const { meta, onnx, scaler } = artifact;
    const prefix = versionPrefix(meta.scope, meta.version);
    parseMeta(meta, `meta of ${prefix}`);
    if (onnx.byteLength !== meta.onnxBytes || sha256Hex(onnx) !== meta.onnxSha256) {
      throw new PipelineError(
        "model",
        `${prefix}model.onnx (${onnx.byteLength} bytes) does not match its meta (${meta.onnxBytes} bytes, sha256 ${meta.onnxSha256.slice(0, 12)}…)`,
        { hint: "build artifacts with artifactFromTraining" },
      );
    }
    MinMaxScaler.fromJSON(scaler);
    const scope = meta.scope;
    const existing = await this.get(`${prefix}meta.json`);
    if (existing && !options.overwrite) {
      const old = parseJson(existing, `${prefix}meta.json`, "model") as Partial<ModelMeta>;
      if (old.onnxSha256 === meta.onnxSha256) {
        // Same model: make sure the manifest vouches for it (a save interrupted before its manifest write).
        if (!(await this.readManifest(scope))?.versions?.[meta.version])
          await this.commitVersion(scope, meta.version, prefix);
        return;
      }
      throw new PipelineError("storage", `model version ${prefix} already exists in ${this.location}`, {
        hint: `versions are immutable: delete ${prefix} from the store to replace it`,
      });
    }
    const objects: Array<[string, Uint8Array, string]> = [
      ["model.onnx", onnx, "application/octet-stream"],
      ["scaler.json", json(scaler satisfies MinMaxScalerJson), "application/json"],
      ["meta.json", json(meta), "application/json"],
    ];
    for (const [name, bytes, type] of objects) await this.put(`${prefix}${name}`, bytes, type);
    await this.commitVersion(scope, meta.version, prefix, {
      metaSha256: sha256Hex(objects[2]![1]),
      onnxSha256: sha256Hex(onnx),
      scalerSha256: sha256Hex(objects[1]![1]),
    });
  }

  /**
   * Reads a version's objects back and, when they are intact (and match `expected` when given), records
   * their hashes in the manifest: the last write of a save, so a version is servable only once complete.
   */
  private async commitVersion(
    scope: ModelScope,
    version: string,
    prefix: string,
    expected?: VersionHashes,
  ): Promise<void> {
    const [metaBytes, onnxBytes, scalerBytes] = await Promise.all(
      ["meta.json", "model.onnx", "scaler.json"].map((name) => this.get(`${prefix}${name}`)),
    );
    if (!metaBytes || !onnxBytes || !scalerBytes) {
      throw new PipelineError("storage", `${this.location}/${prefix} is incomplete after upload`, {
        hint: "the store lost a write; the version is not recorded and cannot serve",
      });
    }
    const hashes: VersionHashes = {
      metaSha256: sha256Hex(metaBytes),
      onnxSha256: sha256Hex(onnxBytes),
      scalerSha256: sha256Hex(scalerBytes),
    };
    const meta = parseMeta(parseJson(metaBytes, `${prefix}meta.json`, "model"), `${prefix}meta.json`);
    const bad =
      meta.onnxSha256 !== hashes.onnxSha256 ||
      (expected &&
        (expected.metaSha256 !== hashes.metaSha256 ||
          expected.onnxSha256 !== hashes.onnxSha256 ||
          expected.scalerSha256 !== hashes.scalerSha256));
    if (bad) {
      throw new PipelineError(
        "storage",
        `${this.location}/${prefix} read back differs from what was written`,
        {
          hint: "the upload was corrupted or raced another writer; the version is not recorded and cannot serve",
        },
      );
    }
    await this.updateManifest(scope, (manifest) => {
      manifest.versions = { ...manifest.versions, [version]: hashes };
    });
  }

  private async updateManifest(scope: ModelScope, change: (m: Manifest) => void): Promise<Manifest> {
    const key = `${scopeKey(scope)}/manifest.json`;
    const manifest: Manifest = (await this.readManifest(scope)) ?? {
      scope,
      promoted: null,
      updatedAt: new Date().toISOString(),
      history: [],
    };
    change(manifest);
    manifest.updatedAt = new Date().toISOString();
    await this.put(key, json(manifest), "application/json");
    return manifest;
  }

  /** Whether a version's meta.json exists (without verifying the rest). */
  async hasVersion(scope: ModelScope, version: string): Promise<boolean> {
    return (await this.get(`${versionPrefix(scope, version)}meta.json`)) !== null;
  }

  /**
   * Loads and verifies a version. Missing → `not-found`; truncated, corrupt or of another shape than
   * `expect` → `model` (the caller keeps serving its previous model).
   */
  async loadVersion(scope: ModelScope, version: string, expect: ExpectedShape = {}): Promise<ModelArtifact> {
    const prefix = versionPrefix(scope, version);
    const where = `${this.location}/${prefix}`;
    const metaBytes = await this.get(`${prefix}meta.json`);
    if (!metaBytes) {
      throw new PipelineError("not-found", `model version ${prefix} does not exist in ${this.location}`, {
        hint: "train it with bun run ml train (initial) or bun run ml retrain",
      });
    }
    const trusted = (await this.readManifest(scope))?.versions?.[version];
    if (!trusted) {
      throw new PipelineError("model", `${where} is not recorded in ${scopeKey(scope)}/manifest.json`, {
        hint: "only versions whose hashes the manifest carries load (an unfinished upload, or a model copied in by hand); retrain or run bun run ml train",
      });
    }
    const metaSha = sha256Hex(metaBytes);
    if (metaSha !== trusted.metaSha256) {
      throw new PipelineError(
        "model",
        `${where}meta.json has SHA-256 ${metaSha.slice(0, 12)}…, the manifest says ${trusted.metaSha256.slice(0, 12)}…: tampered or replaced`,
        { hint: "the previous model keeps serving" },
      );
    }
    const meta = parseMeta(parseJson(metaBytes, `${where}meta.json`, "model"), `${where}meta.json`);
    if (meta.version !== version || scopeKey(meta.scope) !== scopeKey(scope)) {
      throw new PipelineError(
        "model",
        `${where}meta.json describes ${scopeKey(meta.scope)}/${meta.version}, not ${prefix}`,
        { hint: "the object was copied to the wrong key; the previous model keeps serving" },
      );
    }
    const keepServing = "the upload was interrupted or replaced; the previous model keeps serving";
    const onnx = await this.get(`${prefix}model.onnx`);
    if (!onnx) {
      throw new PipelineError("model", `${where}model.onnx is missing although meta.json exists`, {
        hint: keepServing,
      });
    }
    if (onnx.byteLength !== meta.onnxBytes) {
      throw new PipelineError(
        "model",
        `${where}model.onnx is ${onnx.byteLength} bytes, meta.json says ${meta.onnxBytes}: truncated or replaced`,
        { hint: keepServing },
      );
    }
    const sha = sha256Hex(onnx);
    if (sha !== meta.onnxSha256) {
      throw new PipelineError(
        "model",
        `${where}model.onnx has SHA-256 ${sha.slice(0, 12)}…, meta.json says ${meta.onnxSha256.slice(0, 12)}…: corrupt`,
        { hint: keepServing },
      );
    }
    const scalerBytes = await this.get(`${prefix}scaler.json`);
    if (!scalerBytes) {
      throw new PipelineError("model", `${where}scaler.json is missing`, { hint: keepServing });
    }
    if (sha !== trusted.onnxSha256 || sha256Hex(scalerBytes) !== trusted.scalerSha256) {
      throw new PipelineError(
        "model",
        `${where} model.onnx or scaler.json does not match the manifest's SHA-256`,
        {
          hint: "tampered or replaced; the previous model keeps serving",
        },
      );
    }
    const scaler = MinMaxScaler.fromJSON(parseJson(scalerBytes, `${where}scaler.json`, "model")).toJSON();
    for (const key of ["lookback", "horizon", "outputs"] as const) {
      if (expect[key] !== undefined && expect[key] !== meta[key]) {
        throw new PipelineError(
          "model",
          `${where} has ${key} ${meta[key]}, expected ${expect[key]}: wrong shape for this forecaster`,
          { hint: "retrain with the forecaster's lookback and horizon; the previous model keeps serving" },
        );
      }
    }
    return { meta, onnx, scaler };
  }

  /** The device's manifest, or null when nothing was ever recorded for it. */
  async readManifest(scope: ModelScope): Promise<Manifest | null> {
    const key = `${scopeKey(scope)}/manifest.json`;
    const bytes = await this.get(key);
    if (!bytes) return null;
    return parseManifest(parseJson(bytes, `${this.location}/${key}`, "storage"), `${this.location}/${key}`);
  }

  /**
   * Appends a decision to the device's history (keeping the newest `historyLimit`) and, when
   * `entry.promoted`, makes `entry.version` the serving one. Promoting a version that was never saved is a
   * `not-found` error, so the manifest can never name a missing model. Returns the new manifest.
   */
  async recordDecision(scope: ModelScope, entry: ManifestEntry): Promise<Manifest> {
    const serves = entry.serves ?? (entry.promoted ? entry.version : undefined);
    if (serves !== undefined && !isBaselineVersion(serves)) {
      if (!(await this.readManifest(scope))?.versions?.[serves]) {
        throw new PipelineError(
          "not-found",
          `cannot promote ${versionPrefix(scope, serves)}: it is not a stored, verified version in ${this.location}`,
          { hint: "save the version before recording its promotion" },
        );
      }
    }
    if (entry.interval !== undefined && !checkInterval(entry.interval)) {
      throw new PipelineError("validation", "decision interval is not {p10: number[], p90: number[]}");
    }
    return this.updateManifest(scope, (manifest) => {
      manifest.history.push(entry);
      if (manifest.history.length > this.historyLimit) {
        manifest.history.splice(0, manifest.history.length - this.historyLimit);
      }
      if (serves !== undefined) {
        manifest.promoted = serves;
        if (entry.interval) manifest.interval = entry.interval;
        else delete manifest.interval;
      }
    });
  }

  /** The promoted version of a device, verified; null when none was promoted yet. */
  async loadPromoted(scope: ModelScope, expect: ExpectedShape = {}): Promise<ModelArtifact | null> {
    const manifest = await this.readManifest(scope);
    if (!manifest?.promoted || isBaselineVersion(manifest.promoted)) return null;
    return this.loadVersion(scope, manifest.promoted, expect);
  }

  /**
   * Devices with anything stored: sensor ids ascending, then `shared`. (On s3rver, whose delimiter listing
   * prunes deeper directories, only devices with a manifest appear; train and retrain always write one.)
   */
  async listScopes(): Promise<ModelScope[]> {
    const scopes = (await this.blobs.list(""))
      .filter((name) => name.endsWith("/"))
      .map((name) => parseScope(name.slice(0, -1)))
      .filter((s): s is ModelScope => s !== null);
    return scopes.sort((a, b) => (a === "shared" ? 1 : b === "shared" ? -1 : a - b));
  }

  /** Stored versions of a device (complete or not), `initial` first, then by training range. */
  async listVersions(scope: ModelScope): Promise<string[]> {
    return (await this.blobs.list(`${scopeKey(scope)}/`))
      .filter((name) => name.endsWith("/"))
      .map((name) => name.slice(0, -1))
      .filter((v) => v === initialVersion || rangeVersion.test(v))
      .sort((a, b) => (a === initialVersion ? -1 : b === initialVersion ? 1 : a < b ? -1 : a > b ? 1 : 0));
  }

  async close(): Promise<void> {
    await this.blobs.close();
  }
}
