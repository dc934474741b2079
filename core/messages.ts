/**
 * Parse and validate the two sensor message kinds (streaming A, batch B) into readings or typed rejections.
 * Pure: bytes in, values out, and never a throw, whatever the bytes (a fast-check property test holds it
 * to that). Every field is range-checked before it is used: a reading that gets through has a canonical
 * sensor id equal to its topic's, an integer event time inside the window around the receive time, and a
 * finite value inside the plausible range. A bad batch entry rejects only that entry, so good readings in
 * the same batch still go through.
 */
import type {
  BatchMessage,
  DeadLetter,
  MessageKind,
  Reading,
  RejectReason,
} from "@energy/contracts/records.ts";

export interface ValidationLimits {
  /** Largest accepted message, bytes (MQTT allows 256 MB; a sensor never needs that). */
  maxMessageBytes: number;
  /** Event times (and a complete batch's interval) older than now − this are rejected (MAX_EVENT_AGE_S). */
  maxPastMs: number;
  /**
   * Event times later than now + this are rejected (MAX_CLOCK_SKEW_S): a sensor's clock may be a little
   * ahead, but a time in the future would move its watermark there and make its later readings late.
   */
  maxFutureMs: number;
  /** Largest number of readings one batch message may carry. */
  maxBatchReadings: number;
  /** Plausible range of a value, watts (VALUE_MIN_W / VALUE_MAX_W); outside it is `out_of_range`. */
  minValue: number;
  maxValue: number;
}

/** Sensor ids are stored in an `integer` column (`windows.sensor_id`): 1 … 2^31 − 1. */
export const maxSensorId = 2 ** 31 - 1;

export const defaultLimits: ValidationLimits = {
  maxMessageBytes: 256 * 1024,
  // Replays of the study's 2025 data are legitimate, so the past bound is generous (10 years).
  maxPastMs: 10 * 365 * 86_400_000,
  maxFutureMs: 300_000,
  maxBatchReadings: 10_000,
  // Apparent power (what the study's sensors report) is never negative; 1 MW is beyond any feeder we meter.
  minValue: 0,
  maxValue: 1_000_000,
};

export interface Rejection {
  reason: RejectReason;
  detail: string;
  /** The bytes to keep for this rejection when they are not the whole message's (a bad batch entry's). */
  raw?: Uint8Array;
  /** How many entries this one rejection stands for (a batch's unlisted bad entries); 1 when absent. */
  count?: number;
}

/** Bad entries of one batch listed one by one; beyond, one rejection per reason counts the rest. */
export const maxListedEntryRejections = 100;

export interface ParseResult {
  readings: Reading[];
  /** Problems found; for a batch, one per bad entry (the good ones are in `readings`). */
  rejections: readonly Rejection[];
  /** A batch's promise that the sensor will send nothing older than this (epoch ms), see BatchMessage. */
  watermarkMs?: number;
  sensorId?: number;
}

/**
 * A sensor id as a topic level: canonical decimal digits (no sign, exponent, hex, spaces or leading zeros)
 * within 1 … 2^31 − 1. Anything looser lets `1e3`, `0x10` or ` 7 ` alias sensors 1000, 16 and 7 and slip
 * past per-topic broker ACLs. 0 is refused: the model registry uses sensor 0 for the shared model.
 */
export function parseSensorIdLevel(level: string): number | undefined {
  return sensorIdBetween(level, 0, level.length);
}

/** `parseSensorIdLevel` of `text[start, end)`, without cutting it out: /^[1-9][0-9]{0,9}$/, then ≤ 2^31 − 1. */
function sensorIdBetween(text: string, start: number, end: number): number | undefined {
  if (end - start < 1 || end - start > 10) return undefined;
  let id = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9 || (digit === 0 && i === start)) return undefined;
    id = id * 10 + digit;
  }
  return id <= maxSensorId ? id : undefined;
}

/** The kind and the sensor id level of a topic of our shape `{prefix}/{sensorId}/{kind}`, else undefined. */
function topicLevels(topic: string): { kind: MessageKind; idLevel: string } | undefined {
  const parts = topic.split("/");
  const kind = parts[parts.length - 1];
  if (parts.length < 3 || (kind !== "reading" && kind !== "batch")) return undefined;
  return { kind, idLevel: parts[parts.length - 2]! };
}

/**
 * An MQTT sensor topic `{prefix}/{sensorId}/{kind}` (packages/contracts/records.ts's `sensorTopic`) → its
 * parts, or undefined when it is not one of ours. Read in place (no split, no regular expression): it runs
 * for every MQTT message. Pulsar topic names are packages/pulsar/topic.ts's `parseTopic`.
 */
export function parseSensorTopic(topic: string): { sensorId: number; kind: MessageKind } | undefined {
  const kindAt = topic.lastIndexOf("/");
  if (kindAt <= 0) return undefined;
  const idAt = topic.lastIndexOf("/", kindAt - 1);
  if (idAt < 0) return undefined;
  const kindLength = topic.length - kindAt - 1;
  const kind: MessageKind | undefined =
    kindLength === 7 && topic.startsWith("reading", kindAt + 1)
      ? "reading"
      : kindLength === 5 && topic.startsWith("batch", kindAt + 1)
        ? "batch"
        : undefined;
  if (kind === undefined) return undefined;
  const id = sensorIdBetween(topic, idAt + 1, kindAt);
  return id === undefined ? undefined : { sensorId: id, kind };
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
const isoPattern = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$/;
/** JavaScript's Date range; anything beyond cannot be formatted (RangeError: Invalid Date). */
const maxDateMs = 8.64e15;

/** A bounded, never-throwing rendering of any value for a rejection's detail. */
export function preview(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

/** An epoch-ms instant for a detail, without ever throwing on a value outside Date's range. */
function instant(ms: number): string {
  return Math.abs(ms) <= maxDateMs ? new Date(ms).toISOString() : `${ms} ms`;
}

/**
 * Event time from epoch seconds (number) or an ISO-8601 string (naive = UTC, like the study's data), as
 * integer epoch ms. Only the form is checked here; `checkEventTime` checks the range.
 */
export function parseEventTime(value: unknown): number | Rejection {
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      return { reason: "bad_timestamp", detail: `timestamp ${value} is not finite` };
    const ms = Math.round(value * 1000);
    if (!Number.isSafeInteger(ms) || Math.abs(ms) > maxDateMs)
      return {
        reason: "timestamp_out_of_range",
        detail: `timestamp ${value} s is outside any plausible time (epoch seconds expected)`,
      };
    return ms;
  }
  if (typeof value === "string" && value.length <= 40 && isoPattern.test(value.trim())) {
    let text = value.trim().replace(" ", "T");
    if (!/(Z|[+-]\d{2}(:?\d{2})?)$/.test(text)) text += "Z";
    else if (/[+-]\d{2}$/.test(text)) text += ":00";
    const ms = Date.parse(text);
    if (Number.isSafeInteger(ms)) return ms;
  }
  return {
    reason: "bad_timestamp",
    detail: `sensor_timestamp ${preview(value)} is neither epoch seconds nor ISO-8601`,
  };
}

function checkRange(
  ms: number,
  now: number,
  limits: ValidationLimits,
  what = "event time",
): Rejection | undefined {
  if (ms < now - limits.maxPastMs)
    return {
      reason: "timestamp_out_of_range",
      detail: `${what} ${instant(ms)} is more than ${limits.maxPastMs / 1000} s old (MAX_EVENT_AGE_S)`,
    };
  if (ms > now + limits.maxFutureMs)
    return {
      reason: "timestamp_out_of_range",
      detail: `${what} ${instant(ms)} is more than ${limits.maxFutureMs / 1000} s in the future (MAX_CLOCK_SKEW_S)`,
    };
  return undefined;
}

/** Event time parsed and range-checked. */
function checkEventTime(
  value: unknown,
  now: number,
  limits: ValidationLimits,
  what?: string,
): number | Rejection {
  const ms = parseEventTime(value);
  if (isRejection(ms)) return what ? { ...ms, detail: `${what}: ${ms.detail}` } : ms;
  return checkRange(ms, now, limits, what) ?? ms;
}

/** A value, watts: a finite number within the plausible range. */
function checkValue(value: unknown, limits: ValidationLimits, what: string): number | Rejection {
  if (typeof value !== "number" || !Number.isFinite(value))
    return { reason: "bad_value", detail: `${what} ${preview(value)} is not a finite number` };
  if (value < limits.minValue || value > limits.maxValue)
    return {
      reason: "out_of_range",
      detail: `${what} ${value} W is outside ${limits.minValue} … ${limits.maxValue} W (VALUE_MIN_W, VALUE_MAX_W)`,
    };
  return value;
}

/**
 * message_creation_time only feeds the latency metrics: one outside the event-time window is ignored
 * (treated as unknown) rather than rejecting a reading that is otherwise fine.
 */
function createdAt(value: unknown, now: number, limits: ValidationLimits): number | undefined {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) return undefined;
  return value >= now - limits.maxPastMs && value <= now + limits.maxFutureMs ? value : undefined;
}

const isRejection = (v: number | Rejection): v is Rejection => typeof v === "object";

type JsonResult = { ok: true; value: unknown } | { ok: false; rejection: Rejection };

function parseJson(raw: Uint8Array, limits: ValidationLimits): JsonResult {
  if (raw.byteLength > limits.maxMessageBytes)
    return {
      ok: false,
      rejection: { reason: "too_large", detail: `${raw.byteLength} bytes > limit ${limits.maxMessageBytes}` },
    };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(raw)) };
  } catch (error) {
    return {
      ok: false,
      rejection: { reason: "not_json", detail: error instanceof Error ? error.message : "unparseable" },
    };
  }
}

/** Why a message's envelope was refused; a class, so a body (any JSON object) can never be taken for one. */
class Refused {
  constructor(readonly rejection: Rejection) {}
}

/** A valid message's result holds no rejection: one shared, frozen empty list rather than one per message. */
const noRejections: readonly Rejection[] = Object.freeze([]);

/**
 * The checks both kinds share: size, JSON, an object, a sensor id equal to the topic's (so the topic's id
 * is the message's). `fast` may read the object without JSON.parse; it must give what JSON.parse would, or
 * undefined. The body itself on success: this runs for every message, and wrappers around it were a
 * quarter of a streaming message's allocations.
 */
function parseEnvelope(
  raw: Uint8Array,
  topicSensorId: number,
  limits: ValidationLimits,
  fast?: (raw: Uint8Array) => Record<string, unknown> | undefined,
): Record<string, unknown> | Refused {
  let body: unknown = raw.byteLength <= limits.maxMessageBytes ? fast?.(raw) : undefined;
  if (body === undefined) {
    const json = parseJson(raw, limits);
    if (!json.ok) return new Refused(json.rejection);
    body = json.value;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return new Refused({ reason: "bad_shape", detail: "message is not a JSON object" });
  const m = body as Record<string, unknown>;
  const id = m.sensor_id;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > maxSensorId)
    return new Refused({
      reason: "bad_sensor_id",
      detail: `sensor_id ${preview(id)} is not an integer in 1 … ${maxSensorId}`,
    });
  if (id !== topicSensorId)
    return new Refused({
      reason: "topic_mismatch",
      detail: `sensor_id ${id} published on the topic of sensor ${topicSensorId}`,
    });
  return m;
}

/** The keys of a StreamingMessage in the order the edge writes them (JSON.stringify of its object). */
const streamingKeys = [
  "sensor_id",
  "sensor_energy_value",
  "sensor_timestamp",
  "message_creation_time",
] as const;
const streamingKeyBytes = streamingKeys.map((key, i) => encoder.encode(`${i === 0 ? "{" : ","}"${key}":`));
/** 10^k for k ≤ 22: exact doubles, so a mantissa below 2^53 divided by one is the correctly rounded value. */
const exactPowersOfTen = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Where the number `plainNumberAt` read last ends (a variable, not a tuple per number). */
let plainNumberEnd = 0;

/**
 * A plain JSON number at `raw[at…]` (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`, no exponent, at most 15 significant
 * digits), its end in `plainNumberEnd`; NaN (never such a number's value) when there is none. Within those
 * bounds mantissa ÷ 10^fraction-digits is one correctly rounded division of exact doubles (Clinger's fast
 * path), the double JSON.parse gives.
 */
function plainNumberAt(raw: Uint8Array, at: number): number {
  let i = at;
  const negative = raw[i] === 0x2d;
  if (negative) i++;
  const first = i;
  let mantissa = 0;
  while (i < raw.length && raw[i]! >= 0x30 && raw[i]! <= 0x39) mantissa = mantissa * 10 + raw[i++]! - 0x30;
  const intDigits = i - first;
  if (intDigits === 0 || (intDigits > 1 && raw[first] === 0x30)) return Number.NaN;
  let fractionDigits = 0;
  if (raw[i] === 0x2e) {
    i++;
    while (i < raw.length && raw[i]! >= 0x30 && raw[i]! <= 0x39) {
      mantissa = mantissa * 10 + raw[i++]! - 0x30;
      fractionDigits++;
    }
    if (fractionDigits === 0) return Number.NaN;
  }
  if (intDigits + fractionDigits > 15 || raw[i] === 0x65 || raw[i] === 0x45) return Number.NaN;
  const magnitude = mantissa / exactPowersOfTen[fractionDigits]!;
  plainNumberEnd = i;
  return negative ? -magnitude : magnitude;
}

/** The four numbers of the message `edgeEncodedStreaming` reads, reused (it never runs twice at once). */
const streamingValues = new Float64Array(streamingKeys.length);

/**
 * The message as the edge encodes it, read straight from the bytes: exactly the four keys in the edge's
 * order, plain numbers, no whitespace. Anything else (other order, spacing, strings, exponents, more
 * digits, extra keys) is undefined and goes through TextDecoder + JSON.parse, so both ways accept the
 * same messages with the same values; this one skips a string and a parsed object per message.
 */
function edgeEncodedStreaming(raw: Uint8Array): Record<string, unknown> | undefined {
  const values = streamingValues;
  let at = 0;
  for (let n = 0; n < streamingKeyBytes.length; n++) {
    const key = streamingKeyBytes[n]!;
    if (at + key.length > raw.length) return undefined;
    for (let k = 0; k < key.length; k++) if (raw[at + k] !== key[k]) return undefined;
    const number = plainNumberAt(raw, at + key.length);
    if (Number.isNaN(number)) return undefined;
    values[n] = number;
    at = plainNumberEnd;
  }
  if (at !== raw.length - 1 || raw[at] !== 0x7d) return undefined;
  return {
    sensor_id: values[0],
    sensor_energy_value: values[1],
    sensor_timestamp: values[2],
    message_creation_time: values[3],
  };
}

/** One streaming message (architecture A) from the topic of sensor `topicSensorId`. */
export function parseStreamingMessage(
  raw: Uint8Array,
  topicSensorId: number,
  now: number,
  limits: ValidationLimits = defaultLimits,
): ParseResult {
  const m = parseEnvelope(raw, topicSensorId, limits, edgeEncodedStreaming);
  if (m instanceof Refused) return { readings: [], rejections: [m.rejection] };
  const sensorId = topicSensorId;
  const value = checkValue(m.sensor_energy_value, limits, "sensor_energy_value");
  if (isRejection(value)) return { readings: [], rejections: [value] };
  const eventTime = checkEventTime(m.sensor_timestamp, now, limits);
  if (isRejection(eventTime)) return { readings: [], rejections: [eventTime] };
  const createdAtMs = createdAt(m.message_creation_time, now, limits);
  return {
    readings: [{ sensorId, eventTimeMs: eventTime, value, createdAtMs }],
    rejections: noRejections,
    sensorId,
  };
}

/**
 * One batch message (architecture B); bad entries are rejected one by one. Its signature and envelope step
 * mirror parseStreamingMessage's on purpose: parseSensorMessage picks either by the topic's kind.
 */
export function parseBatchMessage(
  raw: Uint8Array,
  topicSensorId: number,
  now: number,
  limits: ValidationLimits = defaultLimits,
): ParseResult {
  const body = parseEnvelope(raw, topicSensorId, limits);
  if (body instanceof Refused) return { readings: [], rejections: [body.rejection] };
  const sensorId = topicSensorId;
  const m = body as Partial<Record<keyof BatchMessage, unknown>>;
  if (!Array.isArray(m.readings))
    return { readings: [], rejections: [{ reason: "bad_shape", detail: "batch has no readings array" }] };
  if (m.readings.length > limits.maxBatchReadings)
    return {
      readings: [],
      rejections: [
        { reason: "too_large", detail: `${m.readings.length} readings > limit ${limits.maxBatchReadings}` },
      ],
    };
  const createdAtMs = createdAt(m.message_creation_time, now, limits);
  const readings: Reading[] = [];
  const rejections: Rejection[] = [];
  // A bad entry keeps its own bytes, not the whole message's: 10,000 bad entries of a 256 KB batch would
  // otherwise write 2.5 GB of dead letters.
  const unlisted = new Map<RejectReason, number>();
  const reject = (r: Rejection, entry: unknown) => {
    if (rejections.length >= maxListedEntryRejections) {
      unlisted.set(r.reason, (unlisted.get(r.reason) ?? 0) + 1);
      return;
    }
    rejections.push({
      ...r,
      detail: `entry ${index}: ${r.detail}`,
      raw: encoder.encode(preview(entry, 1_000)),
    });
  };
  let index = -1;
  for (const entry of m.readings as unknown[]) {
    index++;
    if (!Array.isArray(entry) || entry.length !== 2) {
      reject(
        { reason: "bad_shape", detail: `batch entry ${preview(entry)} is not [timestamp, value]` },
        entry,
      );
      continue;
    }
    const value = checkValue(entry[1], limits, "value");
    if (isRejection(value)) {
      reject(value, entry);
      continue;
    }
    const eventTime = checkEventTime(entry[0], now, limits);
    if (isRejection(eventTime)) {
      reject(eventTime, entry);
      continue;
    }
    readings.push({ sensorId, eventTimeMs: eventTime, value, createdAtMs });
  }
  for (const [reason, count] of unlisted)
    rejections.push({
      reason,
      detail: `${count} more entries rejected as ${reason} (only the first ${maxListedEntryRejections} bad entries are listed one by one)`,
      count,
    });
  const result: ParseResult = { readings, rejections, sensorId };
  if (m.complete === true) {
    // The watermark is a promise about event time: it must lie in the same window as the readings, or one
    // message could move it years ahead and make every later reading of the sensor late.
    const end = checkEventTime(m.interval_end, now, limits, "interval_end");
    const start =
      m.interval_start === undefined
        ? undefined
        : checkEventTime(m.interval_start, now, limits, "interval_start");
    if (isRejection(end)) rejections.push(end);
    else if (start !== undefined && isRejection(start)) rejections.push(start);
    else if (start !== undefined && start > end)
      rejections.push({
        reason: "bad_timestamp",
        detail: `interval_start ${instant(start)} is after interval_end ${instant(end)}`,
      });
    else result.watermarkMs = end;
  }
  return result;
}

/** Parses a message by the kind its topic names. Unknown topics are rejected, not ignored. */
export function parseSensorMessage(
  topic: string,
  raw: Uint8Array,
  now: number,
  limits: ValidationLimits = defaultLimits,
): ParseResult {
  const parsed = parseSensorTopic(topic);
  if (parsed === undefined) {
    // Only a refused topic is split, to say why: our shape with a level that is not a canonical id, or not ours.
    const levels = topicLevels(topic);
    return {
      readings: [],
      rejections: [
        // Our topic shape with a level that is not a canonical id (`1e3`, `0x10`, ` 7 `, 3000000000) vs a
        // topic that is not ours at all.
        levels
          ? {
              reason: "bad_sensor_id",
              detail: `topic level ${preview(levels.idLevel)} is not a sensor id: plain decimal digits 1 … ${maxSensorId}`,
            }
          : {
              reason: "topic_mismatch",
              detail: `topic ${preview(topic)} is not {prefix}/{sensorId}/reading|batch`,
            },
      ],
    };
  }
  return parsed.kind === "reading"
    ? parseStreamingMessage(raw, parsed.sensorId, now, limits)
    : parseBatchMessage(raw, parsed.sensorId, now, limits);
}

/** Most bytes of an oversized message kept in its dead letter (with its size and SHA-256 in the detail). */
export const keptPrefixBytes = 4_096;

/**
 * A dead letter for a rejection: the raw bytes (the entry's own for a batch entry). Of an oversized
 * message only a bounded prefix is kept, with its size and SHA-256 in the detail so it can still be
 * identified: 25 such messages otherwise put 38 MB into the table.
 */
export function toDeadLetter(source: string, raw: Uint8Array, rejection: Rejection, now: number): DeadLetter {
  const bytes = rejection.raw ?? raw;
  if (bytes.byteLength <= keptPrefixBytes)
    return {
      source,
      reason: rejection.reason,
      detail: rejection.detail,
      raw: bytes.slice(),
      receivedAtMs: now,
    };
  const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  return {
    source,
    reason: rejection.reason,
    detail: `${rejection.detail}; kept the first ${keptPrefixBytes} of ${bytes.byteLength} bytes, sha256 ${sha256}`,
    raw: bytes.slice(0, keptPrefixBytes),
    receivedAtMs: now,
  };
}
