/**
 * Creates and migrates an embedded PGlite database directory, run as a child process by openDatabase on
 * first start. PGlite's initdb runs synchronously in WebAssembly: in the caller's process it blocked the
 * event loop for 10–70 s (the demo's start-up "stalls") and grew the heap to ~1 GB that the WebAssembly
 * memory never gives back. In a child both end when it exits.
 *
 * Usage: bun packages/platform/db/create-pglite.ts DIR   (exit 0 once DIR holds a migrated database)
 */
import { PGlite } from "@electric-sql/pglite";
import { migrationsFolder } from "@energy/contracts/db/migrations.ts";
import * as schema from "@energy/contracts/db/schema.ts";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { embeddedConfig } from "./client.ts";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: bun packages/platform/db/create-pglite.ts DIR\n");
  process.exit(2);
}
try {
  const client = await PGlite.create(dir, embeddedConfig);
  await migrate(drizzle(client, { schema }), { migrationsFolder });
  await client.close();
} catch (error) {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
}
process.exit(0);
