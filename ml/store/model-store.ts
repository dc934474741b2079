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
 * One writer per device is assumed (the forecaster's retrain worker, or `bun run ml train|retrain`): the
 * manifest is read-modified-written without a conditional put, because s3rver and some S3-compatible servers
 * do not implement If-Match on PUT.
 */
import { PipelineError } from "../../lib/errors.ts";
import { MinMaxScaler, type MinMaxScalerJson } from "../scaler.ts";
import type { BlobStore } from "./blob.ts";
import { LocalBlobStore } from "./local.ts";
import { S3BlobStore, type S3Options } from "./s3.ts";
import type { Manifest, ManifestEntry, ModelArtifact, ModelMeta, ModelMetrics, ModelScope } from "./types.ts";

export const initialVersion = "initial";
/** Manifest history entries kept (oldest dropped first): the manifest is read on every hot-reload check. */
export const defaultHistoryLimit = 50;

export interface ModelStoreOptions {
  /** S3-compatible storage; takes precedence over `localDir`. */
  s3?: S3Options | undefined;
  /** Local directory (default `data/models`) when `s3` is absent. */
  localDir?: string | undefined;
  historyLimit?: number;
}

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
  return m as ModelMeta;
}

function parseManifest(value: unknown, where: string): Manifest {
  const m = value as Partial<Manifest> | null;
  const ok =
    m !== null &&
    typeof m === "object" &&
    (m.promoted === null || typeof m.promoted === "string") &&
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

  constructor(blobs: BlobStore, historyLimit = defaultHistoryLimit) {
    this.blobs = blobs;
    this.location = blobs.location;
    this.historyLimit = historyLimit;
  }

  /** S3 when `options.s3` is given (bucket created if missing), otherwise the local directory. */
  static async open(options: ModelStoreOptions = {}): Promise<ModelStore> {
    const blobs = options.s3
      ? await S3BlobStore.open(options.s3)
      : await LocalBlobStore.open(options.localDir);
    return new ModelStore(blobs, options.historyLimit);
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
    const existing = await this.blobs.get(`${prefix}meta.json`);
    if (existing && !options.overwrite) {
      const old = parseJson(existing, `${prefix}meta.json`, "model") as Partial<ModelMeta>;
      if (old.onnxSha256 === meta.onnxSha256) return;
      throw new PipelineError("storage", `model version ${prefix} already exists in ${this.location}`, {
        hint: `versions are immutable: delete ${prefix} from the store to replace it`,
      });
    }
    await this.blobs.put(`${prefix}model.onnx`, onnx, "application/octet-stream");
    await this.blobs.put(`${prefix}scaler.json`, json(scaler satisfies MinMaxScalerJson), "application/json");
    await this.blobs.put(`${prefix}meta.json`, json(meta), "application/json");
  }

  /** Whether a version's meta.json exists (without verifying the rest). */
  async hasVersion(scope: ModelScope, version: string): Promise<boolean> {
    return (await this.blobs.get(`${versionPrefix(scope, version)}meta.json`)) !== null;
  }

  /**
   * Loads and verifies a version. Missing → `not-found`; truncated, corrupt or of another shape than
   * `expect` → `model` (the caller keeps serving its previous model).
   */
  async loadVersion(scope: ModelScope, version: string, expect: ExpectedShape = {}): Promise<ModelArtifact> {
    const prefix = versionPrefix(scope, version);
    const where = `${this.location}/${prefix}`;
    const metaBytes = await this.blobs.get(`${prefix}meta.json`);
    if (!metaBytes) {
      throw new PipelineError("not-found", `model version ${prefix} does not exist in ${this.location}`, {
        hint: "train it with bun run ml train (initial) or bun run ml retrain",
      });
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
    const onnx = await this.blobs.get(`${prefix}model.onnx`);
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
    const scalerBytes = await this.blobs.get(`${prefix}scaler.json`);
    if (!scalerBytes) {
      throw new PipelineError("model", `${where}scaler.json is missing`, { hint: keepServing });
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
    const bytes = await this.blobs.get(key);
    if (!bytes) return null;
    return parseManifest(parseJson(bytes, `${this.location}/${key}`, "storage"), `${this.location}/${key}`);
  }

  /**
   * Appends a decision to the device's history (keeping the newest `historyLimit`) and, when
   * `entry.promoted`, makes `entry.version` the serving one. Promoting a version that was never saved is a
   * `not-found` error, so the manifest can never name a missing model. Returns the new manifest.
   */
  async recordDecision(scope: ModelScope, entry: ManifestEntry): Promise<Manifest> {
    const key = `${scopeKey(scope)}/manifest.json`;
    if (entry.promoted && !(await this.hasVersion(scope, entry.version))) {
      throw new PipelineError(
        "not-found",
        `cannot promote ${versionPrefix(scope, entry.version)}: it does not exist in ${this.location}`,
        { hint: "save the version before recording its promotion" },
      );
    }
    const manifest: Manifest = (await this.readManifest(scope)) ?? {
      scope,
      promoted: null,
      updatedAt: entry.at,
      history: [],
    };
    manifest.history.push(entry);
    if (manifest.history.length > this.historyLimit) {
      manifest.history.splice(0, manifest.history.length - this.historyLimit);
    }
    if (entry.promoted) manifest.promoted = entry.version;
    manifest.updatedAt = new Date().toISOString();
    await this.blobs.put(key, json(manifest), "application/json");
    return manifest;
  }

  /** The promoted version of a device, verified; null when none was promoted yet. */
  async loadPromoted(scope: ModelScope, expect: ExpectedShape = {}): Promise<ModelArtifact | null> {
    const manifest = await this.readManifest(scope);
    if (!manifest?.promoted) return null;
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
