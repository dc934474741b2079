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

/** Epoch milliseconds on the wire: an Avro `long` tagged `timestamp-millis` (a Java reader gets an `Instant`). */
const epochMs = { type: "long", logicalType: "timestamp-millis" } as const;

/**
 * One field of a record: its wire and column name, its Avro type, and its PostgreSQL column type as drizzle
 * spells it (`getSQLType()`), or null when the table does not keep it.
 */
export interface RecordField {
  readonly name: string;
  readonly avro:
    | "int"
    | "long"
    | "double"
    | typeof epochMs
    | { readonly type: "array"; readonly items: "double" | "boolean" };
  readonly column: string | null;
}

/**
 * The fields of a closed event-time tumbling window for one sensor, in wire order: the one definition of a
 * window. `WindowRecord` (below), the Avro schema of the windows topic (packages/contracts/window-schema.ts) and the
 * `windows` row (packages/platform/db/store.ts) are derived from it; packages/platform/db/schema.test.ts checks the table's columns
 * against it. `name` is the Avro field and the column name (snake_case), the key the TypeScript name.
 *
 * Aggregates are computed over the distinct readings in event-time order, so the same readings give
 * bit-identical windows whatever their arrival order.
 */
export const windowFields = {
  /** The sensor: an Avro long, although the table's integer column holds 32 bits. */
  sensorId: { name: "sensor_id", avro: "long", column: "integer" },
  /** Inclusive start, epoch ms, aligned to `windowMs`. */
  windowStartMs: { name: "window_start", avro: epochMs, column: "timestamp with time zone" },
  /** Exclusive end, epoch ms. */
  windowEndMs: { name: "window_end", avro: epochMs, column: "timestamp with time zone" },
  /** Distinct readings (duplicates of sensor + event time count once). */
  count: { name: "count", avro: "int", column: "integer" },
  /** Sum of the distinct readings' values, watts. */
  sum: { name: "sum", avro: "double", column: "double precision" },
  /** Their mean, watts. */
  mean: { name: "mean", avro: "double", column: "double precision" },
  /** Their smallest value, watts. */
  min: { name: "min", avro: "double", column: "double precision" },
  /** Their largest value, watts. */
  max: { name: "max", avro: "double", column: "double precision" },
  /** Event time of the first and the last reading, epoch ms. */
  firstEventMs: { name: "first_event", avro: epochMs, column: "timestamp with time zone" },
  lastEventMs: { name: "last_event", avro: epochMs, column: "timestamp with time zone" },
  /** 60 one-second slot values: the mean of the readings in that second, or the window mean where none. */
  slots: { name: "slots", avro: { type: "array", items: "double" }, column: "double precision[]" },
  /** `imputed[i]` is true when slot i had no reading and holds the window mean. */
  imputed: { name: "imputed", avro: { type: "array", items: "boolean" }, column: "boolean[]" },
  /** Readings dropped as duplicates of one already in this window. */
  duplicates: { name: "duplicates", avro: "int", column: "integer" },
  /**
   * Latest message_creation_time among its readings (epoch ms), for end-to-end latency; 0 when unknown.
   * A plain long, not a timestamp (0 is no instant); the table does not keep it.
   */
  maxCreatedAtMs: { name: "max_created_at", avro: "long", column: null },
  /** When the windower emitted it, epoch ms (processing time). */
  emittedAtMs: { name: "emitted_at", avro: epochMs, column: "timestamp with time zone" },
} as const satisfies Record<string, RecordField>;

/** The TypeScript value of an Avro type: numbers, or arrays of them or of booleans. */
type ValueOf<A extends RecordField["avro"]> = A extends { type: "array"; items: "boolean" }
  ? boolean[]
  : A extends { type: "array" }
    ? number[]
    : number;

/** A closed event-time tumbling window for one sensor (fields and their meaning: `windowFields`). */
export type WindowRecord = {
  -readonly [K in keyof typeof windowFields]: ValueOf<(typeof windowFields)[K]["avro"]>;
};

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
  | "too_many_sensors"
  /** A record of the readings or windows log its codec rejects (packages/logs/log.ts): written by a foreign producer. */
  | "undecodable";

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
