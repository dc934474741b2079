import { fileURLToPath } from "node:url";

/** The SQL drizzle-kit generated from `schema.ts` (`bun run db:generate`), applied in order at start-up. */
export const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url));
