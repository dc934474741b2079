import { describe, expect, test } from "bun:test";
import { PipelineError } from "../lib/errors.ts";
import { mulberry32, shuffle } from "../lib/random.ts";
import type { Reading, WindowRecord } from "../lib/records.ts";
import { createWindower, TumblingWindower, type WindowerOptions } from "./window.ts";

const t0 = Date.UTC(2025, 11, 8, 0, 0, 0); // minute-aligned
const reading = (sensorId: number, eventTimeMs: number, value: number, createdAtMs?: number): Reading => ({
  sensorId,
  eventTimeMs,
  value,
  createdAtMs,
});
/** Feed readings with processing time = event time (a sensor with no network delay). */
const feed = (w: TumblingWindower, readings: readonly Reading[]) =>
  readings.map((r) => w.add(r, r.eventTimeMs));
const withoutEmitted = (records: readonly WindowRecord[]) =>
  records.map(({ emittedAtMs: _, ...rest }) => rest);
const byWindowThenSensor = (a: WindowRecord, b: WindowRecord) =>
  a.windowStartMs - b.windowStartMs || a.sensorId - b.sensorId;

/** One reading per second at second starts, value = second + 1, for seconds in `seconds`. */
const minuteOf = (sensorId: number, startMs: number, seconds: Iterable<number>) =>
  [...seconds].map((s) => reading(sensorId, startMs + s * 1000, s + 1));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("options", () => {
  test("defaults are one-minute windows of 60 slots", () => {
    expect(createWindower().options).toEqual({
      windowMs: 60_000,
      slotMs: 1_000,
      allowedLatenessMs: 5_000,
      idleTimeoutMs: 10_000,
    });
  });

  const bad: Array<[WindowerOptions, RegExp]> = [
    [{ windowMs: 0 }, /windowMs 0 must be a positive integer/],
    [{ windowMs: 1.5 }, /windowMs 1.5/],
    [{ slotMs: Number.NaN }, /slotMs NaN/],
    [{ slotMs: 7_000 }, /slotMs 7000 must be a divisor of windowMs 60000/],
    [{ allowedLatenessMs: -1 }, /allowedLatenessMs -1 must be a non-negative integer/],
    [{ idleTimeoutMs: 0 }, /idleTimeoutMs 0/],
  ];
  for (const [options, message] of bad) {
    test(`rejects ${JSON.stringify(options)}`, () => {
      let caught: unknown;
      try {
        new TumblingWindower(options);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(PipelineError);
      expect((caught as PipelineError).code).toBe("config");
      expect((caught as PipelineError).message).toMatch(message);
    });
  }

  test("lateness 0 is allowed", () => {
    expect(new TumblingWindower({ allowedLatenessMs: 0 }).options.allowedLatenessMs).toBe(0);
  });
});

describe("TumblingWindower", () => {
  test("an in-order minute gives one window with exact aggregates and no imputed slot", () => {
    const w = new TumblingWindower();
    const outcomes = feed(
      w,
      minuteOf(1, t0, range(60)).map((r) => ({ ...r, createdAtMs: r.eventTimeMs + 20 })),
    );
    expect(outcomes.every((o) => o === "accepted")).toBe(true);
    expect(w.drainClosed(t0 + 60_000)).toEqual([]);
    // Watermark = 64_999 − 5_000 < end: still open.
    expect(w.add(reading(1, t0 + 64_999, 100), t0 + 64_999)).toBe("accepted");
    expect(w.drainClosed(t0 + 64_999)).toEqual([]);
    // Watermark reaches the end exactly: closes.
    expect(w.add(reading(1, t0 + 65_000, 100), t0 + 65_000)).toBe("accepted");
    const [record, ...rest] = w.drainClosed(t0 + 65_001);
    expect(rest).toEqual([]);
    expect(record).toEqual({
      sensorId: 1,
      windowStartMs: t0,
      windowEndMs: t0 + 60_000,
      count: 60,
      sum: 1830,
      mean: 30.5,
      min: 1,
      max: 60,
      firstEventMs: t0,
      lastEventMs: t0 + 59_000,
      slots: range(60).map((s) => s + 1),
      imputed: range(60).map(() => false),
      duplicates: 0,
      maxCreatedAtMs: t0 + 59_020,
      emittedAtMs: t0 + 65_001,
    });
    expect(w.stats()).toEqual({
      sensors: 1,
      openWindows: 1,
      bufferedReadings: 2,
      closedPending: 0,
      lateTotal: 0,
      duplicateTotal: 0,
    });
  });

  test("missing seconds get the window mean and are flagged imputed", () => {
    const w = new TumblingWindower();
    const missing = new Set([0, 3, 10, 59]);
    feed(
      w,
      minuteOf(
        2,
        t0,
        range(60).filter((s) => !missing.has(s)),
      ),
    );
    const [record] = w.flush(t0 + 70_000);
    const values = range(60)
      .filter((s) => !missing.has(s))
      .map((s) => s + 1);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(record!.count).toBe(56);
    expect(record!.mean).toBe(mean);
    expect(record!.firstEventMs).toBe(t0 + 1_000);
    expect(record!.lastEventMs).toBe(t0 + 58_000);
    expect(record!.maxCreatedAtMs).toBe(0);
    for (const s of range(60)) {
      expect(record!.imputed[s]).toBe(missing.has(s));
      expect(record!.slots[s]).toBe(missing.has(s) ? mean : s + 1);
    }
  });

  test("several readings per second: each slot is the mean of its second's readings", () => {
    const w = new TumblingWindower();
    const readings = range(60).flatMap((s) =>
      [0, 250, 500, 750].map((ms, k) => reading(3, t0 + s * 1000 + ms, s * 10 + k)),
    );
    feed(w, readings);
    const [record] = w.flush(t0 + 61_000);
    expect(record!.count).toBe(240);
    expect(record!.slots).toEqual(range(60).map((s) => s * 10 + 1.5));
    expect(record!.imputed.some((x) => x)).toBe(false);
    expect(record!.lastEventMs).toBe(t0 + 59_750);
  });

  test("an out-of-order reading within lateness is accepted and gives the in-order window", () => {
    const inOrder = minuteOf(4, t0, range(60));
    const next = minuteOf(4, t0 + 60_000, range(5)); // up to t0 + 64 s: watermark t0 + 59 s
    const reference = new TumblingWindower();
    feed(reference, [...inOrder, ...next]);

    const w = new TumblingWindower();
    const held = inOrder.filter((r) => r.eventTimeMs % 7_000 === 0); // seconds 0, 7, ..., 56
    feed(
      w,
      inOrder.filter((r) => !held.includes(r)),
    );
    feed(w, next);
    for (const r of held.reverse()) expect(w.add(r, t0 + 64_500)).toBe("accepted");
    expect(withoutEmitted(w.flush(t0 + 70_000))).toEqual(withoutEmitted(reference.flush(t0 + 70_000)));
  });

  test("a reading for a closed window is late, counted, and leaves the window unchanged", () => {
    const w = new TumblingWindower();
    feed(w, minuteOf(5, t0, range(60)));
    expect(w.add(reading(5, t0 + 65_000, 1), t0 + 65_000)).toBe("accepted");
    const [closed] = w.drainClosed(t0 + 65_000);
    expect(closed!.count).toBe(60);

    expect(w.add(reading(5, t0 + 59_500, 1e6), t0 + 65_100)).toBe("late");
    // A copy of a reading of the closed window is late too, not a duplicate.
    expect(w.add(reading(5, t0 + 30_000, 31), t0 + 65_200)).toBe("late");
    expect(w.stats().lateTotal).toBe(2);
    expect(w.drainClosed(t0 + 66_000)).toEqual([]);
    // It did not reopen the window: shutdown emits only the next minute.
    const rest = w.flush(t0 + 66_000);
    expect(rest.map((r) => [r.windowStartMs, r.count])).toEqual([[t0 + 60_000, 1]]);
  });

  test("duplicates count once and increment the window's duplicates", () => {
    const w = new TumblingWindower();
    expect(w.add(reading(6, t0 + 1_000, 10, t0 + 1_010), t0 + 1_000)).toBe("accepted");
    expect(w.add(reading(6, t0 + 1_000, 10, t0 + 1_010), t0 + 1_100)).toBe("duplicate"); // redelivery
    expect(w.add(reading(6, t0 + 2_000, 20), t0 + 2_000)).toBe("accepted");
    expect(w.add(reading(6, t0 + 3_000, 30), t0 + 3_000)).toBe("accepted");
    expect(w.add(reading(6, t0 + 1_000, 99, t0 + 9_999), t0 + 3_100)).toBe("duplicate"); // out of order
    expect(w.add(reading(6, t0 + 1_500, 15), t0 + 3_200)).toBe("accepted"); // new, out of order
    expect(w.add(reading(6, t0 + 1_500, 15), t0 + 3_300)).toBe("duplicate");
    const [record] = w.flush(t0 + 4_000);
    expect(record!.count).toBe(4);
    expect(record!.sum).toBe(75); // the first copy's value is kept
    expect(record!.duplicates).toBe(3);
    expect(record!.slots[1]).toBe(12.5);
    expect(record!.maxCreatedAtMs).toBe(t0 + 1_010); // duplicates do not count
    expect(w.stats().duplicateTotal).toBe(3);
  });

  test("idle timeout closes a silent sensor's windows, not the others'", () => {
    const w = new TumblingWindower();
    const both = [...minuteOf(7, t0, range(21)), ...minuteOf(8, t0, range(30))]; // 7 silent after t0 + 20 s
    feed(
      w,
      both.sort((a, b) => a.eventTimeMs - b.eventTimeMs),
    );
    expect(w.drainClosed(t0 + 29_999)).toEqual([]);
    const closed = w.drainClosed(t0 + 30_000);
    expect(closed.map((r) => [r.sensorId, r.count, r.emittedAtMs])).toEqual([[7, 21, t0 + 30_000]]);
    expect(w.stats().openWindows).toBe(1);
    feed(w, minuteOf(8, t0, range(60).slice(30)));
    expect(w.drainClosed(t0 + 59_000)).toEqual([]); // sensor 8 is not idle
    // The idle-closed window is closed for good.
    expect(w.closedBefore(7)).toBe(t0 + 60_000);
    expect(w.add(reading(7, t0 + 25_000, 1), t0 + 31_000)).toBe("late");
    expect(w.add(reading(7, t0 + 60_000, 1), t0 + 60_000)).toBe("accepted");
    expect(w.flush(t0 + 61_000).map((r) => [r.windowStartMs, r.sensorId])).toEqual([
      [t0, 8],
      [t0 + 60_000, 7],
    ]);
  });

  test("advanceWatermark closes windows at once, and never moves the watermark back", () => {
    const w = new TumblingWindower();
    feed(w, minuteOf(9, t0, range(60)));
    w.advanceWatermark(9, t0 + 59_999, t0 + 60_000);
    expect(w.drainClosed(t0 + 60_000)).toEqual([]);
    w.advanceWatermark(9, t0 + 60_000, t0 + 60_001);
    const [record] = w.drainClosed(t0 + 60_001);
    expect(record!.count).toBe(60);
    w.advanceWatermark(9, t0, t0 + 60_002);
    expect(w.add(reading(9, t0 + 59_999, 1), t0 + 60_003)).toBe("late");
    expect(w.add(reading(9, t0 + 60_000, 1), t0 + 60_004)).toBe("accepted");
    expect(w.closedBefore(9)).toBe(t0 + 60_000);
    expect(w.closedBefore(10)).toBe(Number.NEGATIVE_INFINITY);
    // A promise for an unknown sensor makes its older readings late.
    w.advanceWatermark(10, t0 + 120_000, t0 + 60_005);
    expect(w.add(reading(10, t0 + 119_999, 1), t0 + 60_006)).toBe("late");
  });

  test("drained windows are ordered by (windowStartMs, sensorId) and their state is released", () => {
    const w = new TumblingWindower();
    for (const sensorId of [30, 10, 20]) {
      w.add(reading(sensorId, t0 + 61_000, 1), t0);
      w.add(reading(sensorId, t0 + 1_000, 1), t0);
    }
    expect(w.stats()).toMatchObject({ sensors: 3, openWindows: 6, bufferedReadings: 6 });
    expect(w.flush(t0).map((r) => [r.windowStartMs - t0, r.sensorId])).toEqual([
      [0, 10],
      [0, 20],
      [0, 30],
      [60_000, 10],
      [60_000, 20],
      [60_000, 30],
    ]);
    expect(w.stats()).toMatchObject({ sensors: 3, openWindows: 0, bufferedReadings: 0, closedPending: 0 });
  });

  test("a minute without readings emits no window", () => {
    const w = new TumblingWindower();
    feed(w, [reading(11, t0 + 1_000, 1), reading(11, t0 + 121_000, 3)]);
    expect(w.flush(t0 + 200_000).map((r) => r.windowStartMs - t0)).toEqual([0, 120_000]);
  });

  test("rejects readings it cannot window", () => {
    const w = new TumblingWindower();
    expect(() => w.add(reading(1, t0 + 0.5, 1), t0)).toThrow(PipelineError);
    expect(() => w.add(reading(1, t0, Number.NaN), t0)).toThrow(/value NaN is not windowable/);
    expect(() => w.advanceWatermark(1, Number.NaN, t0)).toThrow(PipelineError);
  });
});

/**
 * Readings of a few sensors over a few minutes, starting mid-minute: gaps, several readings in some
 * seconds at random milliseconds, whole silent minutes, values with many significant digits (so a sum in
 * another order would differ in the last bits), and exact redeliveries.
 */
function generate(random: () => number): Reading[] {
  const readings: Reading[] = [];
  const sensorCount = 1 + Math.floor(random() * 5);
  const startMs = t0 + Math.floor(random() * 60) * 1000;
  const seconds = 60 + Math.floor(random() * 180);
  for (let sensor = 0; sensor < sensorCount; sensor++) {
    const sensorId = 100 + Math.floor(random() * 1000);
    if (readings.some((r) => r.sensorId === sensorId)) continue;
    const silentMinute = random() < 0.3 ? Math.floor(random() * 4) : -1;
    for (let s = 0; s < seconds; s++) {
      const secondMs = startMs + s * 1000;
      if (random() < 0.2 || Math.floor((secondMs - t0) / 60_000) === silentMinute) continue;
      const times = new Set<number>();
      const perSecond = random() < 0.2 ? 1 + Math.floor(random() * 4) : 1;
      for (let k = 0; k < perSecond; k++) times.add(secondMs + (k === 0 ? 0 : Math.floor(random() * 1000)));
      for (const eventTimeMs of times) {
        const r = reading(
          sensorId,
          eventTimeMs,
          50 + 3000 * (random() + random() * 2 ** -32), // all 53 bits used, so sums round
          random() < 0.1 ? undefined : eventTimeMs + Math.floor(random() * 200),
        );
        readings.push(r);
        if (random() < 0.05) readings.push({ ...r });
      }
    }
  }
  return readings;
}

// Idle closing is a processing-time rule, deliberately outside the order-independence property.
const propertyOptions: WindowerOptions = { idleTimeoutMs: 24 * 3_600_000 };

/** Architecture A: every reading on its own, in event-time order. */
function streaming(readings: readonly Reading[], random: () => number): WindowRecord[] {
  const w = new TumblingWindower(propertyOptions);
  const out: WindowRecord[] = [];
  const ordered = [...readings].sort((a, b) => a.eventTimeMs - b.eventTimeMs || a.sensorId - b.sensorId);
  for (const r of ordered) {
    expect(w.add(r, r.eventTimeMs)).not.toBe("late");
    if (random() < 0.05) out.push(...w.drainClosed(r.eventTimeMs));
  }
  out.push(...w.flush(Number.MAX_SAFE_INTEGER));
  return out;
}

/** Architecture B: per-sensor batches of `batchMs`, each followed by its `complete` watermark. */
function batching(readings: readonly Reading[], batchMs: number): WindowRecord[] {
  const w = new TumblingWindower(propertyOptions);
  const out: WindowRecord[] = [];
  const batches = new Map<string, { sensorId: number; endMs: number; readings: Reading[] }>();
  for (const r of readings) {
    const endMs = (Math.floor(r.eventTimeMs / batchMs) + 1) * batchMs;
    const key = `${endMs}/${r.sensorId}`;
    const batch = batches.get(key) ?? { sensorId: r.sensorId, endMs, readings: [] };
    batch.readings.push(r);
    batches.set(key, batch);
  }
  const ordered = [...batches.values()].sort((a, b) => a.endMs - b.endMs || a.sensorId - b.sensorId);
  for (const batch of ordered) {
    const nowMs = batch.endMs + 300;
    batch.readings.sort((a, b) => a.eventTimeMs - b.eventTimeMs);
    for (const r of batch.readings) expect(w.add(r, nowMs)).not.toBe("late");
    w.advanceWatermark(batch.sensorId, batch.endMs, nowMs);
    out.push(...w.drainClosed(nowMs));
  }
  out.push(...w.flush(Number.MAX_SAFE_INTEGER));
  return out;
}

/** Arbitrary arrival order, each reading delayed by less than the allowed lateness. */
function disordered(readings: readonly Reading[], random: () => number): WindowRecord[] {
  const w = new TumblingWindower(propertyOptions);
  const latenessMs = w.options.allowedLatenessMs;
  const out: WindowRecord[] = [];
  const arrivals = shuffle(random, [...readings])
    .map((r) => ({ r, atMs: r.eventTimeMs + Math.floor(random() * latenessMs) }))
    .sort((a, b) => a.atMs - b.atMs);
  for (const { r, atMs } of arrivals) {
    expect(w.add(r, atMs)).not.toBe("late");
    if (random() < 0.05) out.push(...w.drainClosed(atMs));
  }
  out.push(...w.flush(Number.MAX_SAFE_INTEGER));
  return out;
}

describe("order independence (seeded property test)", () => {
  test("streaming, smart batching and bounded disorder give bit-identical windows", () => {
    let windows = 0;
    let outOfOrderTrials = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const random = mulberry32(seed);
      const readings = generate(random);
      const a = withoutEmitted(streaming(readings, random).sort(byWindowThenSensor));
      const batchMs = [10_000, 15_000, 30_000, 60_000][Math.floor(random() * 4)]!;
      const b = withoutEmitted(batching(readings, batchMs).sort(byWindowThenSensor));
      const c = withoutEmitted(disordered(readings, random).sort(byWindowThenSensor));
      // JSON keeps every double's shortest round-trip form, so a one-ulp difference fails too.
      expect({ seed, windows: JSON.stringify(b) }).toEqual({ seed, windows: JSON.stringify(a) });
      expect({ seed, windows: JSON.stringify(c) }).toEqual({ seed, windows: JSON.stringify(a) });
      // Nothing lost: every reading is in a window or counted as a duplicate.
      expect(a.reduce((n, r) => n + r.count + r.duplicates, 0)).toBe(readings.length);
      windows += a.length;
      // The test has teeth only if summing the distinct readings in arrival order would differ somewhere.
      const distinct = new Map(readings.map((r) => [`${r.sensorId}/${r.eventTimeMs}`, r]));
      const naive = new Map<string, number>();
      for (const r of shuffle(random, [...distinct.values()])) {
        const key = `${r.sensorId}/${Math.floor(r.eventTimeMs / 60_000)}`;
        naive.set(key, (naive.get(key) ?? 0) + r.value);
      }
      if (a.some((r) => naive.get(`${r.sensorId}/${r.windowStartMs / 60_000}`) !== r.sum)) outOfOrderTrials++;
    }
    expect(windows).toBeGreaterThan(1000);
    expect(outOfOrderTrials).toBeGreaterThan(100);
  });
});
