/**
 * The window store writer: consumes the windows log and upserts each window into PostgreSQL (embedded
 * PGlite or a real server). A failed write (connection lost, server down) throws, so the log redelivers the
 * batch instead of dropping it. A window PostgreSQL refuses for its data (packages/platform/db/isolate.ts) is isolated,
 * dead-lettered with PostgreSQL's reason and counted; the rest of its batch is stored, so one bad row can
 * never block every later window.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import type { RecordLog, Subscription } from "@energy/logs/log.ts";
import type { Db } from "@energy/platform/db/client.ts";
import { describeDbError } from "@energy/platform/db/isolate.ts";
import { saveWindows } from "@energy/platform/db/store.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { CoreMetrics } from "@energy/platform/metrics.ts";
import type { DeadLetterSink } from "./dead-letters.ts";
import { createWriteHealth, type WriteHealth } from "./write-health.ts";

export interface WindowStoreOptions {
  windowsLog: RecordLog<WindowRecord>;
  db: Db;
  metrics: CoreMetrics;
  deadLetters: DeadLetterSink;
  logger: Logger;
  /** The writer counts as stuck once its oldest unwritten window waited this long (default 30 s). */
  stuckAfterMs?: number;
  subscription?: string;
}

export interface WindowStore extends Subscription {
  readonly health: WriteHealth;
}

const encoder = new TextEncoder();

export function startWindowStore(options: WindowStoreOptions): WindowStore {
  const { db, metrics, logger, deadLetters } = options;
  const health = createWriteHealth(options.stuckAfterMs ?? 30_000);
  const subscription = options.windowsLog.subscribe(options.subscription ?? "window-store", async (batch) => {
    health.pending();
    let refused: Awaited<ReturnType<typeof saveWindows>>;
    try {
      refused = await saveWindows(
        db,
        batch.map((m) => m.value),
      );
    } catch (error) {
      metrics.storeErrors.inc({ sink: "windows" });
      const reason = describeDbError(error);
      health.failed(reason);
      throw new PipelineError("storage", `cannot store ${batch.length} windows: ${reason}`, {
        hint: "retried; check that PostgreSQL is up (DATABASE_URL)",
        cause: error,
      });
    }
    const now = Date.now();
    for (const { row, reason } of refused) {
      metrics.storeRejects.inc({ sink: "windows" });
      logger.error(
        `PostgreSQL refused the window of sensor ${row.sensorId} at ${row.windowStartMs}: ${reason}; dead-lettered, the rest of the batch is stored`,
      );
      deadLetters.put({
        source: `window-store/sensor/${row.sensorId}`,
        reason: "store_rejected",
        detail: reason,
        raw: encoder.encode(JSON.stringify(row)),
        receivedAtMs: now,
      });
    }
    metrics.windowsStored.inc(batch.length - refused.length);
    for (const m of batch) m.ack();
    // Measured per batch: the next one starts its own clock (the log's backlog is its own metric).
    health.caughtUp(false);
  });
  // Delegation, not a spread: a Pulsar subscription keeps its methods on a class prototype.
  return {
    health,
    pause: () => subscription.pause(),
    stop: () => subscription.stop(),
    backlog: () => subscription.backlog(),
  };
}
