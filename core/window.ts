/**
 * Event-time tumbling windows per sensor: pure logic, no I/O and no timers. The caller passes processing
 * time (`nowMs`) into every call, so tests drive the clock and the same inputs always give the same output.
 *
 * Rules:
 * - A window is `[start, start + windowMs)`, aligned to the epoch, one series of windows per sensor.
 * - Lateness is event time only. Per-sensor watermark = max(max event time seen − allowedLatenessMs, any
 *   `advanceWatermark` promise). A window is **final** once the watermark reaches its end: it is emitted
 *   (if anything changed since its last emission) and its readings are released. A reading for a final
 *   window is `"late"` (the caller counts and dead-letters it). Nothing else makes a reading late.
 * - Emission before final, keeping the readings (the same window may be emitted several times; consumers
 *   upsert by sensor + window start and the last emission holds every reading so far):
 *   - **full**: the reading that fills the window's last empty slot (an in-order 1 Hz sensor's 60th second)
 *     emits it at once, without waiting for the allowed lateness;
 *   - **idle**: a sensor silent for `idleTimeoutMs` of *input-active time* (below) has its changed windows
 *     emitted by the next `drain`.
 *   A reading that arrives later for such a window goes in, and the window is emitted again when it next
 *   becomes full, idle or final. So a slow sensor (every 15, 30, 60 s) or a stall never makes readings late.
 * - **Input-active time** is the clock of the idle rule and of eviction. It advances with processing time,
 *   but only while input flows: on each `add`/`advanceWatermark` (an arrival) and on each `drain` whose
 *   caller says the input is live (`inputLive`: upstream connected), by the processing time since the
 *   previous call, at most `inputGapCapMs` (1 s) per call. A stall of the whole input (broker or log down,
 *   the process paused, a consumer not yet delivering its backlog) therefore moves it by ≤ 1 s, and no
 *   sensor goes idle because of it: a sensor is idle only when it is silent while the input is not.
 * - **Eviction** bounds memory: a sensor idle for `sensorEvictAfterMs` of input-active time (measured on
 *   the same clock, so a global stall evicts nothing and every sensor keeps its state across it) is
 *   forgotten: its held windows become final (emitted if changed) and released. A later reading of it
 *   starts from scratch: it cannot be recognised as late, and a window rebuilt from it holds fewer readings
 *   than the stored one, which the store keeps (packages/platform/db/store.ts). At most `maxSensors` sensors are
 *   tracked: a reading of a new sensor beyond that is `"too_many_sensors"` (rejected, not kept).
 * - Aggregates are computed at each emission over the distinct readings sorted by event time, so the same
 *   set of readings gives bit-identical windows (floating-point sums included) whatever the arrival order:
 *   a window's final emission is the same in any order that makes none of its readings late.
 * - A window only exists once a reading was accepted for it: a minute with no reading emits nothing.
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import type { Reading, WindowRecord } from "@energy/contracts/records.ts";
import { slotMs as defaultSlotMs, windowMs as defaultWindowMs } from "@energy/contracts/records.ts";

/** Windowing options; every field is optional and defaults to {@link defaultWindowerOptions}. */
export interface WindowerOptions {
  /** Window width, ms; a positive integer multiple of `slotMs`. */
  readonly windowMs?: number;
  /** Slot width, ms; `windowMs / slotMs` slots per window. */
  readonly slotMs?: number;
  /** How far behind a sensor's newest event time a reading may still arrive, ms (≥ 0). */
  readonly allowedLatenessMs?: number;
  /** Input-active time without a message from a sensor after which its windows are emitted, ms (> 0). */
  readonly idleTimeoutMs?: number;
  /**
   * Input-active time without a message after which a sensor's state is dropped, ms (> 0); takes effect
   * no earlier than `idleTimeoutMs`.
   */
  readonly sensorEvictAfterMs?: number;
  /** Most sensors tracked at once (> 0); readings of further sensors are `"too_many_sensors"`. */
  readonly maxSensors?: number;
}

/**
 * The defaults: one-minute windows of 60 one-second slots, 5 s lateness, 10 s idle timeout, eviction after
 * 5 minutes of silence, 100,000 sensors (≈ 40 MB of state at one reading per second).
 */
export const defaultWindowerOptions: Readonly<Required<WindowerOptions>> = {
  windowMs: defaultWindowMs,
  slotMs: defaultSlotMs,
  allowedLatenessMs: 5_000,
  idleTimeoutMs: 10_000,
  sensorEvictAfterMs: 300_000,
  maxSensors: 100_000,
};

/**
 * The largest step of input-active time per call. Above the stage's tick (100 ms) and the gaps of a
 * flowing input, far below any idle timeout: a stall of minutes counts as one second.
 */
export const inputGapCapMs = 1_000;

/**
 * What became of one reading: `"accepted"` into its window, `"duplicate"` of a reading already in that
 * window (same sensor and event time; counted in the window's `duplicates`), `"late"` because its window
 * is final (also for a copy of a reading of a final window: final windows' readings are forgotten, so it
 * cannot be told from a late original), or `"too_many_sensors"` (a new sensor beyond `maxSensors`).
 */
export type AddOutcome = "accepted" | "duplicate" | "late" | "too_many_sensors";

export interface DrainOptions {
  /**
   * The input is live (upstream connected and delivering): processing time since the last call counts as
   * input-active time even though nothing arrived. Default false: silence alone proves nothing.
   */
  readonly inputLive?: boolean;
}

/** What one `drain` returns. */
export interface Drained {
  /** Windows to publish, ordered by (windowStartMs, sensorId); emitted before final ones included. */
  readonly windows: WindowRecord[];
  /**
   * Sensors whose final horizon moved since the last drain → `finalBefore` (every window starting before
   * it is final and, once `windows` are published, persisted); +Infinity for an evicted sensor (all its
   * windows so far are final). A caller acks input by this: see {@link TumblingWindower.finalBefore}.
   */
  readonly finalized: Map<number, number>;
}

/** Gauges and counters for metrics; cheap to call (kept up to date incrementally). */
export interface WindowerStats {
  /** Sensors tracked (watermark, final horizon and held windows each); at most `maxSensors`. */
  sensors: number;
  /** Tracked sensors idle (silent for the idle timeout), awaiting eviction. */
  idleSensors: number;
  /** Windows not yet final (held with their readings), emitted or not. */
  openWindows: number;
  /** Distinct readings held in windows not yet final. */
  bufferedReadings: number;
  /** Emissions waiting for the next `drain`/`flush`. */
  closedPending: number;
  /** Readings reported `"late"` since creation. */
  lateTotal: number;
  /** Readings reported `"duplicate"` since creation. */
  duplicateTotal: number;
  /** Readings reported `"too_many_sensors"` since creation. */
  tooManySensorsTotal: number;
  /** Sensors evicted since creation. */
  evictedTotal: number;
}

/** The readings of one window not yet final, as parallel arrays in arrival order (no object per reading). */
interface HeldWindow {
  readonly sensorId: number;
  readonly startMs: number;
  /** Event times and values of its `count` readings in arrival order; typed, grown by doubling. */
  times: Float64Array;
  values: Float64Array;
  count: number;
  /** Newest event time in the window: a reading after it cannot be a duplicate (the in-order fast path). */
  maxEventMs: number;
  /** False once a reading arrived out of order: the arrays are then sorted at each emission. */
  inOrder: boolean;
  /** Event times already seen, built only once a reading arrives out of order. */
  seen: Set<number> | undefined;
  duplicates: number;
  maxCreatedAtMs: number;
  /** Slots holding at least one reading: `filledSlots` of them; `filled[slot]` = 1, built once out of order. */
  filled: Uint8Array | undefined;
  filledSlots: number;
  /** Slot of the newest reading (−1 while empty). */
  lastSlot: number;
  /** Changed since its last emission (a new window was never emitted). */
  dirty: boolean;
  /** In `pending`, to be emitted by the next drain. Only a dirty window is queued. */
  queued: boolean;
  /** Final (watermark, eviction or flush): released once emitted. */
  final: boolean;
}

interface SensorState {
  readonly sensorId: number;
  watermarkMs: number;
  /** Every window starting before this is final: a reading with an earlier event time is late. */
  finalBeforeMs: number;
  /** Input-active time of its last message. */
  lastSeenMs: number;
  /** Input-active time it was put at the tail of `active` (≤ lastSeenMs); orders the idle check. */
  listedAtMs: number;
  /** Silent for the idle timeout: in `idle`, not in `active`. */
  idle: boolean;
  /** Windows not yet final, sorted by start; one or two in practice (current minute + the one within lateness). */
  held: HeldWindow[];
  /** Readings its last final window held (≥ 1, ≤ 4,096): the size a new window's buffers start at. */
  capacityHint: number;
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
  if (!positiveInteger(o.sensorEvictAfterMs))
    bad("sensorEvictAfterMs", o.sensorEvictAfterMs, "a positive integer of milliseconds");
  if (!positiveInteger(o.maxSensors)) bad("maxSensors", o.maxSensors, "a positive integer");
  return o;
}

/**
 * Per-sensor event-time tumbling windows.
 *
 * Cost: `add` is O(1) amortised with no allocation on the in-order path (one Map look-up, two stores into
 * typed buffers sized by the sensor's previous window; the idle order is kept lazily, see `drain`). Finalizing by watermark happens inside
 * `add`/`advanceWatermark` for that sensor only, since only they move its watermark. `drain` walks
 * `active` from its head while the head was listed more than `idleTimeoutMs` ago: a sensor seen since is
 * moved to the tail (at most once per idle timeout), one not seen goes idle; then it walks `idle` from
 * its head to evict. So a drain costs O(sensors checked + windows emitted), never a scan of all sensors.
 * Building a record is O(readings + slots), plus a sort when its readings arrived out of order.
 *
 * @example
 * const windower = new TumblingWindower({ allowedLatenessMs: 5_000 });
 * windower.add({ sensorId: 7, eventTimeMs: 1_700_000_040_000, value: 230.5, createdAtMs: undefined }, Date.now());
 * for (const record of windower.drain(Date.now(), { inputLive: true }).windows) publish(record);
 */
export class TumblingWindower {
  readonly options: Readonly<Required<WindowerOptions>>;
  private readonly slotCount: number;
  private readonly sensors = new Map<number, SensorState>();
  /** Sensors not idle, in `listedAtMs` order (a Map iterates in insertion order). */
  private readonly active = new Map<number, SensorState>();
  /** Idle sensors, in the order they went idle (≈ last-seen order, see `drain`). */
  private readonly idle = new Map<number, SensorState>();
  private pending: HeldWindow[] = [];
  private finalizedSince = new Map<number, number>();
  /** Input-active time (see the module comment). */
  private activeMs = 0;
  /** Processing time of the last call, never moving backwards even if a caller's clock does. */
  private lastNowMs = Number.NEGATIVE_INFINITY;
  private openWindows = 0;
  private bufferedReadings = 0;
  private lateTotal = 0;
  private duplicateTotal = 0;
  private tooManySensorsTotal = 0;
  private evictedTotal = 0;
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
    const sensor = this.arrival(sensorId, nowMs);
    if (sensor === undefined) {
      this.tooManySensorsTotal++;
      return "too_many_sensors";
    }
    if (eventTimeMs < sensor.finalBeforeMs) {
      this.lateTotal++;
      return "late";
    }
    const window = this.heldWindowFor(sensor, eventTimeMs);
    const slot = Math.floor((eventTimeMs - window.startMs) / this.options.slotMs);
    // In order so far, the filled slots are those up to the newest reading's: no mask needed. The first
    // reading out of order builds it from the readings held.
    const appended = eventTimeMs > window.maxEventMs;
    if (!appended && window.filled === undefined) window.filled = this.slotMask(window);
    if (!insertReading(window, eventTimeMs, value)) {
      window.duplicates++;
      window.dirty = true; // its `duplicates` changed: the last emission should say so
      this.duplicateTotal++;
      return "duplicate";
    }
    window.dirty = true;
    this.bufferedReadings++;
    const createdAtMs = reading.createdAtMs;
    if (createdAtMs !== undefined && createdAtMs > window.maxCreatedAtMs) window.maxCreatedAtMs = createdAtMs;
    let newSlot: boolean;
    const filled = window.filled;
    if (filled === undefined) newSlot = slot !== window.lastSlot;
    else {
      newSlot = filled[slot] === 0;
      filled[slot] = 1;
    }
    if (slot > window.lastSlot) window.lastSlot = slot;
    if (newSlot && ++window.filledSlots === this.slotCount) this.queue(window); // full: emit without waiting
    // Lateness ≥ 0, so this can never finalize the window the reading was just put into.
    const watermarkMs = eventTimeMs - this.options.allowedLatenessMs;
    if (watermarkMs > sensor.watermarkMs) this.finalizeByWatermark(sensor, watermarkMs);
    return "accepted";
  }

  /**
   * A sensor promises no more readings older than `watermarkMs` (a `BatchMessage` with `complete: true`
   * promises its `interval_end`): its watermark moves there at once, no lateness subtracted, and windows
   * ending at or before it become final. A promise older than the current watermark changes nothing; one
   * for a new sensor beyond `maxSensors` is ignored.
   *
   * @example
   * windower.advanceWatermark(batch.sensor_id, batch.interval_end * 1000, Date.now());
   */
  advanceWatermark(sensorId: number, watermarkMs: number, nowMs: number): void {
    if (!Number.isFinite(watermarkMs)) {
      throw new PipelineError("validation", `watermark ${watermarkMs} for sensor ${sensorId} is not finite`);
    }
    const sensor = this.arrival(sensorId, nowMs);
    if (sensor !== undefined && watermarkMs > sensor.watermarkMs)
      this.finalizeByWatermark(sensor, watermarkMs);
  }

  /**
   * Emit the windows of sensors idle for `idleTimeoutMs` of input-active time, evict sensors idle for
   * `sensorEvictAfterMs`, then return every emission not yet returned (with `emittedAtMs = nowMs`) and the
   * final horizons that moved. Call it a few times a second, with `inputLive` when upstream is connected.
   */
  drain(nowMs: number, options: DrainOptions = {}): Drained {
    this.observe(nowMs, options.inputLive === true);
    const now = this.activeMs;
    const idleBeforeMs = now - this.options.idleTimeoutMs;
    // Appending while iterating a Map visits the appended entry; its listedAtMs = now stops the walk.
    for (const sensor of this.active.values()) {
      if (sensor.listedAtMs > idleBeforeMs) break; // the rest were listed later still
      this.active.delete(sensor.sensorId);
      if (sensor.lastSeenMs > idleBeforeMs) {
        sensor.listedAtMs = now; // seen since it was listed: re-list, check again an idle timeout later
        this.active.set(sensor.sensorId, sensor);
        continue;
      }
      sensor.idle = true;
      this.idle.set(sensor.sensorId, sensor);
      for (const window of sensor.held) this.queue(window);
    }
    // A sensor goes idle at the first drain after idleBefore passes its lastSeen, so `idle` is in
    // last-seen order up to one drain's step: stopping at the first recent one delays no eviction longer.
    const evictBeforeMs = now - Math.max(this.options.sensorEvictAfterMs, this.options.idleTimeoutMs);
    for (const sensor of this.idle.values()) {
      if (sensor.lastSeenMs > evictBeforeMs) break;
      this.idle.delete(sensor.sensorId);
      this.evict(sensor);
    }
    const finalized = this.finalizedSince;
    this.finalizedSince = new Map();
    return { windows: this.emitPending(nowMs), finalized };
  }

  /** `drain(nowMs, options).windows`, for callers that do not ack by final horizon. */
  drainClosed(nowMs: number, options: DrainOptions = {}): WindowRecord[] {
    return this.drain(nowMs, options).windows;
  }

  /**
   * Shutdown: make every held window final now and return all pending emissions, as `drain` does.
   * Sensors stay tracked, with their final horizon at the end of their last window.
   */
  flush(nowMs: number): WindowRecord[] {
    this.observe(nowMs, false);
    for (const sensor of this.sensors.values()) {
      const held = sensor.held;
      if (held.length === 0) continue;
      const endMs = held[held.length - 1]!.startMs + this.options.windowMs;
      if (endMs > sensor.watermarkMs) sensor.watermarkMs = endMs;
      this.finalizeBefore(sensor, endMs);
    }
    this.finalizedSince = new Map();
    return this.emitPending(nowMs);
  }

  /**
   * Every window of the sensor starting before this event time is final (−Infinity for a sensor not
   * tracked): its readings older than this are in a final window or were reported late. Final windows not
   * yet drained count as final, so a caller acknowledging input by this horizon must drain and persist
   * first, with no `add`/`advanceWatermark` in between (or use `drain`'s `finalized`).
   *
   * @example
   * if (reading.eventTimeMs < windower.finalBefore(reading.sensorId)) message.ack();
   */
  finalBefore(sensorId: number): number {
    return this.sensors.get(sensorId)?.finalBeforeMs ?? Number.NEGATIVE_INFINITY;
  }

  /** Whether the sensor has state here (seen and neither evicted nor refused by `maxSensors`). */
  tracks(sensorId: number): boolean {
    return this.sensors.has(sensorId);
  }

  stats(): WindowerStats {
    return {
      sensors: this.sensors.size,
      idleSensors: this.idle.size,
      openWindows: this.openWindows,
      bufferedReadings: this.bufferedReadings,
      closedPending: this.pending.length,
      lateTotal: this.lateTotal,
      duplicateTotal: this.duplicateTotal,
      tooManySensorsTotal: this.tooManySensorsTotal,
      evictedTotal: this.evictedTotal,
    };
  }

  /** Advances input-active time by the processing time since the last call (capped) when the input is live. */
  private observe(nowMs: number, live: boolean): void {
    if (!(nowMs > this.lastNowMs)) return;
    if (live && this.lastNowMs !== Number.NEGATIVE_INFINITY)
      this.activeMs += Math.min(nowMs - this.lastNowMs, inputGapCapMs);
    this.lastNowMs = nowMs;
  }

  /**
   * A message of the sensor arrived: the clock moves, and the sensor's state (created on first sight
   * unless `maxSensors` are tracked) is marked as seen now and made active again if it was idle.
   */
  private arrival(sensorId: number, nowMs: number): SensorState | undefined {
    this.observe(nowMs, true);
    let sensor = this.sensors.get(sensorId);
    if (sensor === undefined) {
      if (this.sensors.size >= this.options.maxSensors) return undefined;
      sensor = {
        sensorId,
        watermarkMs: Number.NEGATIVE_INFINITY,
        finalBeforeMs: Number.NEGATIVE_INFINITY,
        lastSeenMs: this.activeMs,
        listedAtMs: this.activeMs,
        idle: false,
        held: [],
        capacityHint: 1,
      };
      this.sensors.set(sensorId, sensor);
      this.active.set(sensorId, sensor);
      return sensor;
    }
    sensor.lastSeenMs = this.activeMs;
    if (sensor.idle) {
      sensor.idle = false;
      sensor.listedAtMs = this.activeMs;
      this.idle.delete(sensorId);
      this.active.set(sensorId, sensor);
    }
    return sensor;
  }

  private heldWindowFor(sensor: SensorState, eventTimeMs: number): HeldWindow {
    const { windowMs } = this.options;
    const startMs = Math.floor(eventTimeMs / windowMs) * windowMs;
    const held = sensor.held;
    let i = held.length - 1; // newest first: in-order readings hit the last window
    while (i >= 0 && held[i]!.startMs > startMs) i--;
    if (i >= 0 && held[i]!.startMs === startMs) return held[i]!;
    const window: HeldWindow = {
      sensorId: sensor.sensorId,
      startMs,
      times: new Float64Array(sensor.capacityHint),
      values: new Float64Array(sensor.capacityHint),
      count: 0,
      maxEventMs: Number.NEGATIVE_INFINITY,
      inOrder: true,
      seen: undefined,
      duplicates: 0,
      maxCreatedAtMs: 0,
      filled: undefined,
      filledSlots: 0,
      lastSlot: -1,
      dirty: true,
      queued: false,
      final: false,
    };
    held.splice(i + 1, 0, window);
    this.openWindows++;
    return window;
  }

  private slotMask(window: HeldWindow): Uint8Array {
    const mask = new Uint8Array(this.slotCount);
    const { slotMs } = this.options;
    for (let i = 0; i < window.count; i++) mask[Math.floor((window.times[i]! - window.startMs) / slotMs)] = 1;
    return mask;
  }

  /** Window [s, s + W) is final when the watermark ≥ s + W, i.e. when s < floor(watermark / W) · W. */
  private finalizeByWatermark(sensor: SensorState, watermarkMs: number): void {
    sensor.watermarkMs = watermarkMs;
    const { windowMs } = this.options;
    this.finalizeBefore(sensor, Math.floor(watermarkMs / windowMs) * windowMs);
  }

  private finalizeBefore(sensor: SensorState, horizonMs: number): void {
    if (horizonMs <= sensor.finalBeforeMs) return;
    sensor.finalBeforeMs = horizonMs;
    this.finalizedSince.set(sensor.sensorId, horizonMs);
    const held = sensor.held;
    let n = 0;
    while (n < held.length && held[n]!.startMs < horizonMs) {
      const window = held[n++]!;
      sensor.capacityHint = Math.min(4_096, Math.max(1, window.count));
      this.finalize(window);
    }
    if (n > 0) held.splice(0, n);
  }

  /** Forgets the sensor; its held windows become final (emitted if changed since their last emission). */
  private evict(sensor: SensorState): void {
    for (const window of sensor.held) this.finalize(window);
    sensor.held.length = 0;
    this.sensors.delete(sensor.sensorId);
    this.finalizedSince.set(sensor.sensorId, Number.POSITIVE_INFINITY);
    this.evictedTotal++;
  }

  private finalize(window: HeldWindow): void {
    window.final = true;
    if (window.dirty) this.queue(window);
    else if (!window.queued) this.release(window);
  }

  /** Queues the window for the next drain if it changed since its last emission. */
  private queue(window: HeldWindow): void {
    if (!window.dirty || window.queued) return;
    window.queued = true;
    this.pending.push(window);
  }

  private release(window: HeldWindow): void {
    this.openWindows--;
    this.bufferedReadings -= window.count;
  }

  private emitPending(nowMs: number): WindowRecord[] {
    const queued = this.pending;
    if (queued.length === 0) return [];
    this.pending = [];
    queued.sort((a, b) => a.startMs - b.startMs || a.sensorId - b.sensorId);
    const records = new Array<WindowRecord>(queued.length);
    for (let i = 0; i < queued.length; i++) {
      const window = queued[i]!;
      records[i] = this.toRecord(window, nowMs);
      window.dirty = false;
      window.queued = false;
      if (window.final) this.release(window);
    }
    return records;
  }

  private toRecord(window: HeldWindow, nowMs: number): WindowRecord {
    let { times, values } = window;
    const count = window.count;
    if (!window.inOrder) {
      const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => times[a]! - times[b]!);
      const sortedTimes = new Float64Array(count);
      const sortedValues = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        sortedTimes[i] = times[order[i]!]!;
        sortedValues[i] = values[order[i]!]!;
      }
      times = sortedTimes;
      values = sortedValues;
    }
    const { slotMs } = this.options;
    const { slotSums, slotCounts, slotCount } = this;
    slotSums.fill(0);
    slotCounts.fill(0);
    const startMs = window.startMs;
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
function insertReading(window: HeldWindow, eventTimeMs: number, value: number): boolean {
  if (eventTimeMs > window.maxEventMs) {
    window.maxEventMs = eventTimeMs;
    window.seen?.add(eventTimeMs);
  } else {
    if (eventTimeMs === window.maxEventMs) return false; // the common redelivery, without building `seen`
    window.seen ??= new Set(window.times.subarray(0, window.count));
    if (window.seen.has(eventTimeMs)) return false;
    window.seen.add(eventTimeMs);
    window.inOrder = false;
  }
  const n = window.count;
  if (n === window.times.length) {
    const times = new Float64Array(n * 2);
    const values = new Float64Array(n * 2);
    times.set(window.times);
    values.set(window.values);
    window.times = times;
    window.values = values;
  }
  window.times[n] = eventTimeMs;
  window.values[n] = value;
  window.count = n + 1;
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
