/**
 * Event-time tumbling windows per sensor: pure logic, no I/O and no timers. The caller passes processing
 * time (`nowMs`) into every call, so tests drive the clock and the same inputs always give the same output.
 *
 * Rules:
 * - A window is `[start, start + windowMs)`, aligned to the epoch, one series of windows per sensor.
 * - Per-sensor watermark = max(max event time seen − allowedLatenessMs, any `advanceWatermark` promise).
 *   A window closes once the watermark reaches its end. Readings arriving while their window is open are
 *   accepted whatever their order; a reading for a closed window is `"late"` (the caller counts and
 *   dead-letters it; it never reopens or changes an emitted window).
 * - A sensor silent for `idleTimeoutMs` of processing time has all its open windows closed by the next
 *   `drainClosed`, so a sensor that stops does not hold its last minute back forever.
 * - Aggregates are computed at close over the distinct readings sorted by event time, so the same set of
 *   readings gives bit-identical windows (floating-point sums included) whatever the arrival order.
 * - A window only exists once a reading was accepted for it: a minute with no reading emits nothing.
 */
import { PipelineError } from "../lib/errors.ts";
import type { Reading, WindowRecord } from "../lib/records.ts";
import { slotMs as defaultSlotMs, windowMs as defaultWindowMs } from "../lib/records.ts";

/** Windowing options; every field is optional and defaults to {@link defaultWindowerOptions}. */
export interface WindowerOptions {
  /** Window width, ms; a positive integer multiple of `slotMs`. */
  readonly windowMs?: number;
  /** Slot width, ms; `windowMs / slotMs` slots per window. */
  readonly slotMs?: number;
  /** How far behind a sensor's newest event time a reading may still arrive, ms (≥ 0). */
  readonly allowedLatenessMs?: number;
  /** Processing time without any message from a sensor after which its open windows close, ms (> 0). */
  readonly idleTimeoutMs?: number;
}

/** The defaults: one-minute windows of 60 one-second slots, 5 s lateness, 10 s idle timeout. */
export const defaultWindowerOptions: Readonly<Required<WindowerOptions>> = {
  windowMs: defaultWindowMs,
  slotMs: defaultSlotMs,
  allowedLatenessMs: 5_000,
  idleTimeoutMs: 10_000,
};

/**
 * What became of one reading: `"accepted"` into an open window, `"duplicate"` of a reading already in
 * that window (same sensor and event time; counted in the window's `duplicates`), or `"late"` because
 * its window has already closed (also for a copy of a reading of a closed window: closed windows'
 * readings are forgotten, so it cannot be told from a late original).
 */
export type AddOutcome = "accepted" | "duplicate" | "late";

/** Gauges and counters for metrics; cheap to call (kept up to date incrementally). */
export interface WindowerStats {
  /** Sensors ever seen; each keeps a few numbers (watermark, closed horizon) for late detection. */
  sensors: number;
  openWindows: number;
  /** Distinct readings held in open windows. */
  bufferedReadings: number;
  /** Windows closed but not yet returned by `drainClosed`/`flush`. */
  closedPending: number;
  /** Readings reported `"late"` since creation. */
  lateTotal: number;
  /** Readings reported `"duplicate"` since creation. */
  duplicateTotal: number;
}

/** The readings of one open window, as parallel arrays in arrival order (no object per reading). */
interface OpenWindow {
  readonly sensorId: number;
  readonly startMs: number;
  readonly times: number[];
  readonly values: number[];
  /** Newest event time in the window: a reading after it cannot be a duplicate (the in-order fast path). */
  maxEventMs: number;
  /** False once a reading arrived out of order: the arrays are then sorted at close. */
  inOrder: boolean;
  /** Event times already seen, built only once a reading arrives out of order. */
  seen: Set<number> | undefined;
  duplicates: number;
  maxCreatedAtMs: number;
}

interface SensorState {
  readonly sensorId: number;
  watermarkMs: number;
  /** Every window starting before this has closed: a reading with an earlier event time is late. */
  closedBeforeMs: number;
  lastSeenMs: number;
  /** Open windows sorted by start; one or two in practice (current minute + the one within lateness). */
  open: OpenWindow[];
}

const positiveInteger = (n: number): boolean => Number.isSafeInteger(n) && n > 0;

function validateOptions(options: WindowerOptions): Required<WindowerOptions> {
  const o = { ...defaultWindowerOptions, ...options };
  const bad = (name: string, value: number, rule: string): never => {
    throw new PipelineError("config", `window option ${name} ${value} must be ${rule}`, {
      hint: `omit it for the default ${defaultWindowerOptions[name as keyof WindowerOptions]}`,
    });
  };
  if (!positiveInteger(o.windowMs)) bad("windowMs", o.windowMs, "a positive integer of milliseconds");
  if (!positiveInteger(o.slotMs)) bad("slotMs", o.slotMs, "a positive integer of milliseconds");
  if (o.windowMs % o.slotMs !== 0) bad("slotMs", o.slotMs, `a divisor of windowMs ${o.windowMs}`);
  if (!Number.isSafeInteger(o.allowedLatenessMs) || o.allowedLatenessMs < 0) {
    bad("allowedLatenessMs", o.allowedLatenessMs, "a non-negative integer of milliseconds");
  }
  if (!positiveInteger(o.idleTimeoutMs))
    bad("idleTimeoutMs", o.idleTimeoutMs, "a positive integer of milliseconds");
  return o;
}

/**
 * Per-sensor event-time tumbling windows.
 *
 * Cost: `add` is O(1) amortised with no allocation on the in-order path (two Map look-ups, two array
 * pushes, and a delete+set that keeps `active` in last-seen order). Closing by watermark happens inside
 * `add`/`advanceWatermark` for that sensor only, since only they move its watermark. Idle closing walks
 * `active` from its least recently seen end and stops at the first sensor that is not idle, so
 * `drainClosed` costs O(idle sensors + closed windows), never a scan of all sensors. Building a record
 * is O(readings + slots), plus a sort when its readings arrived out of order.
 *
 * @example
 * const windower = new TumblingWindower({ allowedLatenessMs: 5_000 });
 * windower.add({ sensorId: 7, eventTimeMs: 1_700_000_040_000, value: 230.5, createdAtMs: undefined }, Date.now());
 * for (const record of windower.drainClosed(Date.now())) publish(record);
 */
export class TumblingWindower {
  readonly options: Readonly<Required<WindowerOptions>>;
  private readonly slotCount: number;
  private readonly sensors = new Map<number, SensorState>();
  /** Sensors that may still go idle, in last-seen order (a Map iterates in insertion order). */
  private readonly active = new Map<number, SensorState>();
  private pending: OpenWindow[] = [];
  /** Processing time, never moving backwards even if a caller's clock does. */
  private clockMs = Number.NEGATIVE_INFINITY;
  private openWindows = 0;
  private bufferedReadings = 0;
  private lateTotal = 0;
  private duplicateTotal = 0;
  /** Scratch per-slot sums and counts, reused by every record. */
  private readonly slotSums: Float64Array;
  private readonly slotCounts: Uint32Array;

  constructor(options: WindowerOptions = {}) {
    this.options = validateOptions(options);
    this.slotCount = this.options.windowMs / this.options.slotMs;
    this.slotSums = new Float64Array(this.slotCount);
    this.slotCounts = new Uint32Array(this.slotCount);
  }

  /**
   * Offer one reading received at processing time `nowMs`. Throws `PipelineError("validation")` for a
   * non-integer event time or sensor id or a non-finite value (the message validator should have caught
   * them). Of two readings with the same sensor and event time, the first to arrive is kept: duplicates
   * are expected to be redeliveries of the same message.
   */
  add(reading: Reading, nowMs: number): AddOutcome {
    const { sensorId, eventTimeMs, value } = reading;
    if (!Number.isSafeInteger(eventTimeMs) || !Number.isSafeInteger(sensorId) || !Number.isFinite(value)) {
      throw new PipelineError(
        "validation",
        `reading sensor ${sensorId} at ${eventTimeMs} with value ${value} is not windowable`,
        { hint: "validate messages before windowing: integer sensor id and event time, finite value" },
      );
    }
    const sensor = this.touch(sensorId, nowMs);
    if (eventTimeMs < sensor.closedBeforeMs) {
      this.lateTotal++;
      return "late";
    }
    const window = this.openWindowFor(sensor, eventTimeMs);
    if (!insertReading(window, eventTimeMs, value)) {
      window.duplicates++;
      this.duplicateTotal++;
      return "duplicate";
    }
    this.bufferedReadings++;
    const createdAtMs = reading.createdAtMs;
    if (createdAtMs !== undefined && createdAtMs > window.maxCreatedAtMs) window.maxCreatedAtMs = createdAtMs;
    // Lateness ≥ 0, so this can never close the window the reading was just put into.
    const watermarkMs = eventTimeMs - this.options.allowedLatenessMs;
    if (watermarkMs > sensor.watermarkMs) this.closeByWatermark(sensor, watermarkMs);
    return "accepted";
  }

  /**
   * A sensor promises no more readings older than `watermarkMs` (a `BatchMessage` with `complete: true`
   * promises its `interval_end`): its watermark moves there at once, no lateness subtracted, and windows
   * ending at or before it close. A promise older than the current watermark changes nothing.
   *
   * @example
   * windower.advanceWatermark(batch.sensor_id, batch.interval_end * 1000, Date.now());
   */
  advanceWatermark(sensorId: number, watermarkMs: number, nowMs: number): void {
    if (!Number.isFinite(watermarkMs)) {
      throw new PipelineError("validation", `watermark ${watermarkMs} for sensor ${sensorId} is not finite`);
    }
    const sensor = this.touch(sensorId, nowMs);
    if (watermarkMs > sensor.watermarkMs) this.closeByWatermark(sensor, watermarkMs);
  }

  /**
   * Close the windows of sensors idle for `idleTimeoutMs`, then return every closed window not yet
   * returned, ordered by (windowStartMs, sensorId), with `emittedAtMs = nowMs`; their state is released.
   * Call it a few times a second.
   */
  drainClosed(nowMs: number): WindowRecord[] {
    this.advanceClock(nowMs);
    const idleBeforeMs = this.clockMs - this.options.idleTimeoutMs;
    for (const sensor of this.active.values()) {
      if (sensor.lastSeenMs > idleBeforeMs) break; // the rest were seen later still
      this.active.delete(sensor.sensorId); // deleting the current entry is safe while iterating a Map
      this.closeAll(sensor);
    }
    return this.emitPending(nowMs);
  }

  /** Shutdown: close every open window now and return all closed windows, as `drainClosed` does. */
  flush(nowMs: number): WindowRecord[] {
    this.advanceClock(nowMs);
    for (const sensor of this.sensors.values()) this.closeAll(sensor);
    this.active.clear();
    return this.emitPending(nowMs);
  }

  /**
   * Every window of the sensor starting before this event time has closed (−Infinity for a sensor never
   * seen): its readings older than this are in a closed window or were reported late. Windows closed but
   * not yet drained count as closed, so a caller acknowledging input by this horizon must drain and
   * persist first, with no `add`/`advanceWatermark` in between.
   *
   * @example
   * if (reading.eventTimeMs < windower.closedBefore(reading.sensorId)) message.ack();
   */
  closedBefore(sensorId: number): number {
    return this.sensors.get(sensorId)?.closedBeforeMs ?? Number.NEGATIVE_INFINITY;
  }

  stats(): WindowerStats {
    return {
      sensors: this.sensors.size,
      openWindows: this.openWindows,
      bufferedReadings: this.bufferedReadings,
      closedPending: this.pending.length,
      lateTotal: this.lateTotal,
      duplicateTotal: this.duplicateTotal,
    };
  }

  private advanceClock(nowMs: number): void {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
  }

  /** The sensor's state, created on first sight, marked as seen now and moved to the end of `active`. */
  private touch(sensorId: number, nowMs: number): SensorState {
    this.advanceClock(nowMs);
    let sensor = this.sensors.get(sensorId);
    if (sensor === undefined) {
      sensor = {
        sensorId,
        watermarkMs: Number.NEGATIVE_INFINITY,
        closedBeforeMs: Number.NEGATIVE_INFINITY,
        lastSeenMs: this.clockMs,
        open: [],
      };
      this.sensors.set(sensorId, sensor);
    } else {
      sensor.lastSeenMs = this.clockMs;
      this.active.delete(sensorId);
    }
    this.active.set(sensorId, sensor);
    return sensor;
  }

  private openWindowFor(sensor: SensorState, eventTimeMs: number): OpenWindow {
    const { windowMs } = this.options;
    const startMs = Math.floor(eventTimeMs / windowMs) * windowMs;
    const open = sensor.open;
    let i = open.length - 1; // newest first: in-order readings hit the last window
    while (i >= 0 && open[i]!.startMs > startMs) i--;
    if (i >= 0 && open[i]!.startMs === startMs) return open[i]!;
    const window: OpenWindow = {
      sensorId: sensor.sensorId,
      startMs,
      times: [],
      values: [],
      maxEventMs: Number.NEGATIVE_INFINITY,
      inOrder: true,
      seen: undefined,
      duplicates: 0,
      maxCreatedAtMs: 0,
    };
    open.splice(i + 1, 0, window);
    this.openWindows++;
    return window;
  }

  /** Window [s, s + W) closes when the watermark ≥ s + W, i.e. when s < floor(watermark / W) · W. */
  private closeByWatermark(sensor: SensorState, watermarkMs: number): void {
    sensor.watermarkMs = watermarkMs;
    const { windowMs } = this.options;
    const horizonMs = Math.floor(watermarkMs / windowMs) * windowMs;
    if (horizonMs <= sensor.closedBeforeMs) return;
    sensor.closedBeforeMs = horizonMs;
    const open = sensor.open;
    let n = 0;
    while (n < open.length && open[n]!.startMs < horizonMs) this.close(open[n++]!);
    if (n > 0) open.splice(0, n);
  }

  /** Idle or shutdown: close all of the sensor's windows; readings for them are late from now on. */
  private closeAll(sensor: SensorState): void {
    const open = sensor.open;
    if (open.length === 0) return;
    const endMs = open[open.length - 1]!.startMs + this.options.windowMs;
    if (endMs > sensor.closedBeforeMs) sensor.closedBeforeMs = endMs;
    if (endMs > sensor.watermarkMs) sensor.watermarkMs = endMs;
    for (const window of open) this.close(window);
    open.length = 0;
  }

  private close(window: OpenWindow): void {
    this.pending.push(window);
    this.openWindows--;
    this.bufferedReadings -= window.times.length;
  }

  private emitPending(nowMs: number): WindowRecord[] {
    const closed = this.pending;
    if (closed.length === 0) return [];
    this.pending = [];
    closed.sort((a, b) => a.startMs - b.startMs || a.sensorId - b.sensorId);
    return closed.map((window) => this.toRecord(window, nowMs));
  }

  private toRecord(window: OpenWindow, nowMs: number): WindowRecord {
    let { times, values } = window;
    if (!window.inOrder) {
      const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]!);
      const sortedTimes = order.map((i) => times[i]!);
      values = order.map((i) => values[i]!);
      times = sortedTimes;
    }
    const { slotMs } = this.options;
    const { slotSums, slotCounts, slotCount } = this;
    slotSums.fill(0);
    slotCounts.fill(0);
    const startMs = window.startMs;
    const count = times.length;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      const value = values[i]!;
      sum += value;
      if (value < min) min = value;
      if (value > max) max = value;
      const slot = Math.floor((times[i]! - startMs) / slotMs);
      slotSums[slot]! += value;
      slotCounts[slot]!++;
    }
    const mean = sum / count;
    const slots = new Array<number>(slotCount);
    const imputed = new Array<boolean>(slotCount);
    for (let s = 0; s < slotCount; s++) {
      const n = slotCounts[s]!;
      slots[s] = n === 0 ? mean : slotSums[s]! / n;
      imputed[s] = n === 0;
    }
    return {
      sensorId: window.sensorId,
      windowStartMs: startMs,
      windowEndMs: startMs + this.options.windowMs,
      count,
      sum,
      mean,
      min,
      max,
      firstEventMs: times[0]!,
      lastEventMs: times[count - 1]!,
      slots,
      imputed,
      duplicates: window.duplicates,
      maxCreatedAtMs: window.maxCreatedAtMs,
      emittedAtMs: nowMs,
    };
  }
}

/** Puts the reading in the window; false when the window already holds one at that event time. */
function insertReading(window: OpenWindow, eventTimeMs: number, value: number): boolean {
  if (eventTimeMs > window.maxEventMs) {
    window.maxEventMs = eventTimeMs;
    window.seen?.add(eventTimeMs);
  } else {
    if (eventTimeMs === window.maxEventMs) return false; // the common redelivery, without building `seen`
    window.seen ??= new Set(window.times);
    if (window.seen.has(eventTimeMs)) return false;
    window.seen.add(eventTimeMs);
    window.inOrder = false;
  }
  window.times.push(eventTimeMs);
  window.values.push(value);
  return true;
}

/**
 * A windower with the given options; throws `PipelineError("config")` naming a bad option.
 *
 * @example
 * const windower = createWindower({ idleTimeoutMs: 30_000 });
 */
export function createWindower(options: WindowerOptions = {}): TumblingWindower {
  return new TumblingWindower(options);
}
