/**
 * What the agent schedules: one pull-based stream per sensor. Each reading carries the sensor-clock time at
 * which the sensor sends it (`dueMs`), which equals its event time for in-order sources and is later for the
 * disordered workload, so one scheduler can drive both without per-sensor timers.
 */
import type { Reading } from "@energy/contracts/records.ts";

export interface Emission {
  readonly reading: Reading;
  /** Sensor-clock time (epoch ms, same axis as event time) at which the sensor sends this reading. */
  readonly dueMs: number;
}

export interface SensorStream {
  readonly sensorId: number;
  /** True when readings come in event-time order, which lets a batching sensor promise `complete`. */
  readonly ordered: boolean;
  /** The next emission without consuming it; undefined once the source is exhausted. */
  peek(): Emission | undefined;
  /** Consumes the emission `peek` returned. */
  take(): Emission | undefined;
}

/** Wraps an iterator of emissions with the one-item lookahead the scheduler needs. */
export function streamFromEmissions(
  sensorId: number,
  ordered: boolean,
  emissions: Iterator<Emission>,
): SensorStream {
  let head: Emission | undefined;
  let done = false;
  const fill = () => {
    if (head === undefined && !done) {
      const r = emissions.next();
      if (r.done) done = true;
      else head = r.value;
    }
  };
  return {
    sensorId,
    ordered,
    peek() {
      fill();
      return head;
    },
    take() {
      fill();
      const h = head;
      head = undefined;
      return h;
    },
  };
}

/**
 * Emissions for readings replayed in the given order. A reading older than one already sent is sent
 * straight away (due at the newest event time seen), as a sensor replaying a disordered trace would.
 * An iterator class, not a generator function: the agent pulls every reading of every sensor through it,
 * and resuming a generator per reading was a tenth of the edge's CPU (profile, 10,000 sensors × 10/s).
 */
export function emitInReplayOrder(readings: Iterable<Reading>): Iterator<Emission> {
  return new ReplayOrder(readings[Symbol.iterator]());
}

class ReplayOrder implements Iterator<Emission> {
  private clock = Number.NEGATIVE_INFINITY;

  constructor(private readonly readings: Iterator<Reading>) {}

  next(): IteratorResult<Emission> {
    const r = this.readings.next();
    if (r.done) return { done: true, value: undefined };
    const reading = r.value;
    if (reading.eventTimeMs > this.clock) this.clock = reading.eventTimeMs;
    return { done: false, value: { reading, dueMs: this.clock } };
  }
}
