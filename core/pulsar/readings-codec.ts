/**
 * JSON codec of the readings log: one `ReadingsRecord` per message. JSON, not Avro, because only our own
 * windower reads this topic and a record is small; the windows topic, read by other languages, is Avro.
 *
 * @example
 * const log = await createPulsarLog({ name: "readings", topic, partitions: 8, codec: readingsCodec });
 */
import { PipelineError } from "../../lib/errors.ts";
import type { ReadingsRecord } from "../../lib/records.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const readingsCodec = {
  encode(record: ReadingsRecord): Uint8Array {
    return encoder.encode(JSON.stringify(record));
  },
  /** Rejects (`validation` PipelineError) anything that is not a ReadingsRecord's JSON. */
  decode(bytes: Uint8Array): ReadingsRecord {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(bytes));
    } catch (cause) {
      throw new PipelineError("validation", `${bytes.byteLength} bytes are not a JSON readings record`, {
        cause,
      });
    }
    const r = value as ReadingsRecord;
    if (
      !r ||
      typeof r !== "object" ||
      !Number.isInteger(r.sensorId) ||
      !Array.isArray(r.readings) ||
      !r.readings.every(
        (x) =>
          x &&
          typeof x === "object" &&
          x.sensorId === r.sensorId &&
          Number.isFinite(x.eventTimeMs) &&
          typeof x.value === "number",
      ) ||
      (r.watermarkMs !== undefined && !Number.isFinite(r.watermarkMs))
    ) {
      throw new PipelineError(
        "validation",
        `readings record ${JSON.stringify(value).slice(0, 200)} does not have the ReadingsRecord shape`,
        { hint: "sensorId (integer), readings [{sensorId, eventTimeMs, value, createdAtMs?}], watermarkMs?" },
      );
    }
    return r;
  },
} as const;
