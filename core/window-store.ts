/**
 * The window store: upserts the windower's emissions into PostgreSQL (embedded PGlite or a real server),
 * called by the windower stage beside its publish to the windows log (core/windower.ts), the way a stream
 * job writes its own sink. Why not a consumer of the windows log: on Pulsar that is a second trip through
 * the broker, and the WebSocket consumer takes one frame per window, so the 10,000 windows that fill within
 * the last second of a minute reached PostgreSQL ~1 s late (bench ab on Pulsar, full windows p99 762 ms
 * after window end against −520 ms in process). The windows topic stays the relay for the forecaster and
 * any other Pulsar client.
 *
 * A failed write (connection lost, server down) throws, and the windower retries it: the readings behind a
 * window are acked only once it is stored, so nothing is lost meanwhile (a durable readings log keeps them;
 * the in-process one pushes back to the bridge, and the bridge to the MQTT broker). A window PostgreSQL
 * refuses for its data (packages/platform/db/isolate.ts) is isolated, dead-lettered with PostgreSQL's reason
 * and counted; the rest of its batch is stored, so one bad row can never block every later window.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import type { WindowRecord } from "@energy/contracts/records.ts";
import type { Db } from "@energy/platform/db/client.ts";
import { describeDbError } from "@energy/platform/db/isolate.ts";
import { saveWindows } from "@energy/platform/db/store.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { CoreMetrics } from "@energy/platform/metrics.ts";
import type { DeadLetterSink } from "./dead-letters.ts";
import { createWriteHealth, type WriteHealth } from "./write-health.ts";

export interface WindowStoreOptions {
  db: Db;
  metrics: CoreMetrics;
  deadLetters: DeadLetterSink;
  logger: Logger;
  /** The writer counts as stuck once its oldest unwritten window waited this long (default 30 s). */
  stuckAfterMs?: number;
}

/** Where the windower stage stores what it emits. */
export interface WindowSink {
  /**
   * Upserts the windows (the last emission of a window wins; an emission with fewer readings than the
   * stored row never replaces it). Throws a `storage` PipelineError when the database cannot be written:
   * the caller retries the same windows.
   */
  save(windows: readonly WindowRecord[]): Promise<void>;
}

export interface WindowStore extends WindowSink {
  readonly health: WriteHealth;
}

const encoder = new TextEncoder();

export function createWindowStore(options: WindowStoreOptions): WindowStore {
  const { db, metrics, logger, deadLetters } = options;
  const health = createWriteHealth(options.stuckAfterMs ?? 30_000);
  return {
    health,
    async save(windows) {
      if (windows.length === 0) return;
      health.pending();
      let refused: Awaited<ReturnType<typeof saveWindows>>;
      try {
        refused = await saveWindows(db, windows);
      } catch (error) {
        metrics.storeErrors.inc({ sink: "windows" });
        const reason = describeDbError(error);
        health.failed(reason);
        throw new PipelineError("storage", `cannot store ${windows.length} windows: ${reason}`, {
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
      metrics.windowsStored.inc(windows.length - refused.length);
      // The windower calls it one emission after another, so nothing else waits when a write ends.
      health.caughtUp(false, now);
    },
  };
}
