/**
 * The smart-batching sensor's buffer (architecture B), pure: it groups one sensor's readings by event-time
 * interval and turns them into BatchMessages when the interval is over (by a clock value the caller passes
 * in), when a bound on readings or bytes would be exceeded, or on shutdown. No timers and no I/O, so it is
 * tested with plain values and the agent drives thousands of them from one tick.
 */
import type { BatchMessage, Reading } from "@energy/contracts/records.ts";

export interface BatcherOptions {
  /** Interval width; intervals are aligned to multiples of it since the epoch (minute boundaries for 60 s). */
  intervalMs: number;
  /** Most readings in one message; more splits the interval into several messages. */
  maxReadings: number;
  /** Most bytes of one serialised message; more splits the interval into several messages. */
  maxBytes: number;
  /**
   * How long after an interval ends the sensor still waits for its readings. 0 for in-order sources; a
   * disordered source needs about one interval, or every shuffled chunk would leave as its own message.
   */
  graceMs: number;
  /**
   * Whether the source is in event-time order. Only then can a flushed interval be marked `complete`: an
   * out-of-order sensor cannot promise that nothing older follows.
   */
  ordered: boolean;
}

export const defaultBatcherOptions: BatcherOptions = {
  intervalMs: 60_000,
  maxReadings: 10_000,
  maxBytes: 256 * 1024,
  graceMs: 0,
  ordered: true,
};

/** Smallest byte bound that always fits one reading: the envelope (~130 B) plus the longest pair. */
export const minBatchBytes = 256;

const noMessages: readonly BatchMessage[] = Object.freeze([]);

/**
 * One interval's `[ts, value]` pairs as two growable typed arrays: 16 bytes a reading. Held as JS pair
 * arrays, a minute of 10,000 sensors × 10 readings/s kept the edge at ~1 GB RSS; the pairs are now made
 * only when the message is built, and are garbage as soon as it is serialised.
 */
class PairBuffer {
  ts = new Float64Array(16);
  values = new Float64Array(16);
  length = 0;

  push(ts: number, value: number): void {
    if (this.length === this.ts.length) {
      const ts2 = new Float64Array(this.length * 2);
      const values2 = new Float64Array(this.length * 2);
      ts2.set(this.ts);
      values2.set(this.values);
      this.ts = ts2;
      this.values = values2;
    }
    this.ts[this.length] = ts;
    this.values[this.length] = value;
    this.length++;
  }

  /** The pairs in event-time order (a disordered source appends out of order; the contract wants order). */
  toSortedPairs(): Array<[number, number]> {
    const pairs = new Array<[number, number]>(this.length);
    let sorted = true;
    for (let i = 0; i < this.length; i++) {
      pairs[i] = [this.ts[i]!, this.values[i]!];
      if (i > 0 && this.ts[i]! < this.ts[i - 1]!) sorted = false;
    }
    if (!sorted) pairs.sort((a, b) => a[0] - b[0]);
    return pairs;
  }
}

interface OpenInterval {
  startMs: number;
  readings: PairBuffer;
  /**
   * Serialised size of the readings array's contents, commas included, once the interval came near the
   * byte bound; undefined before, when `readings.length * maxPairBytes` already proves the bound holds.
   */
  readingBytes: number | undefined;
  /** Serialised size of the message around them (`envelopeBytes`), the same for every part of the interval. */
  envelopeBytes: number;
}

/** Serialised size of one `[ts, value]` pair as JSON.stringify writes it. */
function pairBytes(ts: number, value: number): number {
  return String(ts).length + String(value).length + 3;
}

/**
 * Most bytes a pair can take: JSON.stringify writes any number in at most 25 characters
 * ("-0.0000012345678901234567"; non-finite numbers become "null"). Formatting both numbers of every
 * reading just to measure them cost a quarter of the edge's CPU in batch mode (CPU profile, 10,000
 * sensors × 10/s), while a minute of 1-Hz readings stays far below the default 256-KB bound; so sizes are
 * bounded by this until the bound could be reached, and counted exactly only from then on.
 */
const maxPairBytes = 2 * 25 + 3;

function exactReadingBytes(readings: PairBuffer): number {
  let bytes = Math.max(0, readings.length - 1);
  for (let i = 0; i < readings.length; i++) bytes += pairBytes(readings.ts[i]!, readings.values[i]!);
  return bytes;
}

/** Envelope size with the widest values the fields can hold, so the bound holds whatever is stamped later. */
function envelopeBytes(sensorId: number, startMs: number, intervalMs: number): number {
  const skeleton: BatchMessage = {
    sensor_id: sensorId,
    interval_start: startMs / 1000,
    interval_end: (startMs + intervalMs) / 1000,
    message_creation_time: 9_999_999_999_999,
    readings: [],
    complete: false,
  };
  return JSON.stringify(skeleton).length;
}

/**
 * Buffers one sensor's readings into per-interval BatchMessages.
 *
 * @example
 * const b = new SensorBatcher(1, defaultBatcherOptions);
 * b.add(reading, Date.now());           // [] until a bound is hit
 * b.flushDue(clockMs, Date.now());      // the intervals that ended by clockMs
 * b.flushAll(Date.now());               // on shutdown
 */
export class SensorBatcher {
  private readonly open = new Map<number, OpenInterval>();
  private readonly options: BatcherOptions;
  /**
   * No open interval is due before this clock value (a lower bound: exact after each `flushDue` scan).
   * The agent asks every sensor on every tick, and iterating the open intervals to find nothing due was
   * most of its work between flushes at 10,000 sensors.
   */
  private earliestDueMs = Number.POSITIVE_INFINITY;

  constructor(
    readonly sensorId: number,
    options: Partial<BatcherOptions> = {},
  ) {
    this.options = { ...defaultBatcherOptions, ...options };
  }

  /** Readings buffered and not yet flushed. */
  get buffered(): number {
    let n = 0;
    for (const o of this.open.values()) n += o.readings.length;
    return n;
  }

  /**
   * Adds a reading; returns the messages a bound forced out (usually none, then a shared empty array: this
   * runs for every reading, and serialising an envelope and allocating a result here made it ~5× dearer).
   */
  add(reading: Reading, createdAtMs: number): readonly BatchMessage[] {
    const { intervalMs, maxReadings, maxBytes } = this.options;
    const startMs = Math.floor(reading.eventTimeMs / intervalMs) * intervalMs;
    const ts = reading.eventTimeMs / 1000;
    const value = reading.value;
    let interval = this.open.get(startMs);
    let out = noMessages;
    let size = 0;
    if (interval && interval.readings.length > 0) {
      const n = interval.readings.length;
      let full = n + 1 > maxReadings;
      if (!full && interval.envelopeBytes + (n + 1) * (maxPairBytes + 1) > maxBytes) {
        interval.readingBytes ??= exactReadingBytes(interval.readings);
        size = pairBytes(ts, value);
        full = interval.envelopeBytes + interval.readingBytes + 1 + size > maxBytes;
      }
      if (full) {
        // More of this interval follows, so this part is never `complete`.
        out = [this.build(interval, createdAtMs, false)];
        interval = undefined;
      }
    }
    if (!interval) {
      interval = {
        startMs,
        readings: new PairBuffer(),
        readingBytes: undefined,
        envelopeBytes: envelopeBytes(this.sensorId, startMs, intervalMs),
      };
      this.open.set(startMs, interval);
      this.earliestDueMs = Math.min(this.earliestDueMs, this.dueMs(startMs));
    }
    if (interval.readingBytes !== undefined) {
      interval.readingBytes += (interval.readings.length > 0 ? 1 : 0) + (size || pairBytes(ts, value));
    }
    interval.readings.push(ts, value);
    return out;
  }

  /** Flushes every interval that ended (plus grace) at or before `clockMs`, oldest first. */
  flushDue(clockMs: number, createdAtMs: number): readonly BatchMessage[] {
    const { ordered } = this.options;
    if (this.open.size === 0 || clockMs < this.earliestDueMs) return noMessages;
    // Called for every sensor on every tick, so the common "nothing due" case allocates nothing.
    let due: OpenInterval[] | undefined;
    let earliest = Number.POSITIVE_INFINITY;
    for (const interval of this.open.values()) {
      const dueMs = this.dueMs(interval.startMs);
      if (dueMs > clockMs) {
        earliest = Math.min(earliest, dueMs);
        continue;
      }
      due ??= [];
      due.push(interval);
    }
    this.earliestDueMs = earliest;
    if (!due) return noMessages;
    due.sort((a, b) => a.startMs - b.startMs);
    return due.map((interval) => this.build(interval, createdAtMs, ordered));
  }

  /**
   * Flushes everything on shutdown. An in-order sensor that stops sends nothing older afterwards, so its
   * promise `complete` still holds even for an interval it did not fill.
   */
  flushAll(createdAtMs: number): BatchMessage[] {
    const out: BatchMessage[] = [];
    for (const interval of [...this.open.values()].sort((a, b) => a.startMs - b.startMs)) {
      out.push(this.build(interval, createdAtMs, this.options.ordered));
    }
    return out;
  }

  /** When the interval starting at `startMs` is flushed: its end plus the grace. */
  private dueMs(startMs: number): number {
    return startMs + this.options.intervalMs + this.options.graceMs;
  }

  private build(interval: OpenInterval, createdAtMs: number, complete: boolean): BatchMessage {
    this.open.delete(interval.startMs);
    const readings = interval.readings.toSortedPairs();
    const message: BatchMessage = {
      sensor_id: this.sensorId,
      interval_start: interval.startMs / 1000,
      interval_end: (interval.startMs + this.options.intervalMs) / 1000,
      message_creation_time: createdAtMs,
      readings,
    };
    if (complete) message.complete = true;
    return message;
  }
}
