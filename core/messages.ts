/**
 * Parse and validate the two sensor message kinds (streaming A, batch B) into readings or typed rejections.
 * Pure: bytes in, values out. A bad batch entry rejects only that entry, so good readings in the same
 * batch still go through.
 */
import type { BatchMessage, DeadLetter, MessageKind, Reading, RejectReason } from "../lib/records.ts";

export interface ValidationLimits {
  /** Largest accepted message, bytes (MQTT allows 256 MB; a sensor never needs that). */
  maxMessageBytes: number;
  /** Event times outside [now − maxPastMs, now + maxFutureMs] are rejected; 0 disables a side. */
  maxPastMs: number;
  maxFutureMs: number;
  /** Largest number of readings one batch message may carry. */
  maxBatchReadings: number;
}

export const defaultLimits: ValidationLimits = {
  maxMessageBytes: 256 * 1024,
  // Replays of the study's 2025 data are legitimate, so the past bound is generous (10 years).
  maxPastMs: 10 * 365 * 86_400_000,
  maxFutureMs: 86_400_000,
  maxBatchReadings: 10_000,
};

export interface Rejection {
  reason: RejectReason;
  detail: string;
}

export interface ParseResult {
  readings: Reading[];
  /** Problems found; for a batch, one per bad entry (the good ones are in `readings`). */
  rejections: Rejection[];
  /** A batch's promise that the sensor will send nothing older than this (epoch ms), see BatchMessage. */
  watermarkMs?: number;
  sensorId?: number;
}

/** Topic `{prefix}/{sensorId}/{kind}` → its parts, or undefined when it is not one of ours. */
export function parseTopic(topic: string): { sensorId: number; kind: MessageKind } | undefined {
  const parts = topic.split("/");
  if (parts.length < 3) return undefined;
  const kind = parts[parts.length - 1];
  const id = Number(parts[parts.length - 2]);
  if ((kind !== "reading" && kind !== "batch") || !Number.isSafeInteger(id) || id < 0) return undefined;
  return { sensorId: id, kind };
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const isoPattern = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$/;

/** Event time from epoch seconds (number) or an ISO-8601 string (naive = UTC, like the study's data). */
export function parseEventTime(value: unknown): number | Rejection {
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      return { reason: "bad_timestamp", detail: `timestamp ${value} is not finite` };
    return Math.round(value * 1000);
  }
  if (typeof value === "string" && isoPattern.test(value.trim())) {
    let text = value.trim().replace(" ", "T");
    if (!/(Z|[+-]\d{2}(:?\d{2})?)$/.test(text)) text += "Z";
    else if (/[+-]\d{2}$/.test(text)) text += ":00";
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  return {
    reason: "bad_timestamp",
    detail: `sensor_timestamp ${JSON.stringify(value)} is neither epoch seconds nor ISO-8601`,
  };
}

function checkRange(ms: number, now: number, limits: ValidationLimits): Rejection | undefined {
  if (limits.maxPastMs > 0 && ms < now - limits.maxPastMs)
    return {
      reason: "timestamp_out_of_range",
      detail: `event time ${new Date(ms).toISOString()} is too old`,
    };
  if (limits.maxFutureMs > 0 && ms > now + limits.maxFutureMs)
    return {
      reason: "timestamp_out_of_range",
      detail: `event time ${new Date(ms).toISOString()} is in the future`,
    };
  return undefined;
}

const isSensorId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
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

type Envelope =
  | { ok: true; body: Record<string, unknown>; sensorId: number }
  | { ok: false; rejection: Rejection };

/** The checks both kinds share: size, JSON, an object, a sensor id that matches the topic's. */
function parseEnvelope(
  raw: Uint8Array,
  topicSensorId: number | undefined,
  limits: ValidationLimits,
): Envelope {
  const json = parseJson(raw, limits);
  if (!json.ok) return json;
  const body = json.value;
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { ok: false, rejection: { reason: "bad_shape", detail: "message is not a JSON object" } };
  const m = body as Record<string, unknown>;
  if (!isSensorId(m.sensor_id))
    return {
      ok: false,
      rejection: {
        reason: "bad_sensor_id",
        detail: `sensor_id ${JSON.stringify(m.sensor_id)} is not a non-negative integer`,
      },
    };
  if (topicSensorId !== undefined && m.sensor_id !== topicSensorId)
    return {
      ok: false,
      rejection: {
        reason: "topic_mismatch",
        detail: `sensor_id ${m.sensor_id} published on the topic of sensor ${topicSensorId}`,
      },
    };
  return { ok: true, body: m, sensorId: m.sensor_id };
}

/** One streaming message (architecture A). */
export function parseStreamingMessage(
  raw: Uint8Array,
  topicSensorId: number | undefined,
  now: number,
  limits: ValidationLimits = defaultLimits,
): ParseResult {
  const envelope = parseEnvelope(raw, topicSensorId, limits);
  if (!envelope.ok) return { readings: [], rejections: [envelope.rejection] };
  const { body: m, sensorId } = envelope;
  const reject = (reason: RejectReason, detail: string): ParseResult => ({
    readings: [],
    rejections: [{ reason, detail }],
  });
  const value = m.sensor_energy_value;
  if (typeof value !== "number" || !Number.isFinite(value))
    return reject("bad_value", `sensor_energy_value ${JSON.stringify(value)} is not a finite number`);
  const eventTime = parseEventTime(m.sensor_timestamp);
  if (isRejection(eventTime)) return { readings: [], rejections: [eventTime] };
  const outOfRange = checkRange(eventTime, now, limits);
  if (outOfRange) return { readings: [], rejections: [outOfRange] };
  const created = m.message_creation_time;
  const createdAtMs = typeof created === "number" && Number.isFinite(created) ? created : undefined;
  return {
    readings: [{ sensorId, eventTimeMs: eventTime, value, createdAtMs }],
    rejections: [],
    sensorId,
  };
}

/** One batch message (architecture B); bad entries are rejected one by one. */
export function parseBatchMessage(
  raw: Uint8Array,
  topicSensorId: number | undefined,
  now: number,
  limits: ValidationLimits = defaultLimits,
): ParseResult {
  const envelope = parseEnvelope(raw, topicSensorId, limits);
  if (!envelope.ok) return { readings: [], rejections: [envelope.rejection] };
  const { sensorId } = envelope;
  const m = envelope.body as Partial<Record<keyof BatchMessage, unknown>>;
  if (!Array.isArray(m.readings))
    return { readings: [], rejections: [{ reason: "bad_shape", detail: "batch has no readings array" }] };
  if (m.readings.length > limits.maxBatchReadings)
    return {
      readings: [],
      rejections: [
        { reason: "too_large", detail: `${m.readings.length} readings > limit ${limits.maxBatchReadings}` },
      ],
    };
  const created = m.message_creation_time;
  const createdAtMs = typeof created === "number" && Number.isFinite(created) ? created : undefined;
  const readings: Reading[] = [];
  const rejections: Rejection[] = [];
  for (const entry of m.readings) {
    if (!Array.isArray(entry) || entry.length !== 2) {
      rejections.push({
        reason: "bad_shape",
        detail: `batch entry ${JSON.stringify(entry)} is not [timestamp, value]`,
      });
      continue;
    }
    const [ts, value] = entry as [unknown, unknown];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      rejections.push({
        reason: "bad_value",
        detail: `value ${JSON.stringify(value)} is not a finite number`,
      });
      continue;
    }
    const eventTime = parseEventTime(ts);
    if (isRejection(eventTime)) {
      rejections.push(eventTime);
      continue;
    }
    const outOfRange = checkRange(eventTime, now, limits);
    if (outOfRange) {
      rejections.push(outOfRange);
      continue;
    }
    readings.push({ sensorId, eventTimeMs: eventTime, value, createdAtMs });
  }
  const result: ParseResult = { readings, rejections, sensorId };
  if (m.complete === true) {
    const end = parseEventTime(m.interval_end);
    if (isRejection(end)) rejections.push({ reason: "bad_timestamp", detail: `interval_end: ${end.detail}` });
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
  const t = parseTopic(topic);
  if (!t)
    return {
      readings: [],
      rejections: [
        { reason: "topic_mismatch", detail: `topic "${topic}" is not {prefix}/{sensorId}/reading|batch` },
      ],
    };
  return t.kind === "reading"
    ? parseStreamingMessage(raw, t.sensorId, now, limits)
    : parseBatchMessage(raw, t.sensorId, now, limits);
}

/** A dead letter for a rejection; whole-message rejections keep the raw bytes, entry rejections too. */
export function toDeadLetter(source: string, raw: Uint8Array, rejection: Rejection, now: number): DeadLetter {
  return { source, reason: rejection.reason, detail: rejection.detail, raw, receivedAtMs: now };
}
