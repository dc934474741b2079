/**
 * The model store against a real S3-compatible server on loopback, and the same suite on the local
 * directory backend.
 *
 * Why s3rver for tests: it is pure JavaScript (a devDependency, no binary to download or container to
 * pull), starts in-process on Bun in milliseconds on port 0, and speaks enough of the S3 API (buckets,
 * put/get, ListObjectsV2 with delimiters, error codes) for the store. It does not verify V4 signatures,
 * only that the access key id exists, so the auth test uses an unknown key id. The compose stack runs
 * RustFS, the production server; the store code is the same @aws-sdk/client-s3 path for both.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { sfc32 } from "@energy/platform/random.ts";
import S3rver from "s3rver";
import { forecast, type TrainResult, train } from "../train.ts";
import { artifactFromTraining, openForecaster } from "./artifact.ts";
import type { BlobStore } from "./blob.ts";
import { LocalBlobStore } from "./local.ts";
import {
  initialVersion,
  ModelStore,
  parseScope,
  parseVersion,
  sha256Hex,
  versionForRange,
} from "./model-store.ts";
import { S3BlobStore, type S3Options } from "./s3.ts";
import type { ManifestEntry, ModelArtifact, ModelScope } from "./types.ts";

// Generous for a loaded shared machine; the whole file normally runs in about a second.
setDefaultTimeout(30_000);

const lookback = 12;
const horizon = 6;
const sine = (() => {
  const rng = sfc32(3);
  return Float64Array.from({ length: 120 }, (_, i) => 800 + 200 * Math.sin(i / 5) + 5 * rng.normal());
})();

// A tiny model trained for 2 epochs: the store tests need real ONNX bytes, not a good model.
let trained: TrainResult;
function artifact(scope: ModelScope, version: string, seed = 1): ModelArtifact {
  const result = seed === 1 ? trained : train(sine, { lookback, horizon, hidden: 4, epochs: 1, seed });
  return artifactFromTraining(result, sine, { scope, version });
}

function entry(version: string, promoted: boolean, reason = "test"): ManifestEntry {
  return {
    version,
    at: new Date().toISOString(),
    promoted,
    reason,
    metrics: { mae: 1, rmse: 2, persistenceRmse: 3, skill: 1 / 3, origins: 4 },
  };
}

async function expectError(promise: Promise<unknown>, code: PipelineError["code"], pattern: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PipelineError);
  expect((error as PipelineError).code).toBe(code);
  expect((error as PipelineError).message).toMatch(pattern);
}

beforeAll(() => {
  trained = train(sine, { lookback, horizon, hidden: 4, epochs: 2, head: "direct" });
});

describe("versions and scopes", () => {
  test("a retrained version names its training range in compact UTC", () => {
    const v = versionForRange(new Date("2025-01-01T00:00:00.400Z"), new Date("2025-01-01T00:10:00Z"));
    expect(v).toBe("20250101T000000Z-20250101T001000Z");
    expect(parseVersion(v)).toEqual({
      from: new Date("2025-01-01T00:00:00Z"),
      to: new Date("2025-01-01T00:10:00Z"),
    });
    expect(parseVersion("initial")).toBeNull();
    expect(() => parseVersion("../../etc")).toThrow(PipelineError);
  });

  test("scopes are sensor ids or shared", () => {
    expect(parseScope("shared")).toBe("shared");
    expect(parseScope("17")).toBe(17);
    expect(parseScope("017")).toBeNull();
    expect(parseScope("x")).toBeNull();
  });
});

/** The whole contract, run once per backend. */
function storeSuite(name: string, openBlobs: () => Promise<BlobStore>) {
  describe(`ModelStore on ${name}`, () => {
    let blobs: BlobStore;
    let store: ModelStore;
    beforeAll(async () => {
      blobs = await openBlobs();
      store = new ModelStore(blobs, 3);
    });
    afterAll(() => store.close());

    test("put/get: a saved version loads back identical and verified", async () => {
      const a = artifact(2, initialVersion);
      await store.saveVersion(a);
      const loaded = await store.loadVersion(2, initialVersion);
      expect(loaded.meta).toEqual(a.meta);
      expect(sha256Hex(loaded.onnx)).toBe(a.meta.onnxSha256);
      expect(loaded.scaler).toEqual(a.scaler);
      expect(loaded.meta.metrics.persistenceRmse).toBeGreaterThan(0);
      // The stored graph forecasts what the TypeScript model does (scaler folded in: watts in, watts out).
      const model = await openForecaster(loaded);
      const recent = sine.subarray(sine.length - lookback);
      const onnx = await model.forecast(Float32Array.from(recent), 1, horizon);
      const ts = forecast(trained, recent);
      for (let h = 0; h < horizon; h++) expect(Math.abs(onnx[h]! - ts[h]!)).toBeLessThan(1e-2);
      await model.release();
    });

    test("version layout: {device}/{version}/model.onnx + scaler.json + meta.json", async () => {
      const v = versionForRange(new Date("2025-01-01T00:00:00Z"), new Date("2025-01-01T00:10:00Z"));
      await store.saveVersion(artifact(2, v));
      await store.saveVersion(artifact("shared", initialVersion));
      // The manifest is written by the save itself: it carries the version's hashes (the root of trust).
      expect(await blobs.list("2/")).toEqual([`${v}/`, "initial/", "manifest.json"]);
      expect(await blobs.list(`2/${v}/`)).toEqual(["meta.json", "model.onnx", "scaler.json"]);
      expect(await store.listVersions(2)).toEqual([initialVersion, v]);
      // s3rver prunes directories two levels below a delimiter listing's prefix, so its top-level listing
      // only sees devices with an object one level down: the manifest, which train and retrain always write.
      await store.recordDecision(2, entry(initialVersion, true));
      await store.recordDecision("shared", entry(initialVersion, true));
      expect(await store.listScopes()).toEqual([2, "shared"]);
    });

    test("versions are immutable: same bytes is a no-op, other bytes need overwrite", async () => {
      await store.saveVersion(artifact(2, initialVersion));
      const other = artifact(2, initialVersion, 9);
      await expectError(store.saveVersion(other), "storage", /already exists/);
      await store.saveVersion(other, { overwrite: true });
      expect((await store.loadVersion(2, initialVersion)).meta.onnxSha256).toBe(other.meta.onnxSha256);
      await store.saveVersion(artifact(2, initialVersion), { overwrite: true });
    });

    test("manifest: promotion, a rejected candidate keeps the serving version, bounded history", async () => {
      expect(await store.readManifest(3)).toBeNull();
      expect(await store.loadPromoted(3)).toBeNull();
      await store.saveVersion(artifact(3, initialVersion));
      let manifest = await store.recordDecision(3, entry(initialVersion, true, "initial model"));
      expect(manifest.promoted).toBe(initialVersion);
      const v1 = versionForRange(new Date("2025-01-01T00:00:00Z"), new Date("2025-01-01T00:10:00Z"));
      await store.saveVersion(artifact(3, v1));
      manifest = await store.recordDecision(3, entry(v1, false, "rmse 9 ≥ persistence 3"));
      expect(manifest.promoted).toBe(initialVersion);
      manifest = await store.recordDecision(3, entry(v1, true));
      expect(manifest.promoted).toBe(v1);
      expect((await store.loadPromoted(3))?.meta.version).toBe(v1);
      for (let i = 0; i < 3; i++) manifest = await store.recordDecision(3, entry(v1, false, `no ${i}`));
      const read = await store.readManifest(3);
      expect(read).toEqual(manifest);
      expect(read?.history.map((e) => e.reason)).toEqual(["no 0", "no 1", "no 2"]);
      expect(read?.promoted).toBe(v1);
    });

    test("promoting a version that was never saved is refused", async () => {
      await expectError(
        store.recordDecision(4, entry(initialVersion, true)),
        "not-found",
        /not a stored, verified version/,
      );
      expect(await store.readManifest(4)).toBeNull();
    });

    test("missing version → not-found", async () => {
      await expectError(store.loadVersion(5, initialVersion), "not-found", /5\/initial\/ does not exist/);
    });

    test("truncated model.onnx → model error, the previous model keeps serving", async () => {
      await store.saveVersion(artifact(6, initialVersion));
      const bytes = (await blobs.get("6/initial/model.onnx"))!;
      await blobs.put("6/initial/model.onnx", bytes.subarray(0, bytes.length - 100));
      await expectError(
        store.loadVersion(6, initialVersion),
        "model",
        /truncated.*previous model keeps serving/,
      );
    });

    test("corrupted model.onnx (same size) → model error on its SHA-256", async () => {
      await store.saveVersion(artifact(7, initialVersion));
      const bytes = (await blobs.get("7/initial/model.onnx"))!.slice();
      bytes[bytes.length >> 1]! ^= 0xff;
      await blobs.put("7/initial/model.onnx", bytes);
      await expectError(store.loadVersion(7, initialVersion), "model", /SHA-256.*corrupt/);
      await store.recordDecision(7, { ...entry(initialVersion, true) });
      await expectError(store.loadPromoted(7), "model", /previous model keeps serving/);
    });

    test("unparsable meta.json or scaler.json, missing model.onnx, wrong shape → model error", async () => {
      await store.saveVersion(artifact(8, initialVersion));
      await expectError(
        store.loadVersion(8, initialVersion, { lookback: 60 }),
        "model",
        /lookback 12, expected 60/,
      );
      await blobs.put("8/initial/scaler.json", new TextEncoder().encode('{"kind":"minmax"'));
      await expectError(
        store.loadVersion(8, initialVersion),
        "model",
        /scaler\.json does not match the manifest/,
      );
      await blobs.put("8/initial/meta.json", new TextEncoder().encode('{"scope":8}'));
      await expectError(store.loadVersion(8, initialVersion), "model", /meta\.json/);
      await store.saveVersion(artifact(9, initialVersion));
      await blobs.put("9/initial/meta.json", new TextEncoder().encode("{}"));
      await expectError(store.loadVersion(9, initialVersion), "model", /meta\.json has SHA-256.*tampered/);
    });

    test("a model.onnx swapped together with a meta.json whose hash was edited to match does not load", async () => {
      await store.saveVersion(artifact(10, initialVersion));
      const other = artifact(10, initialVersion, 9);
      // The attacker's pair is self-consistent: meta.json names the new model's size and SHA-256.
      await blobs.put("10/initial/model.onnx", other.onnx);
      await blobs.put(
        "10/initial/meta.json",
        new TextEncoder().encode(`${JSON.stringify(other.meta, null, 2)}\n`),
      );
      await expectError(store.loadVersion(10, initialVersion), "model", /manifest says.*tampered/);
    });

    test("a version whose save never reached the manifest is not servable", async () => {
      const a = artifact(11, initialVersion);
      // Objects written as an interrupted save leaves them: everything but the manifest's record.
      await blobs.put("11/initial/model.onnx", a.onnx);
      await blobs.put("11/initial/scaler.json", new TextEncoder().encode(JSON.stringify(a.scaler)));
      await blobs.put("11/initial/meta.json", new TextEncoder().encode(JSON.stringify(a.meta)));
      await expectError(store.loadVersion(11, initialVersion), "model", /not recorded in 11\/manifest\.json/);
      await expectError(store.recordDecision(11, entry(initialVersion, true)), "not-found", /verified/);
      // Saving it again (the retry of the interrupted save) completes it.
      await store.saveVersion(a);
      expect((await store.loadVersion(11, initialVersion)).meta.onnxSha256).toBe(a.meta.onnxSha256);
    });

    test("writes retry with backoff while the store fails, and a save that never succeeds records nothing", async () => {
      const inner = await openBlobs();
      let failures = 3;
      const flaky: BlobStore = {
        location: inner.location,
        get: (key) => inner.get(key),
        list: (prefix) => inner.list(prefix),
        close: () => inner.close(),
        async put(key, bytes, type) {
          if (failures-- > 0) throw new PipelineError("storage", `injected outage writing ${key}`);
          await inner.put(key, bytes, type);
        },
      };
      const retrying = new ModelStore(flaky, 50, { attempts: 5, baseMs: 1 });
      await retrying.saveVersion(artifact(12, initialVersion));
      expect((await retrying.loadVersion(12, initialVersion)).meta.version).toBe(initialVersion);
      failures = 1_000;
      const v = versionForRange(new Date("2025-01-01T00:00:00Z"), new Date("2025-01-01T00:10:00Z"));
      await expectError(retrying.saveVersion(artifact(12, v)), "storage", /injected outage/);
      expect((await retrying.readManifest(12))?.versions?.[v]).toBeUndefined();
      await expectError(retrying.loadVersion(12, v), "not-found", /does not exist/);
    });
  });
}

const tempDirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

let server: S3rver | undefined;
let s3: S3Options;
beforeAll(async () => {
  server = new S3rver({ port: 0, address: "127.0.0.1", directory: await tempDir("s3rver-"), silent: true });
  const { port } = await server.run();
  s3 = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: "energy-models-test",
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
});
afterAll(() => server?.close());

/**
 * s3rver answers a PUT once it has consumed the request body, before its file write has finished
 * (lib/stores/filesystem.js `putObject` resolves on the Transform's finish, not the write stream's), so a GET
 * right after may read a short object. S3 and RustFS are read-after-write consistent, so rather than slow the
 * store down for a test server, the tests wait here until s3rver has caught up.
 */
function readAfterWrite(blobs: BlobStore): BlobStore {
  return {
    location: blobs.location,
    get: (key) => blobs.get(key),
    list: (prefix) => blobs.list(prefix),
    close: () => blobs.close(),
    async put(key, bytes, contentType) {
      await blobs.put(key, bytes, contentType);
      for (let attempt = 0; attempt < 200; attempt++) {
        if ((await blobs.get(key))?.byteLength === bytes.byteLength) return;
        await Bun.sleep(5);
      }
      throw new Error(`s3rver never showed the ${bytes.byteLength} bytes written to ${key}`);
    },
  };
}

storeSuite("S3 (s3rver on loopback)", async () => readAfterWrite(await S3BlobStore.open(s3)));

describe("S3 outage during a save (s3rver stopped and restarted)", () => {
  test("the upload retries with backoff until the server is back; nothing is servable before the manifest", async () => {
    const dir = await tempDir("s3rver-outage-");
    const first = new S3rver({ port: 0, address: "127.0.0.1", directory: dir, silent: true });
    const { port } = await first.run();
    const options = { ...s3, endpoint: `http://127.0.0.1:${port}`, bucket: "outage-test" };
    const store = new ModelStore(readAfterWrite(await S3BlobStore.open(options)), 50, {
      attempts: 8,
      baseMs: 100,
    });
    await first.close();
    // Down now: the save starts, fails, backs off (100, 200, 400, 800 ms …) while the server restarts.
    const saving = store.saveVersion(artifact(13, initialVersion));
    await Bun.sleep(500);
    const second = new S3rver({ port, address: "127.0.0.1", directory: dir, silent: true });
    await second.run();
    try {
      await saving;
      expect((await store.loadVersion(13, initialVersion)).meta.version).toBe(initialVersion);
      expect(Object.keys((await store.readManifest(13))?.versions ?? {})).toEqual([initialVersion]);
    } finally {
      await store.close();
      await second.close();
    }
  });
});
storeSuite("a local directory", async () => LocalBlobStore.open(await tempDir("models-")));

describe("S3 backend specifics", () => {
  test("opening creates the bucket, and opening again is fine (idempotent)", async () => {
    const options = { ...s3, bucket: "idempotent-bucket" };
    const a = await ModelStore.open({ s3: options });
    const b = await ModelStore.open({ s3: options });
    expect(await b.listScopes()).toEqual([]);
    await a.close();
    await b.close();
  });

  test("an unknown access key → auth error naming the env vars", async () => {
    await expectError(
      ModelStore.open({ s3: { ...s3, accessKeyId: "NOBODY" } }),
      "auth",
      /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/,
    );
  });

  test("a server that is down → storage error naming S3_ENDPOINT", async () => {
    await expectError(
      ModelStore.open({ s3: { ...s3, endpoint: "http://127.0.0.1:1" } }),
      "storage",
      /ECONNREFUSED.*S3_ENDPOINT/,
    );
  });

  test("a bad bucket name → config error", async () => {
    await expectError(ModelStore.open({ s3: { ...s3, bucket: "Bad_Bucket" } }), "config", /S3_BUCKET/);
  });
});

describe("local backend specifics", () => {
  test("writes leave no temp files and keys cannot escape the directory", async () => {
    const dir = await tempDir("models-");
    const blobs = await LocalBlobStore.open(dir);
    await blobs.put("1/initial/meta.json", new Uint8Array([1, 2, 3]));
    await blobs.put("1/initial/meta.json", new Uint8Array([4]));
    expect(await readdir(join(dir, "1/initial"))).toEqual(["meta.json"]);
    expect(await blobs.get("1/initial/meta.json")).toEqual(new Uint8Array([4]));
    expect(await blobs.get("1/initial/none.json")).toBeNull();
    await expectError(blobs.get("../outside"), "validation", /not a relative/);
    await expectError(blobs.put("/abs", new Uint8Array(1)), "validation", /not a relative/);
  });
});
