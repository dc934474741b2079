/**
 * The window store writer: consumes the windows log and upserts each window into PostgreSQL (embedded
 * PGlite or a real server). Failed writes throw, so the log redelivers the batch instead of dropping it.
 */
import type { Db } from "../lib/db/client.ts";
import { saveWindows } from "../lib/db/store.ts";
import type { CoreMetrics } from "../lib/metrics.ts";
import type { WindowRecord } from "../lib/records.ts";
import type { RecordLog, Subscription } from "./log.ts";

export function startWindowStore(
  windowsLog: RecordLog<WindowRecord>,
  db: Db,
  metrics: CoreMetrics,
  subscription = "window-store",
): Subscription {
  return windowsLog.subscribe(subscription, async (batch) => {
    try {
      await saveWindows(
        db,
        batch.map((m) => m.value),
      );
    } catch (error) {
      metrics.storeErrors.inc({ sink: "windows" });
      throw error;
    }
    metrics.windowsStored.inc(batch.length);
    for (const m of batch) m.ack();
  });
}
