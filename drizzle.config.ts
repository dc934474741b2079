import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./packages/contracts/db/schema.ts",
  out: "./packages/contracts/db/migrations",
});
