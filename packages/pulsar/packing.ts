/**
 * The packed-message format: many records in one Pulsar message, written by `PulsarProducer` with
 * `packing` and split back into records by `PulsarConsumer`. In production the readings log packs its
 * internal readings topic (`PULSAR_READINGS_PACKING`, docs/pulsar-readings-topic.md); the windows topic,
 * read by other clients, never packs.
 *
 * Why we pack at all: the WebSocket API takes exactly one message per frame, and each frame costs the
 * broker's WebSocket proxy a JSON parse, a base64 decode, a send through its internal Java client and a
 * JSON ack, and the same again to deliver and ack it on the consumer side. That per-message cost, not
 * Bun, bounds our client. Measured (docs/pulsar-readings-topic.md, `bun run bench pulsar`, 2026-11-30):
 * broker CPU per unpacked message 61 µs produced and 126 µs consumed, per record in packs 6.0 and 4.8 µs;
 * 47,034 vs 9,614 records/s produced, 33,922 vs 4,549 consumed; the readings log alone 10,339 vs 1,638
 * records/s (`bun run bench pulsar-log`). Pulsar's own batching (the binary protocol's batch
 * entries) cannot be built through the WebSocket API, so we carry the batch in the payload instead. Only
 * our consumer understands it: pack only topics that only our code reads (a Java or Python consumer
 * would see one opaque message).
 *
 * @example
 * decodePacked(encodePacked([{ payload: bytes, eventTime: 1_700_000_000_000 }]))[0].eventTime // 1_700_000_000_000
 */
import { PipelineError } from "@energy/contracts/errors.ts";

/** Message property that marks a packed message (value: the format version). */
export const packedProperty = "pulsar-ts-packed";
export const packedVersion = "1";

/** One record inside a packed message. */
export interface PackedRecord {
  payload: Uint8Array;
  /**
   * The record's own key, when a pack holds records of many keys (the readings log packs per partition);
   * absent, the record has the packed message's key.
   */
  key?: string;
  /** Epoch ms. */
  eventTime?: number;
  properties?: Record<string, string>;
}

const hasEventTime = 1;
const hasProperties = 2;
const hasKey = 4;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * Packed message layout (version 1, little-endian): u32 record count, then per record u8 flags
 * (1 = event time, 2 = properties, 4 = key), u32 payload length, payload, [f64 event time ms],
 * [u32 length, UTF-8 JSON of the properties], [u32 length, UTF-8 key]. Flag 4 was added later; packs
 * without it read as before.
 */
export function encodePacked(records: readonly PackedRecord[]): Uint8Array {
  const props = records.map((r) => (r.properties ? utf8.encode(JSON.stringify(r.properties)) : undefined));
  const keys = records.map((r) => (r.key === undefined ? undefined : utf8.encode(r.key)));
  let size = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    size += 5 + r.payload.byteLength + (r.eventTime === undefined ? 0 : 8);
    const p = props[i];
    if (p) size += 4 + p.byteLength;
    const k = keys[i];
    if (k) size += 4 + k.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, records.length, true);
  let at = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const p = props[i];
    const k = keys[i];
    view.setUint8(
      at,
      (r.eventTime === undefined ? 0 : hasEventTime) | (p ? hasProperties : 0) | (k ? hasKey : 0),
    );
    view.setUint32(at + 1, r.payload.byteLength, true);
    out.set(r.payload, at + 5);
    at += 5 + r.payload.byteLength;
    if (r.eventTime !== undefined) {
      view.setFloat64(at, r.eventTime, true);
      at += 8;
    }
    if (p) {
      view.setUint32(at, p.byteLength, true);
      out.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    if (k) {
      view.setUint32(at, k.byteLength, true);
      out.set(k, at + 4);
      at += 4 + k.byteLength;
    }
  }
  return out;
}

/** The records of a packed message; a `validation` PipelineError when the bytes are not one. */
export function decodePacked(bytes: Uint8Array): PackedRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const truncated = (at: number) =>
    new PipelineError("validation", `packed message of ${bytes.byteLength} bytes is truncated at byte ${at}`);
  if (bytes.byteLength < 4) throw truncated(0);
  const count = view.getUint32(0, true);
  const records: PackedRecord[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 5 > bytes.byteLength) throw truncated(at);
    const flags = view.getUint8(at);
    const length = view.getUint32(at + 1, true);
    at += 5;
    if (at + length > bytes.byteLength) throw truncated(at);
    const record: PackedRecord = { payload: bytes.subarray(at, at + length) };
    at += length;
    if (flags & hasEventTime) {
      if (at + 8 > bytes.byteLength) throw truncated(at);
      record.eventTime = view.getFloat64(at, true);
      at += 8;
    }
    if (flags & hasProperties) {
      if (at + 4 > bytes.byteLength) throw truncated(at);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.byteLength) throw truncated(at);
      try {
        record.properties = JSON.parse(utf8Decoder.decode(bytes.subarray(at + 4, at + 4 + n)));
      } catch (cause) {
        throw new PipelineError("validation", `packed record ${i} has unreadable properties`, { cause });
      }
      at += 4 + n;
    }
    if (flags & hasKey) {
      if (at + 4 > bytes.byteLength) throw truncated(at);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.byteLength) throw truncated(at);
      record.key = utf8Decoder.decode(bytes.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    records.push(record);
  }
  if (at !== bytes.byteLength) {
    throw new PipelineError(
      "validation",
      `packed message has ${bytes.byteLength - at} bytes after its ${count} records`,
    );
  }
  return records;
}
