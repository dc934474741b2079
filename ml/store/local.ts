/**
 * The model store's embedded backend: objects are files under one directory (default `data/models`), the
 * key being the relative path. Used when no S3 endpoint is configured, so `bun run ml train` and the
 * forecaster work on a laptop with nothing else installed.
 */
import type { Dirent } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { type BlobStore, isValidKey } from "./blob.ts";

export const defaultModelDir = "data/models";

// Temp files carry this marker so a listing never reports a half-written object as a child.
const tempMarker = ".tmp-";

function checkKey(key: string): void {
  if (!isValidKey(key)) {
    throw new PipelineError("validation", `model store key "${key}" is not a relative /-separated path`);
  }
}

/**
 * A directory as a blob store. Writes go to a temp file in the same directory and are renamed over the
 * target: rename is atomic on POSIX file systems, so a crash mid-write leaves the old object (or none),
 * never a truncated model.onnx that a reader would pick up.
 *
 * @example
 * const blobs = await LocalBlobStore.open("data/models");
 * await blobs.put("2/initial/meta.json", new TextEncoder().encode("{}"));
 */
export class LocalBlobStore implements BlobStore {
  readonly location: string;
  private readonly root: string;

  private constructor(root: string) {
    this.root = root;
    this.location = `file://${root}`;
  }

  static async open(dir: string = defaultModelDir): Promise<LocalBlobStore> {
    const root = resolve(dir);
    try {
      await mkdir(root, { recursive: true });
    } catch (cause) {
      throw new PipelineError("storage", `cannot create the model directory ${root}: ${String(cause)}`, {
        hint: "set MODEL_DIR (--model-dir) to a writable directory, or S3_ENDPOINT to use S3",
        cause,
      });
    }
    return new LocalBlobStore(root);
  }

  async get(key: string): Promise<Uint8Array | null> {
    checkKey(key);
    const file = Bun.file(join(this.root, key));
    try {
      return await file.bytes();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException)?.code === "ENOENT") return null;
      throw new PipelineError("storage", `cannot read ${join(this.root, key)}: ${String(cause)}`, { cause });
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    const target = join(this.root, key);
    const temp = `${target}${tempMarker}${process.pid}-${crypto.randomUUID()}`;
    try {
      await mkdir(dirname(target), { recursive: true });
      await Bun.write(temp, bytes);
      await rename(temp, target);
    } catch (cause) {
      await rm(temp, { force: true }).catch(() => {});
      throw new PipelineError("storage", `cannot write ${target}: ${String(cause)}`, {
        hint: "check free space and permissions of MODEL_DIR",
        cause,
      });
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (prefix !== "") checkKey(prefix.replace(/\/$/, ""));
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.root, prefix), { withFileTypes: true });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException)?.code === "ENOENT") return [];
      throw new PipelineError("storage", `cannot list ${join(this.root, prefix)}: ${String(cause)}`, {
        cause,
      });
    }
    return entries
      .filter((e) => !e.name.includes(tempMarker))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort();
  }

  async close(): Promise<void> {}
}
