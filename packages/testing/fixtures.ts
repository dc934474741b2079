/**
 * What many tests share: a sample window, a silent logger and unique names. The window's values are exact
 * binary fractions, so it survives any encoding (JSON, Avro, a Java reader's `Double.toString`) and compares
 * equal to itself.
 *
 * @example
 * const w = sampleWindow(41, Date.UTC(2025, 11, 8));
 * const odd = { ...sampleWindow(), min: -0 };
 */

import { slotsPerWindow, type WindowRecord } from "@energy/contracts/records.ts";
import type { Logger } from "@energy/platform/log.ts";

/** A logger that drops everything: for tests whose subject logs on purpose (rejections, retries). */
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** A short id of its own for names on the shared servers (topics, databases, client ids), unique per call. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** A complete, self-consistent window of `sensorId` starting at `windowStartMs`; every seventh slot imputed. */
export function sampleWindow(sensorId = 7, windowStartMs = 1_700_000_040_000): WindowRecord {
  const slots = Array.from({ length: slotsPerWindow }, (_, i) => 400 + sensorId + i / 4);
  const sum = slots.reduce((a, b) => a + b, 0);
  return {
    sensorId,
    windowStartMs,
    windowEndMs: windowStartMs + 60_000,
    count: slotsPerWindow,
    sum,
    mean: sum / slotsPerWindow,
    min: slots[0]!,
    max: slots[slotsPerWindow - 1]!,
    firstEventMs: windowStartMs,
    lastEventMs: windowStartMs + 59_000,
    slots,
    imputed: slots.map((_, i) => i % 7 === 0),
    duplicates: 0,
    maxCreatedAtMs: windowStartMs + 60_010,
    emittedAtMs: windowStartMs + 60_500,
  };
}
