/**
 * Exact accounting of a chaos scenario, pure: every reading the fleet sent lands in exactly one class —
 * stored (a non-imputed slot of a stored window), late (dead-lettered late, not stored), rejected
 * (dead-lettered for another reason, not stored) or lost (nowhere). Readings are matched per
 * sensor-second: the fleet sends at most one reading per sensor per second, and a window's `imputed` flags
 * say which of its 60 seconds held a real reading.
 */
import { slotMs, slotsPerWindow } from "@energy/contracts/records.ts";

/** One reading's identity: sensor and event second. */
export const readingKey = (sensorId: number, eventMs: number): string =>
  `${sensorId}:${Math.floor(eventMs / 1000)}`;

export function parseReadingKey(key: string): { sensorId: number; second: number } {
  const [a, b] = key.split(":");
  return { sensorId: Number(a), second: Number(b) };
}

export interface StoredWindow {
  sensorId: number;
  windowStartMs: number;
  count: number;
  imputed: readonly boolean[];
}

export interface DeadLetterRow {
  reason: string;
  raw: Uint8Array;
}

const decoder = new TextDecoder();

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The readings a dead letter's raw bytes carry: the windower's late letter (a JSON Reading), a streaming
 * message or a batch message. [] when the bytes are none of these (a hostile payload).
 */
export function readingKeysOf(raw: Uint8Array): string[] {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(raw));
  } catch {
    return [];
  }
  if (typeof body !== "object" || body === null) return [];
  const o = body as Record<string, unknown>;
  if (finite(o.sensorId) && finite(o.eventTimeMs)) return [readingKey(o.sensorId, o.eventTimeMs)];
  if (finite(o.sensor_id) && finite(o.sensor_timestamp)) {
    return [readingKey(o.sensor_id, o.sensor_timestamp * 1000)];
  }
  if (finite(o.sensor_id) && Array.isArray(o.readings)) {
    const id = o.sensor_id;
    return o.readings.flatMap((r) =>
      Array.isArray(r) && finite(r[0]) ? [readingKey(id, (r[0] as number) * 1000)] : [],
    );
  }
  return [];
}

export interface AccountingInput {
  /** Keys of the readings the fleet sent (broker-acknowledged). */
  sent: ReadonlySet<string>;
  windows: readonly StoredWindow[];
  deadLetters: readonly DeadLetterRow[];
  /** Only readings with event time before this (epoch s) count; undefined = all. */
  cutoffSecond?: number;
}

export interface Accounting {
  sent: number;
  /** Sum of the stored windows' counts (fleet sensors). */
  stored: number;
  /** Sent readings found in a non-imputed slot of a stored window. */
  storedSent: number;
  /** Late dead letters of fleet sensors (as the core counted them). */
  late: number;
  /** Late dead letters of sensors outside the fleet (hostile or distinct ids). */
  lateForeign: number;
  /** Sent readings dead-lettered late and not stored. */
  lateOnly: number;
  /** Readings counted twice: a window count above its real slots, late letters for stored readings, repeated late letters. */
  duplicates: number;
  /** Dead letters with another reason than late. */
  invalid: number;
  /** Sent readings rejected (not late) and not stored. */
  rejected: number;
  /** sent − storedSent − lateOnly − rejected. */
  lost: number;
  /** Non-imputed slots of fleet sensors' windows that the fleet never sent. */
  phantom: number;
  /** Readings stored in windows of sensors outside the fleet (hostile ids accepted as sensors). */
  foreignStored: number;
  /** sent = storedSent + lateOnly + rejected + lost, stored = storedSent, no phantom readings. */
  exact: boolean;
}

export function account(input: AccountingInput): Accounting {
  const cutoff = input.cutoffSecond ?? Number.POSITIVE_INFINITY;
  const inScope = (key: string) => parseReadingKey(key).second < cutoff;
  const sent = new Set([...input.sent].filter(inScope));
  const fleet = new Set([...input.sent].map((k) => parseReadingKey(k).sensorId));

  let stored = 0;
  let foreignStored = 0;
  const storedKeys = new Set<string>();
  for (const w of input.windows) {
    if (w.windowStartMs / 1000 >= cutoff) continue;
    if (!fleet.has(w.sensorId)) {
      foreignStored += w.count;
      continue;
    }
    stored += w.count;
    for (let i = 0; i < slotsPerWindow; i++) {
      if (w.imputed[i] === false) storedKeys.add(readingKey(w.sensorId, w.windowStartMs + i * slotMs));
    }
  }
  let storedSent = 0;
  let phantom = 0;
  for (const k of storedKeys) {
    if (sent.has(k)) storedSent++;
    else phantom++;
  }
  // A window may count more readings than it has real slots only if a reading was counted twice.
  const overcount = Math.max(0, stored - storedKeys.size);

  let late = 0;
  let lateForeign = 0;
  let invalid = 0;
  const lateKeys = new Set<string>();
  let lateRepeats = 0;
  const rejectedKeys = new Set<string>();
  for (const letter of input.deadLetters) {
    const keys = readingKeysOf(letter.raw).filter(inScope);
    if (letter.reason === "late") {
      if (keys.length === 0 && cutoff !== Number.POSITIVE_INFINITY) continue;
      if (keys.length > 0 && keys.every((k) => !fleet.has(parseReadingKey(k).sensorId))) {
        lateForeign++;
        continue;
      }
      late++;
      for (const k of keys) {
        if (lateKeys.has(k)) lateRepeats++;
        lateKeys.add(k);
      }
    } else {
      invalid++;
      for (const k of keys) rejectedKeys.add(k);
    }
  }
  let lateOnly = 0;
  let lateStored = 0;
  for (const k of lateKeys) {
    if (storedKeys.has(k)) lateStored++;
    else if (sent.has(k)) lateOnly++;
  }
  let rejected = 0;
  for (const k of rejectedKeys) if (sent.has(k) && !storedKeys.has(k) && !lateKeys.has(k)) rejected++;
  const lost = sent.size - storedSent - lateOnly - rejected;
  return {
    sent: sent.size,
    stored,
    storedSent,
    late,
    lateForeign,
    lateOnly,
    duplicates: overcount + lateStored + lateRepeats,
    invalid,
    rejected,
    lost,
    phantom,
    foreignStored,
    exact: stored === storedSent && phantom === 0 && lost >= 0,
  };
}
