/**
 * The contracts between the stages (edge → MQTT → core → log → ml → PostgreSQL). Kept in one module so
 * every stage agrees on field names and units; see docs/messages.md for the wire forms.
 */

/** MQTT topic layout: `{prefix}/{sensorId}/reading` (architecture A) and `{prefix}/{sensorId}/batch` (B). */
export const defaultTopicPrefix = "sensors";
export type MessageKind = "reading" | "batch";

export function sensorTopic(prefix: string, sensorId: number, kind: MessageKind): string {
  return `${prefix}/${sensorId}/${kind}`;
}

/**
 * Streaming message (architecture A), compatible with the original study:
 * one MQTT message per reading. `sensor_timestamp` is event time in epoch seconds (or an ISO-8601 string),
 * `message_creation_time` is the sensor's send time in epoch milliseconds (for latency measurement).
 */
export interface StreamingMessage {
  sensor_id: number;
  sensor_energy_value: number;
  sensor_timestamp: number | string;
  message_creation_time: number;
}

/**
 * Batch message (architecture B): one per sensor per interval.
 * `readings` are `[sensor_timestamp (epoch s), sensor_energy_value]` pairs in event-time order;
 * `interval_start`/`interval_end` (epoch s, end exclusive) bound what the sensor put in it. With
 * `complete: true` the sensor promises it will send no more readings older than `interval_end`
 * (it does the timing, so the core may close those windows without waiting for lateness).
 */
export interface BatchMessage {
  sensor_id: number;
  interval_start: number;
  interval_end: number;
  message_creation_time: number;
  readings: Array<[number, number]>;
  complete?: boolean;
}

/** One validated reading, in the units the core computes with. */
export interface Reading {
  readonly sensorId: number;
  /** Event time, epoch milliseconds (integer). */
  readonly eventTimeMs: number;
  /** Apparent power in watts. */
  readonly value: number;
  /** When the sensor created the message carrying it, epoch ms; undefined when the sender did not say. */
  readonly createdAtMs: number | undefined;
}

/** Width of a tumbling window and of its slots; the forecaster consumes the 60 one-second slots. */
export const windowMs = 60_000;
export const slotMs = 1_000;
export const slotsPerWindow = windowMs / slotMs;

/**
 * A closed event-time tumbling window for one sensor. Aggregates are computed over the distinct readings
 * in event-time order, so the same readings give bit-identical windows whatever their arrival order.
 */
export interface WindowRecord {
  sensorId: number;
  /** Inclusive start and exclusive end, epoch ms, aligned to `windowMs`. */
  windowStartMs: number;
  windowEndMs: number;
  /** Distinct readings (duplicates of sensor + event time count once). */
  count: number;
  sum: number;
  mean: number;
  min: number;
  max: number;
  firstEventMs: number;
  lastEventMs: number;
  /** 60 one-second slot values: the mean of the readings in that second, or the window mean where none. */
  slots: number[];
  /** `imputed[i]` is true when slot i had no reading and holds the window mean. */
  imputed: boolean[];
  /** Readings dropped as duplicates of one already in this window. */
  duplicates: number;
  /** Latest message_creation_time among its readings (epoch ms), for end-to-end latency; 0 when unknown. */
  maxCreatedAtMs: number;
  /** When the windower emitted it, epoch ms (processing time). */
  emittedAtMs: number;
}

/** A message the core could not accept, kept with its raw bytes so nothing is silently lost. */
export interface DeadLetter {
  /** Where it came from, e.g. the MQTT topic. */
  source: string;
  /** Bounded set of reasons (also the label of core_invalid_messages_total). */
  reason: RejectReason;
  detail: string;
  raw: Uint8Array;
  receivedAtMs: number;
}

export type RejectReason =
  | "too_large"
  | "not_json"
  | "bad_shape"
  | "bad_sensor_id"
  | "bad_value"
  | "bad_timestamp"
  | "timestamp_out_of_range"
  | "topic_mismatch"
  /** A finite value outside the plausible range (VALUE_MIN_W … VALUE_MAX_W). */
  | "out_of_range"
  | "late"
  /** Handling the message threw: a bug, kept with the error text so one message cannot stop the core. */
  | "internal_error"
  /** PostgreSQL refused the row (a data error, its message in the detail); the rows around it were stored. */
  | "store_rejected"
  /** A new sensor beyond MAX_SENSORS: the windower keeps no state for it. */
  | "too_many_sensors";

/**
 * One record of the readings log: the valid readings of one sensor message (1 for A, up to a minute's
 * worth for B) and, for a complete batch, the sensor's watermark. Keyed by sensor id, so a partitioned log
 * keeps each sensor's records in order.
 */
export interface ReadingsRecord {
  sensorId: number;
  readings: Reading[];
  watermarkMs?: number;
}
