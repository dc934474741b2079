/**
 * The windowing stage: consumes the readings log, feeds the pure `TumblingWindower` (core/window.ts),
 * and publishes closed windows to the windows log. Late readings are counted and dead-lettered.
 */
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { CoreMetrics } from "../lib/metrics.ts";
import type { ReadingsRecord, WindowRecord } from "../lib/records.ts";
import type { DeadLetterSink } from "./dead-letters.ts";
import type { LogMessage, RecordLog, Subscription } from "./log.ts";
import { TumblingWindower, type WindowerOptions } from "./window.ts";

export interface WindowerStageOptions {
  readingsLog: RecordLog<ReadingsRecord>;
  windowsLog: RecordLog<WindowRecord>;
  deadLetters: DeadLetterSink;
  metrics: CoreMetrics;
  logger: Logger;
  window?: WindowerOptions;
  /** How often idle sensors are checked and closed windows emitted, ms. */
  tickMs?: number;
  subscription?: string;
}

export interface WindowerStage {
  /**
   * Graceful stop, in this order: stop intake (the batch in hand finishes), publish the windows, ack their
   * records, close the consumer. Acking after the close would be lost and the records redelivered.
   *
   * Which windows: on a durable readings log only those already closed. An open window's records stay
   * unacknowledged and come back to the next process, which completes the window: emitting it now would
   * store a partial minute that the restarted core's upsert then overwrites with the rest, losing the
   * first part. On the in-process log, every open window (nothing else holds its readings).
   */
  stop(): Promise<void>;
  stats(): ReturnType<TumblingWindower["stats"]>;
}

// Emission delay is only meaningful for live data; a replay of 2025 data would fill the histogram with
// year-long "delays", so observations beyond this are left out.
const liveHorizonMs = 3_600_000;
const encoder = new TextEncoder();

export function startWindowerStage(options: WindowerStageOptions): WindowerStage {
  const { metrics, logger, deadLetters, windowsLog } = options;
  const windower = new TumblingWindower(options.window);
  // A readings record is acknowledged only once every reading in it is inside a published window, so a
  // durable log (Pulsar) redelivers it after a crash instead of losing it. Kept per sensor in arrival
  // order: a sensor's windows close in order, so acks pop from the front.
  // Only the ack is kept, not the message: at 10,000 streaming sensors a minute holds 600,000 records, and
  // keeping their decoded readings alive until the window closes cost ~1 GB (bench ab). The in-process log
  // redelivers nothing, so nothing is kept for it at all.
  const retainAcks = options.readingsLog.durable;
  const unacked = new Map<number, { maxEventMs: number; ack: () => void }[]>();
  // Newest event time per sensor, for core_window_event_time_lag_seconds (meaningful for replays too).
  const newestEventMs = new Map<number, number>();
  let emitting: Promise<void> = Promise.resolve();

  const publishWindows = async (windows: WindowRecord[], now: number) => {
    if (windows.length > 0) {
      await windowsLog.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));
      metrics.windowsEmitted.inc(windows.length);
      for (const w of windows) {
        const delay = now - w.windowEndMs;
        if (delay >= 0 && delay < liveHorizonMs) metrics.windowEmitDelay.observe(delay / 1000);
        const lag = (newestEventMs.get(w.sensorId) ?? w.windowEndMs) - w.windowEndMs;
        metrics.windowEventTimeLag.observe(Math.max(0, lag) / 1000);
        if (w.maxCreatedAtMs > 0 && now - w.maxCreatedAtMs < liveHorizonMs)
          metrics.readingToWindow.observe((now - w.maxCreatedAtMs) / 1000);
      }
    }
    metrics.openWindows.set(windower.stats().openWindows);
  };

  /** Acks the records whose readings all lie before the sensor's horizon as it was when its windows drained. */
  const ackClosed = (horizons: Map<number, number>) => {
    for (const [sensorId, closedBefore] of horizons) {
      const queue = unacked.get(sensorId);
      if (!queue) continue;
      let n = 0;
      while (n < queue.length && queue[n]!.maxEventMs < closedBefore) queue[n++]!.ack();
      if (n === queue.length) unacked.delete(sensorId);
      else if (n > 0) queue.splice(0, n);
    }
  };

  const emit = (drain: (now: number) => WindowRecord[]) => {
    emitting = emitting
      .catch(() => {})
      .then(async () => {
        const now = Date.now();
        const windows = drain(now);
        // Snapshot the horizons now: readings added while we await the publish may close further windows
        // that are not in this batch, and their records must not be acknowledged yet.
        const horizons = new Map<number, number>();
        for (const w of windows) horizons.set(w.sensorId, windower.closedBefore(w.sensorId));
        // Drained windows exist nowhere else: retry until the log takes them (the log applies backpressure).
        for (let attempt = 1; ; attempt++) {
          try {
            await publishWindows(windows, now);
            break;
          } catch (error) {
            logger.error(`cannot publish windows (attempt ${attempt}); retrying`, {
              error: errorMessage(error),
              windows: windows.length,
            });
            await Bun.sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)));
          }
        }
        ackClosed(horizons);
      });
    return emitting;
  };

  const handle = async (batch: readonly LogMessage<ReadingsRecord>[]) => {
    const now = Date.now();
    for (const message of batch) {
      const record = message.value;
      let newest = newestEventMs.get(record.sensorId) ?? Number.NEGATIVE_INFINITY;
      for (const reading of record.readings) {
        if (reading.eventTimeMs > newest) newest = reading.eventTimeMs;
        const outcome = windower.add(reading, now);
        if (outcome === "late") {
          metrics.late.inc();
          deadLetters.put({
            source: `windower/sensor/${reading.sensorId}`,
            reason: "late",
            detail: `event time ${new Date(reading.eventTimeMs).toISOString()} is behind its closed window`,
            raw: encoder.encode(JSON.stringify(reading)),
            receivedAtMs: now,
          });
        } else if (outcome === "duplicate") {
          metrics.duplicates.inc();
        }
      }
      // A complete batch's watermark is event time the sensor vouched for, like a reading's.
      if (record.watermarkMs !== undefined && record.watermarkMs > newest) newest = record.watermarkMs;
      if (newest > Number.NEGATIVE_INFINITY) newestEventMs.set(record.sensorId, newest);
      if (record.watermarkMs !== undefined)
        windower.advanceWatermark(record.sensorId, record.watermarkMs, now);
      if (!retainAcks) continue;
      let maxEventMs = Number.NEGATIVE_INFINITY;
      for (const r of record.readings) if (r.eventTimeMs > maxEventMs) maxEventMs = r.eventTimeMs;
      const entry = { maxEventMs, ack: message.ack };
      const queue = unacked.get(record.sensorId);
      if (queue) queue.push(entry);
      else unacked.set(record.sensorId, [entry]);
    }
    await emit((t) => windower.drainClosed(t));
  };

  const subscription: Subscription = options.readingsLog.subscribe(
    options.subscription ?? "windower",
    handle,
  );
  const timer = setInterval(() => {
    emit((t) => windower.drainClosed(t)).catch(() => {});
  }, options.tickMs ?? 100);

  return {
    async stop() {
      await subscription.pause();
      clearInterval(timer);
      const durable = options.readingsLog.durable;
      await emit((t) => (durable ? windower.drainClosed(t) : windower.flush(t)));
      await subscription.stop();
    },
    stats: () => windower.stats(),
  };
}
