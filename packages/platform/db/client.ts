/**
 * Opens the product's PostgreSQL database: a real server through postgres.js when `DATABASE_URL` is set,
 * otherwise an embedded PGlite stored under `./data/pglite` (or in memory). Both run the same drizzle
 * schema and migrations, applied at start-up; tables are never dropped.
 */
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import { migrationsFolder } from "@energy/contracts/db/migrations.ts";
import * as schema from "@energy/contracts/db/schema.ts";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  readonly db: Db;
  readonly kind: "postgres" | "pglite";
  /** Where it lives, for logs (password stripped). */
  readonly location: string;
  /** Cheap liveness probe for /ready. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * PGlite settings. PostgreSQL's default 128 MB shared_buffers are touched as tables are read and stay
 * resident in the WebAssembly memory: 16 MB cut the demo's database from ~280 MB to ~150 MB RSS, and one
 * process (the only user of an embedded database) needs no larger cache.
 */
export const embeddedConfig = { postgresqlconf: ["shared_buffers=16MB"] };

export interface OpenOptions {
  /** postgres:// URL of a real server; when absent the embedded PGlite is used. */
  url?: URL | undefined;
  /** PGlite data directory; `memory://` for a throw-away database. */
  embeddedDir?: string;
  /** Progress of slow steps (creating the embedded database takes 10–70 s on first start), for banners. */
  onProgress?: (message: string) => void;
}

/** Opens and migrates the database. Throws PipelineError("connection") with the URL (no password). */
export async function openDatabase(options: OpenOptions = {}): Promise<Database> {
  if (options.url) return openPostgres(options.url);
  return openPglite(options.embeddedDir ?? "./data/pglite", options.onProgress);
}

/**
 * Creates a new PGlite directory in a child process (see create-pglite.ts for why), in a sibling directory
 * renamed into place at the end: a start interrupted during the long initdb leaves no half-made database
 * that the next start would take for a corrupt one.
 */
async function createPgliteDir(dir: string): Promise<void> {
  const script = fileURLToPath(new URL("./create-pglite.ts", import.meta.url));
  const staging = `${dir}.creating-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const child = Bun.spawn([process.execPath, script, staging], { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  if (code !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`creating the database failed (exit ${code}): ${stderr.trim()}`);
  }
  await rename(staging, dir);
}

function redact(url: URL): string {
  const u = new URL(url.href);
  if (u.password) u.password = "***";
  return u.href;
}

// Each driver is imported when its database is opened, not with this module: a process loads PGlite
// (its WebAssembly glue and drizzle's PGlite driver) or postgres.js, never both. Not loading PGlite took
// ~2 MB off an idle core's RSS on a PostgreSQL server (77.7 → 75.4 MB, issue 15).
async function openPostgres(url: URL): Promise<Database> {
  const location = redact(url);
  const [{ default: postgres }, { drizzle: drizzlePostgres }, { migrate: migratePostgres }] =
    await Promise.all([
      import("postgres"),
      import("drizzle-orm/postgres-js"),
      import("drizzle-orm/postgres-js/migrator"),
    ]);
  // Notices ("relation already exists, skipping") from idempotent migrations are noise, not news.
  const client = postgres(url.href, { max: 4, onnotice: () => {}, connect_timeout: 10 });
  const db = drizzlePostgres(client, { schema }) as unknown as Db;
  try {
    await client`select 1`;
    await migratePostgres(drizzlePostgres(client, { schema }), { migrationsFolder });
  } catch (error) {
    await client.end({ timeout: 1 }).catch(() => {});
    throw new PipelineError("connection", `cannot open PostgreSQL at ${location}: ${String(error)}`, {
      hint: "check DATABASE_URL, or unset it to use the embedded PGlite database",
      cause: error,
    });
  }
  return {
    db,
    kind: "postgres",
    location,
    ping: async () => {
      try {
        await client`select 1`;
        return true;
      } catch {
        return false;
      }
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dir: string, onProgress?: (message: string) => void): Promise<Database> {
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  let client: PGlite;
  try {
    const inMemory = dir.startsWith("memory://");
    // PGlite creates its own directory but not its parents (`--data-dir /tmp/new/pglite` would fail).
    if (!inMemory) await mkdir(dirname(dir), { recursive: true });
    if (!inMemory && !existsSync(join(dir, "PG_VERSION"))) {
      onProgress?.(`creating the embedded database in ${dir} (first start only; 10–60 s)`);
      const started = performance.now();
      await createPgliteDir(dir);
      onProgress?.(`embedded database created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    onProgress?.(`opening the embedded database ${dir} and applying migrations`);
    client = await PGlite.create(dir, embeddedConfig);
    await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
  } catch (error) {
    throw new PipelineError("storage", `cannot open the embedded database in ${dir}: ${String(error)}`, {
      hint: "delete the directory if it is corrupt, or set DATABASE_URL to use a PostgreSQL server",
      cause: error,
    });
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    kind: "pglite",
    location: dir,
    ping: async () => !client.closed,
    close: async () => {
      if (!client.closed) await client.close();
    },
  };
}
