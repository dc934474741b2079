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
import { PipelineError } from "./errors.ts";
import { type WindowRecord, windowFields } from "./records.ts";

type Fields = typeof windowFields;

/** The schema as data, derived from `windowFields`; `windowSchemaJson` is its text, the form Pulsar stores. */
export const windowSchema = {
  type: "record",
  name: "WindowRecord",
  namespace: "energy",
  // The doc is part of the registered text, so it keeps the path it was first registered with (the records
  // now live in records.ts beside this file): a new text would be a new schema version in every deployment.
  doc: "A closed event-time tumbling window of one sensor's readings (see lib/records.ts)",
  // Only name and type, in this order: the registered schema text (pinned in window-schema.test.ts) must
  // not change when a field's comment or column does.
  fields: Object.values(windowFields).map(({ name, avro }) => ({ name, type: avro })),
} as const;

export const windowSchemaJson: string = JSON.stringify(windowSchema);

const windowType = avro.Type.forSchema(windowSchema as unknown as avro.Schema);

/** The Avro form of a window: the same values under the schema's field names. */
type AvroWindow = { [K in keyof Fields as Fields[K]["name"]]: WindowRecord[K] };

/** [TypeScript key, Avro name] of every field, in schema order. */
const names = Object.entries(windowFields).map(([key, { name }]) => [key, name] as const);

function toAvro(w: WindowRecord): AvroWindow {
  const value: Record<string, unknown> = {};
  for (const [key, name] of names) value[name] = w[key as keyof WindowRecord];
  return value as AvroWindow;
}

function fromAvro(v: AvroWindow): WindowRecord {
  const w: Record<string, unknown> = {};
  for (const [key, name] of names) w[key] = v[name as keyof AvroWindow];
  return w as WindowRecord;
}

/** Avro binary encoding of a window; a field the schema cannot hold is a `validation` PipelineError naming it. */
export function encodeWindow(w: WindowRecord): Uint8Array {
  const value = toAvro(w);
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
      { hint: "was it written with windowSchemaJson (packages/contracts/window-schema.ts)?", cause },
    );
  }
  return fromAvro(v);
}

/** The codec a `RecordLog<WindowRecord>` on Pulsar uses (packages/logs/pulsar-log.ts). */
export const windowCodec = { encode: encodeWindow, decode: decodeWindow } as const;
