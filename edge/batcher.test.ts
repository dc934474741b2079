import { describe, expect, test } from "bun:test";
import type { BatchMessage, Reading } from "@energy/contracts/records.ts";
import fc from "fast-check";
import { SensorBatcher } from "./batcher.ts";

const t0 = Date.UTC(2025, 11, 8); // a minute boundary
const reading = (offsetS: number, value = 1000 + offsetS): Reading => ({
  sensorId: 4,
  eventTimeMs: t0 + offsetS * 1000,
  value,
  createdAtMs: undefined,
});
const now = 1_800_000_000_000;

/** Structural check of the BatchMessage contract, key set included. */
function expectBatchShape(m: BatchMessage) {
  const keys = Object.keys(m).sort();
  expect(keys).toEqual(
    m.complete === undefined
      ? ["interval_end", "interval_start", "message_creation_time", "readings", "sensor_id"]
      : ["complete", "interval_end", "interval_start", "message_creation_time", "readings", "sensor_id"],
  );
  expect(Number.isInteger(m.sensor_id)).toBe(true);
  for (const [ts, v] of m.readings) {
    expect(ts).toBeGreaterThanOrEqual(m.interval_start);
    expect(ts).toBeLessThan(m.interval_end);
    expect(Number.isFinite(v)).toBe(true);
  }
  expect(m.readings.every((r, i) => i === 0 || r[0] >= m.readings[i - 1]![0])).toBe(true);
}

describe("SensorBatcher", () => {
  test("groups by event-time minute and flushes when the clock passes the interval end", () => {
    const b = new SensorBatcher(4);
    for (let s = 30; s < 150; s++) expect(b.add(reading(s), now)).toEqual([]);
    expect(b.flushDue(t0 + 59_999, now)).toEqual([]);
    const [first, ...rest] = b.flushDue(t0 + 60_000, now);
    expect(rest).toEqual([]);
    expect(first).toEqual({
      sensor_id: 4,
      interval_start: t0 / 1000,
      interval_end: t0 / 1000 + 60,
      message_creation_time: now,
      readings: Array.from({ length: 30 }, (_, i) => [t0 / 1000 + 30 + i, 1030 + i] as [number, number]),
      complete: true,
    });
    expectBatchShape(first!);
    const [second, third] = b.flushDue(t0 + 180_000, now);
    expect(second!.interval_start).toBe(t0 / 1000 + 60);
    expect(second!.readings).toHaveLength(60);
    expect(third!.interval_start).toBe(t0 / 1000 + 120);
    expect(third!.readings).toHaveLength(30);
    expect(b.buffered).toBe(0);
  });

  test("aligns other interval widths to multiples of the width", () => {
    const b = new SensorBatcher(4, { intervalMs: 15_000 });
    for (let s = 0; s < 60; s++) b.add(reading(s), now);
    const out = b.flushDue(t0 + 60_000, now);
    expect(out.map((m) => [m.interval_start - t0 / 1000, m.readings.length])).toEqual([
      [0, 15],
      [15, 15],
      [30, 15],
      [45, 15],
    ]);
  });

  test("splits an interval at the readings bound; only the last part is complete", () => {
    const b = new SensorBatcher(4, { maxReadings: 25 });
    const forced: BatchMessage[] = [];
    for (let s = 0; s < 60; s++) forced.push(...b.add(reading(s), now));
    expect(forced.map((m) => m.readings.length)).toEqual([25, 25]);
    expect(forced.every((m) => m.complete === undefined)).toBe(true);
    const [last] = b.flushDue(t0 + 60_000, now);
    expect(last!.readings).toHaveLength(10);
    expect(last!.complete).toBe(true);
    const all = [...forced, last!].flatMap((m) => m.readings.map((r) => r[0]));
    expect(all).toEqual(Array.from({ length: 60 }, (_, i) => t0 / 1000 + i));
  });

  test("splits at the byte bound, and no message exceeds it", () => {
    const maxBytes = 600;
    const b = new SensorBatcher(4, { maxBytes });
    const out: BatchMessage[] = [];
    for (let s = 0; s < 60; s++) out.push(...b.add(reading(s, 1234.5678 + s), now));
    out.push(...b.flushAll(now));
    expect(out.length).toBeGreaterThan(2);
    for (const m of out) {
      expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(maxBytes);
      expectBatchShape(m);
    }
    expect(out.reduce((n, m) => n + m.readings.length, 0)).toBe(60);
  });

  test("byte bound, any values: every part fits, and each part but the last is as full as the bound allows", () => {
    // The batcher bounds sizes loosely until an interval nears maxBytes and counts exactly from there:
    // this holds the split points to what exact counting from the first reading gives.
    const value = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(-0.0000012345678901234567, -1.7976931348623157e308, 1e21, 2 ** 31, 0.1, 1e-7),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 3_000 }),
        fc.array(value, { minLength: 1, maxLength: 300 }),
        (maxBytes, values) => {
          const b = new SensorBatcher(4, { maxBytes, intervalMs: 600_000 });
          const out: BatchMessage[] = [];
          values.forEach((v, i) => {
            out.push(...b.add({ ...reading(0, v), eventTimeMs: t0 + i }, now));
          });
          out.push(...b.flushAll(now));
          const size = (m: BatchMessage) => Buffer.byteLength(JSON.stringify(m));
          expect(out.reduce((n, m) => n + m.readings.length, 0)).toBe(values.length);
          out.forEach((m, i) => {
            expect(size(m)).toBeLessThanOrEqual(maxBytes);
            const next = out[i + 1];
            if (next === undefined) return;
            // With the widest envelope the bound reserves room for (creation time, `complete`).
            const grown = {
              ...m,
              message_creation_time: 9_999_999_999_999,
              complete: false,
              readings: [...m.readings, next.readings[0]!],
            };
            expect(size(grown)).toBeGreaterThan(maxBytes);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("an older interval opened after a scan found nothing due is still flushed on time", () => {
    const b = new SensorBatcher(4, { ordered: false });
    b.add(reading(70), now);
    expect(b.flushDue(t0 + 100_000, now)).toEqual([]);
    b.add(reading(5), now);
    expect(b.flushDue(t0 + 100_000, now).map((m) => m.interval_start - t0 / 1000)).toEqual([0]);
    expect(b.flushDue(t0 + 119_999, now)).toEqual([]);
    expect(b.flushDue(t0 + 120_000, now).map((m) => m.interval_start - t0 / 1000)).toEqual([60]);
  });

  test("flushes everything on shutdown, oldest interval first", () => {
    const b = new SensorBatcher(4);
    for (const s of [125, 5, 70]) b.add(reading(s), now);
    const out = b.flushAll(now + 1);
    expect(out.map((m) => m.interval_start - t0 / 1000)).toEqual([0, 60, 120]);
    expect(out.every((m) => m.complete === true && m.message_creation_time === now + 1)).toBe(true);
    expect(b.flushAll(now)).toEqual([]);
  });

  test("a disordered sensor sorts readings, waits out its grace and never claims complete", () => {
    const b = new SensorBatcher(4, { ordered: false, graceMs: 60_000 });
    for (const s of [40, 10, 59, 0, 20]) b.add(reading(s), now);
    expect(b.flushDue(t0 + 60_000, now)).toEqual([]);
    const [m] = b.flushDue(t0 + 120_000, now);
    expect(m!.readings.map((r) => r[0] - t0 / 1000)).toEqual([0, 10, 20, 40, 59]);
    expect(m!.complete).toBeUndefined();
    expectBatchShape(m!);
    // A reading for an interval already sent starts a new, late batch for it.
    b.add(reading(30), now);
    expect(b.flushDue(t0 + 120_000, now).map((x) => x.readings.length)).toEqual([1]);
  });
});
