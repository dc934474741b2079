/**
 * Hostile MQTT messages for the chaos bench, pure and deterministic: the poison messages of issue 11
 * (event time 1e13, sensor id ≥ 2³¹, a NUL payload, a `complete` batch ending at 1e300) and the adversarial
 * inputs of the quality bar (extremes, control bytes, huge and empty payloads, odd topic ids). Each one
 * must be rejected with exactly one dead letter; none is a valid reading.
 *
 * Messages that carry a plausible event time use sensor ids from `hostileIdBase` up, never a fleet id, so a
 * hostile message accepted by mistake shows as a stored window of a foreign sensor instead of colliding
 * with a valid reading. The poison kinds that move a sensor's state (1e13, the 1e300 batch) target fleet
 * ids on purpose: that is where they do harm.
 */
import { mulberry32 } from "@energy/platform/random.ts";

export const hostileIdBase = 900_000;

export interface HostileMessage {
  kind: HostileKind;
  topic: string;
  payload: Uint8Array;
}

/** The poison issue 11 reproduced. */
const issue11Kinds = [
  "poison_event_time_1e13",
  "poison_batch_entry_1e13",
  "poison_sensor_id_2pow31",
  "poison_nul_payload",
  "poison_batch_complete_1e300",
  "value_negative_50kw",
  "value_1e300",
] as const;

const oddTopicIdKinds = ["topic_id_1e3", "topic_id_hex", "topic_id_spaces", "topic_id_empty"] as const;

export const hostileKinds = [
  ...issue11Kinds,
  "value_nan_string",
  ...oddTopicIdKinds,
  "topic_id_float",
  "topic_payload_mismatch",
  "control_bytes",
  "invalid_utf8",
  "empty_payload",
  "not_json",
  "json_not_object",
  "json_empty_object",
  "event_time_negative",
  "event_time_garbage_string",
  "too_large",
] as const;
export type HostileKind = (typeof hostileKinds)[number];

/** The subset issue 11 reproduced: the --quick run sends only these (plus the odd topic ids). */
export const poisonKinds: readonly HostileKind[] = [...issue11Kinds, ...oddTopicIdKinds];

const encoder = new TextEncoder();
const json = (v: unknown) => encoder.encode(JSON.stringify(v));

export interface HostileContext {
  prefix: string;
  /** Now, epoch seconds (plausible event times). */
  nowS: number;
  /** Fleet sensor ids the state-moving poison targets. */
  fleetIds: readonly number[];
  /** MAX_MESSAGE_BYTES of the core: too_large payloads are one byte more. */
  maxMessageBytes: number;
}

/** Message `i` of kind `kind`; `rand` varies ids and bytes. */
export function hostileMessage(
  kind: HostileKind,
  i: number,
  c: HostileContext,
  rand: () => number,
): HostileMessage {
  const hid = hostileIdBase + (i % 1000);
  const fleetId = c.fleetIds[Math.floor(rand() * c.fleetIds.length)] ?? 1;
  const reading = (topicId: string, body: Record<string, unknown>): HostileMessage => ({
    kind,
    topic: `${c.prefix}/${topicId}/reading`,
    payload: json(body),
  });
  const plain = (id: number, extra: Record<string, unknown> = {}) => ({
    sensor_id: id,
    sensor_energy_value: 5,
    sensor_timestamp: c.nowS,
    message_creation_time: c.nowS * 1000,
    ...extra,
  });
  switch (kind) {
    case "poison_event_time_1e13":
      return reading(String(fleetId), plain(fleetId, { sensor_timestamp: 1e13 }));
    case "poison_batch_entry_1e13":
      return {
        kind,
        topic: `${c.prefix}/${fleetId}/batch`,
        payload: json({
          sensor_id: fleetId,
          interval_start: c.nowS - 60,
          interval_end: c.nowS,
          message_creation_time: c.nowS * 1000,
          readings: [[1e13, 5]],
        }),
      };
    case "poison_sensor_id_2pow31": {
      const id = 3_000_000_000 + (i % 1000);
      return reading(String(id), plain(id));
    }
    case "poison_nul_payload":
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload: new Uint8Array([0]) };
    case "poison_batch_complete_1e300":
      return {
        kind,
        topic: `${c.prefix}/${fleetId}/batch`,
        payload: json({
          sensor_id: fleetId,
          interval_start: c.nowS,
          interval_end: 1e300,
          message_creation_time: c.nowS * 1000,
          readings: [],
          complete: true,
        }),
      };
    case "value_negative_50kw":
      return reading(String(hid), plain(hid, { sensor_energy_value: -50_000 }));
    case "value_1e300":
      return reading(String(hid), plain(hid, { sensor_energy_value: 1e300 }));
    case "value_nan_string":
      return reading(String(hid), plain(hid, { sensor_energy_value: "NaN" }));
    case "topic_id_1e3":
      // exponent notation in the topic level: today it aliases sensor 900000
      return reading("9e5", plain(900_000));
    case "topic_id_hex":
      return reading("0xdbba0", plain(900_000));
    case "topic_id_spaces":
      return reading(` ${hid} `, plain(hid));
    case "topic_id_empty":
      return reading("", plain(0));
    case "topic_id_float":
      return reading(`${hid}.5`, plain(hid + 0.5));
    case "topic_payload_mismatch":
      return reading(String(hid), plain(hid + 1));
    case "control_bytes": {
      const n = 1 + Math.floor(rand() * 64);
      const bytes = new Uint8Array(n);
      for (let k = 0; k < n; k++) bytes[k] = Math.floor(rand() * 32);
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload: bytes };
    }
    case "invalid_utf8":
      return {
        kind,
        topic: `${c.prefix}/${hid}/reading`,
        payload: new Uint8Array([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d]),
      };
    case "empty_payload":
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload: new Uint8Array(0) };
    case "not_json":
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload: encoder.encode('{"sensor_id": 9') };
    case "json_not_object":
      return {
        kind,
        topic: `${c.prefix}/${hid}/reading`,
        payload: encoder.encode(["[]", "null", '"x"', "42"][i % 4]!),
      };
    case "json_empty_object":
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload: encoder.encode("{}") };
    case "event_time_negative":
      return reading(String(hid), plain(hid, { sensor_timestamp: -1 }));
    case "event_time_garbage_string":
      return reading(String(hid), plain(hid, { sensor_timestamp: "2025-13-45 25:61:00" }));
    case "too_large": {
      const payload = new Uint8Array(c.maxMessageBytes + 1).fill(0x61);
      return { kind, topic: `${c.prefix}/${hid}/reading`, payload };
    }
  }
}

/**
 * `count` hostile messages cycling through `kinds` (too_large at most `maxLarge` times, the rest
 * spread evenly), deterministic for a seed.
 */
export function hostileMessages(
  count: number,
  kinds: readonly HostileKind[],
  c: HostileContext,
  seed = 1,
  maxLarge = 20,
): HostileMessage[] {
  const rand = mulberry32(seed);
  const out: HostileMessage[] = [];
  const occurrences = Math.ceil(count / kinds.length);
  const stride = Math.max(1, Math.ceil(occurrences / maxLarge));
  let largeSeen = 0;
  for (let i = 0; out.length < count; i++) {
    let kind = kinds[i % kinds.length]!;
    if (kind === "too_large" && largeSeen++ % stride !== 0) kind = "not_json";
    out.push(hostileMessage(kind, i, c, rand));
  }
  return out;
}
