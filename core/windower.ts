/**
 * The windowing stage: consumes the readings log, feeds the pure `TumblingWindower` (core/window.ts),
 * and publishes its emissions to the windows log and, side by side, to the window store
 * (core/window-store.ts). Late readings and readings of sensors beyond `maxSensors` are counted and
 * dead-lettered.
 *
 * A window may be emitted before it is final (full, or its sensor idle) and again when it changes; the
 * window store upserts by sensor + window start, so the last emission wins and no row is duplicated.
 */

import { errorMessage } from "@energy/contracts/errors.ts";
import type { ReadingsRecord, WindowRecord } from "@energy/contracts/records.ts";
import type { AckGroup, LogMessage, RecordLog, Subscription } from "@energy/logs/log.ts";
import { retry } from "@energy/platform/backoff.ts";
import type { Logger } from "@energy/platform/log.ts";
import type { CoreMetrics } from "@energy/platform/metrics.ts";
import type { DeadLetterSink } from "./dead-letters.ts";
import { type Drained, TumblingWindower, type WindowerOptions } from "./window.ts";
import type { WindowSink } from "./window-store.ts";

export interface WindowerStageOptions {
  readingsLog: RecordLog<ReadingsRecord>;
  windowsLog: RecordLog<WindowRecord>;
  /** Where emissions are stored (PostgreSQL); written beside the windows log, retried on its own. */
  store?: WindowSink;
  deadLetters: DeadLetterSink;
  metrics: CoreMetrics;
  logger: Logger;
  window?: WindowerOptions;
  /** How often idle sensors are checked and closed windows emitted, ms. */
  tickMs?: number;
  subscription?: string;
  /**
   * Whether the input is live (upstream connected): only then does silence count towards the idle timeout
   * and eviction (core/window.ts, input-active time). Default: the readings log is ready. The core adds
   * the MQTT connection, so a broker outage does not make every sensor look idle.
   */
  inputLive?: () => boolean;
}

export interface WindowerStage {
  /**
   * Graceful stop, in this order: stop intake (the batch in hand finishes), publish the windows, ack their
   * records, close the consumer. Acking after the close would be lost and the records redelivered.
   *
   * Which windows: on a durable readings log only the emissions already due (full, idle or final). The
   * records of a window not yet final stay unacknowledged and come back to the next process, which rebuilds
   * the whole window from them: its emission holds at least the readings of any earlier one, so the upsert
   * replaces the row. On the in-process log, every held window is made final and published (nothing else
   * holds its readings).
   */
  stop(): Promise<void>;
  stats(): ReturnType<TumblingWindower["stats"]>;
}

// Emission delay is only meaningful for live data; a replay of 2025 data would fill the histogram with
// year-long "delays", so observations beyond this are left out.
const liveHorizonMs = 3_600_000;
/** Backoff of a windows publish the log (or the store) refused: 200 ms at first, 5 s at most. */
const publishRetry = { initialMs: 200, maxMs: 5_000 };
const encoder = new TextEncoder();

export function startWindowerStage(options: WindowerStageOptions): WindowerStage {
  const { metrics, logger, deadLetters, windowsLog } = options;
  const windower = new TumblingWindower(options.window);
  const inputLive = options.inputLive ?? (() => options.readingsLog.ready());
  // A readings record is acknowledged only once every reading in it is in a *final* window that is
  // published (finalized by the watermark, or by evicting its sensor), so a durable log (Pulsar) redelivers
  // it after a crash and the next process rebuilds the whole window. An emission before final (full or
  // idle) acks nothing: acking then would let a crash lose the readings that were still to be merged.
  // Kept per sensor in arrival order: a sensor's windows become final in order, so acks pop from the front.
  // Only the ack is kept, not the message: at 10,000 streaming sensors a minute holds 600,000 records, and
  // keeping their decoded readings alive until the window closes cost ~1 GB (bench ab); nor a closure or an
  // object per record, only (newest event time, ack group, index) in a sensor's typed arrays (AckQueue).
  // The in-process log redelivers nothing, so nothing is kept for it at all.
  const retainAcks = options.readingsLog.durable;
  const unacked = new Map<number, AckQueue>();
  const ackGroups = new AckGroups();
  // Newest event time per sensor, for core_window_event_time_lag_seconds (meaningful for replays too).
  const newestEventMs = new Map<number, number>();
  /** Acks of records none of whose readings the windower keeps (a sensor beyond `maxSensors`). */
  let ackNow = new AckList();
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
    const stats = windower.stats();
    // Evicted sensors leave their entry behind: prune once the map holds far more than the windower
    // tracks, so memory stays bounded by MAX_SENSORS (amortised O(1) per record).
    if (newestEventMs.size > 2 * stats.sensors + 1_024)
      for (const id of newestEventMs.keys()) if (!windower.tracks(id)) newestEventMs.delete(id);
    metrics.openWindows.set(stats.openWindows);
    metrics.sensorsTracked.set(stats.sensors);
  };

  /**
   * The acks a drain allows: per sensor whose final horizon moved, the records queued so far whose readings
   * all lie before it. Taken when the windows are drained (records added while they are published may
   * belong to the state of a sensor evicted in this drain and started afresh), called once they are published.
   */
  const acksFor = (finalized: Map<number, number>): AckList => {
    const acks = ackNow;
    ackNow = new AckList();
    for (const [sensorId, finalBefore] of finalized) {
      const queue = unacked.get(sensorId);
      if (!queue) continue;
      if (queue.takeBefore(finalBefore, acks, ackGroups) === 0) unacked.delete(sensorId);
    }
    return acks;
  };

  const emit = (drain: (now: number) => Drained) => {
    emitting = emitting
      .catch(() => {})
      .then(async () => {
        const now = Date.now();
        const { windows, finalized } = drain(now);
        const acks = acksFor(finalized);
        // Drained windows exist nowhere else: retry until the log and the store take them (each applies
        // backpressure). Each is retried on its own, so a store outage does not publish windows twice.
        const untilTaken = (what: "publish" | "store", action: () => Promise<void>) =>
          retry(action, {
            ...publishRetry,
            onRetry: (error, attempt) =>
              logger.error(`cannot ${what} windows (attempt ${attempt}); retrying`, {
                error: errorMessage(error),
                windows: windows.length,
              }),
          });
        const store = options.store;
        await Promise.all([
          untilTaken("publish", () => publishWindows(windows, now)),
          store && windows.length > 0 ? untilTaken("store", () => store.save(windows)) : undefined,
        ]);
        acks.ackAll();
      });
    return emitting;
  };
  const drainLive = (now: number) => windower.drain(now, { inputLive: inputLive() });

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
            detail: `event time ${new Date(reading.eventTimeMs).toISOString()} is behind its final window`,
            raw: encoder.encode(JSON.stringify(reading)),
            receivedAtMs: now,
          });
        } else if (outcome === "duplicate") {
          metrics.duplicates.inc();
        } else if (outcome === "too_many_sensors") {
          metrics.invalid.inc({ reason: "too_many_sensors" });
          deadLetters.put({
            source: `windower/sensor/${reading.sensorId}`,
            reason: "too_many_sensors",
            detail: `${windower.options.maxSensors} sensors are tracked already (MAX_SENSORS); raise it if the fleet is that large`,
            raw: encoder.encode(JSON.stringify(reading)),
            receivedAtMs: now,
          });
        }
      }
      // A complete batch's watermark is event time the sensor vouched for, like a reading's.
      if (record.watermarkMs !== undefined && record.watermarkMs > newest) newest = record.watermarkMs;
      if (newest > Number.NEGATIVE_INFINITY && windower.tracks(record.sensorId))
        newestEventMs.set(record.sensorId, newest);
      if (record.watermarkMs !== undefined)
        windower.advanceWatermark(record.sensorId, record.watermarkMs, now);
      if (!retainAcks) continue;
      if (!windower.tracks(record.sensorId)) {
        ackNow.push(message.acks, message.ackIndex); // refused: dead-lettered, nothing of it is held
        continue;
      }
      let maxEventMs = Number.NEGATIVE_INFINITY;
      for (const r of record.readings) if (r.eventTimeMs > maxEventMs) maxEventMs = r.eventTimeMs;
      let queue = unacked.get(record.sensorId);
      if (!queue) {
        queue = new AckQueue();
        unacked.set(record.sensorId, queue);
      }
      queue.push(maxEventMs, ackGroups.retain(message.acks), message.ackIndex);
    }
    await emit(drainLive);
  };

  const subscription: Subscription = options.readingsLog.subscribe(
    options.subscription ?? "windower",
    handle,
  );
  const timer = setInterval(() => {
    emit(drainLive).catch(() => {});
  }, options.tickMs ?? 100);

  return {
    async stop() {
      await subscription.pause();
      clearInterval(timer);
      const durable = options.readingsLog.durable;
      await emit((t) => (durable ? drainLive(t) : { windows: windower.flush(t), finalized: new Map() }));
      await subscription.stop();
    },
    stats: () => windower.stats(),
  };
}

/** Acks to make later, as (group, index) pairs in two arrays. */
class AckList {
  private readonly groups: AckGroup[] = [];
  private readonly indexes: number[] = [];

  push(group: AckGroup, index: number): void {
    this.groups.push(group);
    this.indexes.push(index);
  }

  ackAll(): void {
    for (let i = 0; i < this.groups.length; i++) this.groups[i]!.ack(this.indexes[i]!);
  }
}

/**
 * The ack groups the AckQueues refer to, by number: an entry stores 4 bytes instead of an 8-byte reference,
 * in a typed array. A group is forgotten once no entry refers to it. Consecutive records mostly share a
 * group (a pack, a batch), so the look-up is mostly one comparison.
 */
class AckGroups {
  private readonly ids = new Map<AckGroup, number>();
  private readonly groups: (AckGroup | undefined)[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];
  private last: AckGroup | undefined;
  private lastId = -1;

  /** The number of `group`, counting one more entry that refers to it. */
  retain(group: AckGroup): number {
    let id = this.lastId;
    if (group !== this.last) {
      const known = this.ids.get(group);
      if (known === undefined) {
        id = this.free.pop() ?? this.groups.length;
        this.groups[id] = group;
        this.refs[id] = 0;
        this.ids.set(group, id);
      } else id = known;
      this.last = group;
      this.lastId = id;
    }
    this.refs[id]!++;
    return id;
  }

  /** The group numbered `id`, counting one entry less that refers to it. */
  release(id: number): AckGroup {
    const group = this.groups[id]!;
    if (--this.refs[id]! === 0) {
      this.ids.delete(group);
      this.groups[id] = undefined;
      this.free.push(id);
      if (this.last === group) {
        this.last = undefined;
        this.lastId = -1;
      }
    }
    return group;
  }
}

/**
 * One sensor's un-acked records in arrival order, in typed arrays (newest event time, ack group number,
 * index): 16 bytes a record, grown by half. At 10,000 sensors on Pulsar a minute holds ~650,000 of them;
 * as three plain arrays (~40 bytes a record with their growth) they were the largest part of the core's
 * live heap, which grew through each minute (bench ab on Pulsar, issue 15).
 */
class AckQueue {
  private maxEventMs = new Float64Array(8);
  private groups = new Uint32Array(8);
  private indexes = new Uint32Array(8);
  private head = 0;
  private tail = 0;

  push(maxEventMs: number, group: number, index: number): void {
    if (this.tail === this.maxEventMs.length) this.makeRoom();
    this.maxEventMs[this.tail] = maxEventMs;
    this.groups[this.tail] = group;
    this.indexes[this.tail] = index;
    this.tail++;
  }

  /** Moves the leading records whose readings all lie before `finalBefore` to `into`; how many remain. */
  takeBefore(finalBefore: number, into: AckList, groups: AckGroups): number {
    let at = this.head;
    while (at < this.tail && this.maxEventMs[at]! < finalBefore) {
      into.push(groups.release(this.groups[at]!), this.indexes[at]!);
      at++;
    }
    this.head = at;
    if (at === this.tail) this.head = this.tail = 0;
    return this.tail - this.head;
  }

  /** Full at the end: the taken front is reused when it is at least a quarter, else the arrays grow by half. */
  private makeRoom(): void {
    const live = this.tail - this.head;
    const capacity = this.maxEventMs.length;
    if (this.head * 4 >= capacity) {
      this.maxEventMs.copyWithin(0, this.head, this.tail);
      this.groups.copyWithin(0, this.head, this.tail);
      this.indexes.copyWithin(0, this.head, this.tail);
    } else {
      const grown = capacity + (capacity >>> 1);
      const maxEventMs = new Float64Array(grown);
      const groups = new Uint32Array(grown);
      const indexes = new Uint32Array(grown);
      maxEventMs.set(this.maxEventMs.subarray(this.head, this.tail));
      groups.set(this.groups.subarray(this.head, this.tail));
      indexes.set(this.indexes.subarray(this.head, this.tail));
      this.maxEventMs = maxEventMs;
      this.groups = groups;
      this.indexes = indexes;
    }
    this.head = 0;
    this.tail = live;
  }
}
