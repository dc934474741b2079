/**
 * JSON codec of the readings log: one `ReadingsRecord` per message. JSON, not Avro, because only our own
 * windower reads this topic and a record is small; the windows topic, read by other languages, is Avro.
 *
 * @example
 * const log = await createPulsarLog({ name: "readings", topic, partitions: 8, codec: readingsCodec });
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import type { ReadingsRecord } from "@energy/contracts/records.ts";

const encoder = new TextEncoder();
/** Date's range: a record beyond it (written by an older core, before validation bounded event times) would
 * throw `RangeError: Invalid Date` wherever its time is formatted, and be redelivered for ever. */
const maxDateMs = 8.64e15;
const isInstant = (v: unknown): v is number => Number.isSafeInteger(v) && Math.abs(v as number) <= maxDateMs;
const maxSensorId = 2 ** 31 - 1;
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
      r.sensorId < 0 ||
      r.sensorId > maxSensorId ||
      !Array.isArray(r.readings) ||
      !r.readings.every(
        (x) =>
          x &&
          typeof x === "object" &&
          x.sensorId === r.sensorId &&
          isInstant(x.eventTimeMs) &&
          typeof x.value === "number" &&
          Number.isFinite(x.value),
      ) ||
      (r.watermarkMs !== undefined && !isInstant(r.watermarkMs))
    ) {
      throw new PipelineError(
        "validation",
        `readings record ${JSON.stringify(value).slice(0, 200)} does not have the ReadingsRecord shape`,
        {
          hint: "sensorId (integer 0 … 2^31 − 1), readings [{sensorId, eventTimeMs (integer ms within Date's range), value (finite), createdAtMs?}], watermarkMs?",
        },
      );
    }
    return r;
  },
} as const;
