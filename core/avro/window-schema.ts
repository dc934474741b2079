/**
 * The Avro schema of the windows topic, registered in Pulsar's schema registry so that a Java or Python
 * consumer reads our windows with its own Avro schema. Field names are snake_case (Avro / SQL convention,
 * and the column names downstream); `WindowRecord` keeps its camelCase TypeScript names.
 *
 * Timestamps are epoch-ms `long`s tagged `timestamp-millis`: we do not register avsc logical types, so
 * avsc reads and writes plain numbers, while a Java reader gets `Instant`s.
 *
 * @example
 * const bytes = encodeWindow(window);
 * decodeWindow(bytes); // equal to window
 * await admin.uploadSchema(topic, { type: "AVRO", schema: windowSchemaJson });
 */
import avro from "avsc";
import { PipelineError } from "../../lib/errors.ts";
import type { WindowRecord } from "../../lib/records.ts";

const timestampMillis = { type: "long", logicalType: "timestamp-millis" } as const;

/** The schema as data; `windowSchemaJson` is its text, the form Pulsar stores. */
export const windowSchema = {
  type: "record",
  name: "WindowRecord",
  namespace: "energy",
  doc: "A closed event-time tumbling window of one sensor's readings (see lib/records.ts)",
  fields: [
    { name: "sensor_id", type: "long" },
    { name: "window_start", type: timestampMillis },
    { name: "window_end", type: timestampMillis },
    { name: "count", type: "int" },
    { name: "sum", type: "double" },
    { name: "mean", type: "double" },
    { name: "min", type: "double" },
    { name: "max", type: "double" },
    { name: "first_event", type: timestampMillis },
    { name: "last_event", type: timestampMillis },
    { name: "slots", type: { type: "array", items: "double" } },
    { name: "imputed", type: { type: "array", items: "boolean" } },
    { name: "duplicates", type: "int" },
    { name: "max_created_at", type: "long" },
    { name: "emitted_at", type: timestampMillis },
  ],
} as const;

export const windowSchemaJson: string = JSON.stringify(windowSchema);

const windowType = avro.Type.forSchema(windowSchema as unknown as avro.Schema);

/** The Avro form of a window (field names as in the schema). */
interface AvroWindow {
  sensor_id: number;
  window_start: number;
  window_end: number;
  count: number;
  sum: number;
  mean: number;
  min: number;
  max: number;
  first_event: number;
  last_event: number;
  slots: number[];
  imputed: boolean[];
  duplicates: number;
  max_created_at: number;
  emitted_at: number;
}

/** Avro binary encoding of a window; a field the schema cannot hold is a `validation` PipelineError naming it. */
export function encodeWindow(w: WindowRecord): Uint8Array {
  const value: AvroWindow = {
    sensor_id: w.sensorId,
    window_start: w.windowStartMs,
    window_end: w.windowEndMs,
    count: w.count,
    sum: w.sum,
    mean: w.mean,
    min: w.min,
    max: w.max,
    first_event: w.firstEventMs,
    last_event: w.lastEventMs,
    slots: w.slots,
    imputed: w.imputed,
    duplicates: w.duplicates,
    max_created_at: w.maxCreatedAtMs,
    emitted_at: w.emittedAtMs,
  };
  const bad: string[] = [];
  const valid = windowType.isValid(value, {
    errorHook: (path: string[], got: unknown) => bad.push(`${path.join(".")}=${String(got)}`),
  });
  if (!valid) {
    throw new PipelineError(
      "validation",
      `window of sensor ${w.sensorId} at ${w.windowStartMs} does not fit the Avro schema: ${bad.join(", ")}`,
      { hint: "longs must be safe integers, count and duplicates 32-bit ints" },
    );
  }
  const buf = windowType.toBuffer(value);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Decodes an Avro-encoded window; bytes that are not one (truncated, trailing data) are a `validation` error. */
export function decodeWindow(bytes: Uint8Array): WindowRecord {
  let v: AvroWindow;
  try {
    v = windowType.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as AvroWindow;
  } catch (cause) {
    throw new PipelineError(
      "validation",
      `${bytes.byteLength} bytes are not an Avro energy.WindowRecord: ${(cause as Error).message}`,
      { hint: "was it written with windowSchemaJson (core/avro/window-schema.ts)?", cause },
    );
  }
  return {
    sensorId: v.sensor_id,
    windowStartMs: v.window_start,
    windowEndMs: v.window_end,
    count: v.count,
    sum: v.sum,
    mean: v.mean,
    min: v.min,
    max: v.max,
    firstEventMs: v.first_event,
    lastEventMs: v.last_event,
    slots: v.slots,
    imputed: v.imputed,
    duplicates: v.duplicates,
    maxCreatedAtMs: v.max_created_at,
    emittedAtMs: v.emitted_at,
  };
}

/** The codec a `RecordLog<WindowRecord>` on Pulsar uses (core/pulsar/log.ts). */
export const windowCodec = { encode: encodeWindow, decode: decodeWindow } as const;
