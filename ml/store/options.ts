/**
 * The model store's options, declared once for every command that opens it (`ml train`, `ml retrain`, the
 * forecaster). Real S3 is used the moment S3_ENDPOINT is set; otherwise the local directory MODEL_DIR.
 */
import { opt, type Values } from "@energy/platform/config.ts";
import { defaultModelDir } from "./local.ts";
import type { ModelStoreOptions } from "./model-store.ts";

export const defaultBucket = "energy-models";

export const modelStoreOptions = {
  s3Endpoint: opt.url("S3-compatible endpoint of the model store (RustFS, S3); unset = local --model-dir", {
    env: "S3_ENDPOINT",
    protocols: ["http:", "https:"],
  }),
  s3Bucket: opt.string("bucket of the model store (created when missing)", {
    env: "S3_BUCKET",
    default: defaultBucket,
  }),
  s3Region: opt.string("S3 region (any value for RustFS)", { env: "S3_REGION", default: "us-east-1" }),
  s3AccessKeyId: opt.string("S3 access key id", { env: "S3_ACCESS_KEY_ID" }),
  s3SecretAccessKey: opt.string("S3 secret access key (prefer the env var: flags show in ps)", {
    env: "S3_SECRET_ACCESS_KEY",
  }),
  modelDir: opt.string("directory of the local model store, used when S3_ENDPOINT is unset", {
    env: "MODEL_DIR",
    default: defaultModelDir,
  }),
};

/**
 * Plain (serialisable) store options from parsed values: what `ModelStore.open` takes, also across a Worker
 * boundary.
 *
 * @example
 * const store = await ModelStore.open(modelStoreConfig(values));
 */
export function modelStoreConfig(values: Values<typeof modelStoreOptions>): ModelStoreOptions {
  if (!values.s3Endpoint) return { localDir: values.modelDir };
  return {
    s3: {
      // URL.href adds a trailing slash to a bare origin; the SDK joins paths itself.
      endpoint: values.s3Endpoint.href.replace(/\/$/, ""),
      bucket: values.s3Bucket,
      region: values.s3Region,
      accessKeyId: values.s3AccessKeyId ?? "",
      secretAccessKey: values.s3SecretAccessKey ?? "",
    },
  };
}
