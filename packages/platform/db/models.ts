/**
 * The model registry table: one row per trained version (packages/contracts/db/schema.ts `models`). Training runs in ml/;
 * what it records goes through here.
 */

import { models } from "@energy/contracts/db/schema.ts";
import type { Db } from "./client.ts";
import { excludedSet } from "./unnest.ts";

export type ModelInsert = typeof models.$inferInsert;

/** Records a trained version; recording the same (sensor, version) again replaces its row but keeps `created_at`. */
export async function saveModel(db: Db, row: ModelInsert): Promise<void> {
  await db
    .insert(models)
    .values(row)
    .onConflictDoUpdate({
      target: [models.sensorId, models.version],
      set: excludedSet(models, ["sensorId", "version", "createdAt"]),
    });
}
