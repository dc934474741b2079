/**
 * The byte layer under the model store: a flat key space of immutable-ish objects, with two backends —
 * S3-compatible storage (`s3.ts`: RustFS in the compose stack, AWS S3, s3rver in tests) and a local
 * directory (`local.ts`, the embedded default). The model store only needs these four operations, so a
 * backend stays a page long and the store's logic is tested once against both.
 */

export interface BlobStore {
  /** Where the objects live, for logs and error messages (no credentials), e.g. `s3://energy-models@http://127.0.0.1:9000`. */
  readonly location: string;
  /** The object's bytes, or null when there is no such key. */
  get(key: string): Promise<Uint8Array | null>;
  /** Writes the whole object; a reader sees either the old bytes or the new ones, never a prefix. */
  put(key: string, bytes: Uint8Array, contentType?: string): Promise<void>;
  /**
   * Immediate children of `prefix` (which is "" or ends with "/"): sub-prefixes end with "/", objects do not.
   * Names are relative to `prefix`, sorted.
   */
  list(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Keys are `/`-separated relative paths without empty, `.` or `..` segments (they become file paths locally). */
export function isValidKey(key: string): boolean {
  if (key.length === 0 || key.length > 1024 || key.startsWith("/") || key.includes("\\")) return false;
  return key.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}
