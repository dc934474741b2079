/**
 * The model store on S3-compatible storage through @aws-sdk/client-s3: RustFS in the compose stack, AWS S3
 * or anything speaking the S3 API. Path-style addressing (`http://host:9000/bucket/key`) because
 * self-hosted servers rarely have the wildcard DNS that virtual-hosted buckets need.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { PipelineError } from "@energy/contracts/errors.ts";
import { type BlobStore, isValidKey } from "./blob.ts";

export interface S3Options {
  /** e.g. `http://127.0.0.1:9000` (RustFS) */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const authErrors = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "InvalidSecurity",
  "ExpiredToken",
  "InvalidToken",
  "AuthorizationHeaderMalformed",
]);
const missingErrors = new Set(["NoSuchKey", "NotFound", "NoSuchBucket"]);

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * A bucket as a blob store. The bucket is created at `open` when it does not exist (idempotent: two
 * processes racing to create it both succeed).
 *
 * @example
 * const blobs = await S3BlobStore.open({ endpoint: "http://127.0.0.1:9000", bucket: "energy-models",
 *   region: "us-east-1", accessKeyId: "rustfsadmin", secretAccessKey: "rustfsadmin" });
 */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;

  private constructor(client: S3Client, options: S3Options) {
    this.client = client;
    this.bucket = options.bucket;
    this.location = `s3://${options.bucket} at ${options.endpoint}`;
  }

  static async open(options: S3Options): Promise<S3BlobStore> {
    let endpoint: URL;
    try {
      endpoint = new URL(options.endpoint);
    } catch {
      throw new PipelineError("config", `S3_ENDPOINT "${options.endpoint}" is not a URL`, {
        hint: "e.g. http://127.0.0.1:9000",
      });
    }
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new PipelineError("config", `S3_ENDPOINT "${options.endpoint}" is not an http(s):// URL`);
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new PipelineError("config", `S3_BUCKET "${options.bucket}" is not a valid bucket name`, {
        hint: "3–63 lowercase letters, digits, dots and hyphens",
      });
    }
    if (!options.accessKeyId || !options.secretAccessKey) {
      throw new PipelineError("auth", `no S3 credentials for ${options.endpoint}`, {
        hint: "set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY",
      });
    }
    const client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: true,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // The SDK's default CRC32 checksums (since 3.729) are not understood by every S3-compatible server
      // (s3rver ignores them, older MinIO/RustFS builds reject the trailers); our own SHA-256 in meta.json
      // is what guards the model bytes.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Two attempts and short timeouts: a store that is down should fail a load within seconds (the
      // previous model keeps serving), not hang a retrain for minutes.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 30_000 },
    });
    const store = new S3BlobStore(client, options);
    try {
      await store.ensureBucket();
    } catch (error) {
      client.destroy();
      throw error;
    }
    return store;
  }

  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      if (statusOf(error) !== 404 && !missingErrors.has((error as Error)?.name)) {
        throw this.wrap(error, `check bucket ${this.bucket}`);
      }
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === "BucketAlreadyOwnedByYou" || name === "BucketAlreadyExists") return;
      throw this.wrap(error, `create bucket ${this.bucket}`);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    this.checkKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) return new Uint8Array(0);
      return await out.Body.transformToByteArray();
    } catch (error) {
      if (statusOf(error) === 404 || missingErrors.has((error as Error)?.name)) return null;
      throw this.wrap(error, `get ${key}`);
    }
  }

  async put(key: string, bytes: Uint8Array, contentType = "application/octet-stream"): Promise<void> {
    this.checkKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: contentType,
          ContentLength: bytes.byteLength,
        }),
      );
    } catch (error) {
      throw this.wrap(error, `put ${key}`);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: "/",
            ContinuationToken: token,
          }),
        );
        for (const p of out.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(prefix.length));
        for (const o of out.Contents ?? [])
          if (o.Key && o.Key !== prefix) names.push(o.Key.slice(prefix.length));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.wrap(error, `list ${prefix || "/"}`);
    }
    return names.sort();
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private checkKey(key: string): void {
    if (!isValidKey(key)) {
      throw new PipelineError("validation", `model store key "${key}" is not a relative /-separated path`);
    }
  }

  /** Maps SDK and network errors to our codes, with the way out in the hint. */
  private wrap(error: unknown, action: string): PipelineError {
    const name = (error as Error)?.name ?? "Error";
    const status = statusOf(error);
    const detail = `${name}${status ? ` (HTTP ${status})` : ""}: ${(error as Error)?.message ?? String(error)}`;
    if (authErrors.has(name) || status === 401 || status === 403) {
      return new PipelineError("auth", `S3 refused to ${action} in ${this.location}: ${detail}`, {
        hint: "check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (for RustFS: the access key pair it was started with)",
        cause: error,
      });
    }
    if (missingErrors.has(name) || status === 404) {
      return new PipelineError("not-found", `S3 could not ${action} in ${this.location}: ${detail}`, {
        cause: error,
      });
    }
    const network = !(error instanceof S3ServiceException);
    return new PipelineError("storage", `S3 could not ${action} in ${this.location}: ${detail}`, {
      hint: network
        ? "is the S3 server at S3_ENDPOINT running and reachable? (compose: the rustfs service)"
        : "the S3 server answered with an error; see its logs",
      cause: error,
    });
  }
}
