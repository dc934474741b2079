import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  defaultLimits,
  keptPrefixBytes,
  parseBatchMessage,
  parseEventTime,
  parseSensorMessage,
  parseSensorTopic,
  parseStreamingMessage,
  toDeadLetter,
} from "./messages.ts";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const now = Date.UTC(2025, 11, 8, 1, 0, 0);
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0) / 1000; // 1765152000, the seed's first second

describe("parseSensorTopic", () => {
  test("splits prefix/sensor/kind", () => {
    expect(parseSensorTopic("sensors/42/reading")).toEqual({ sensorId: 42, kind: "reading" });
    expect(parseSensorTopic("plant/a/sensors/7/batch")).toEqual({ sensorId: 7, kind: "batch" });
  });
  test("rejects foreign topics", () => {
    expect(parseSensorTopic("sensors/x/reading")).toBeUndefined();
    expect(parseSensorTopic("sensors/1/other")).toBeUndefined();
    expect(parseSensorTopic("sensors")).toBeUndefined();
  });
  test("a sensor id level is canonical digits within the integer column: no alias of another sensor", () => {
    for (const level of [
      "1e3",
      "0x10",
      " 7 ",
      "",
      "007",
      "0",
      "-1",
      "+7",
      "7.0",
      "2147483648",
      "3000000000",
      "１",
    ])
      expect({ level, parsed: parseSensorTopic(`sensors/${level}/reading`) }).toEqual({
        level,
        parsed: undefined,
      });
    expect(parseSensorTopic("sensors/2147483647/reading")).toEqual({
      sensorId: 2 ** 31 - 1,
      kind: "reading",
    });
  });
  test("reads topics as split + the canonical-id pattern would, without either", () => {
    const reference = (topic: string) => {
      const parts = topic.split("/");
      if (parts.length < 3) return undefined;
      const kind = parts.at(-1);
      const level = parts.at(-2)!;
      if ((kind !== "reading" && kind !== "batch") || !/^[1-9][0-9]{0,9}$/.test(level)) return undefined;
      return Number(level) <= 2 ** 31 - 1 ? { sensorId: Number(level), kind } : undefined;
    };
    const level = fc.oneof(
      fc.stringMatching(/^[0-9]{0,12}$/),
      fc.constantFrom("", "0", "2147483647", "2147483648", "reading", "batch", " 1", "1/", "٣"),
      fc.string({ maxLength: 4 }),
    );
    const topic = fc
      .array(level, { minLength: 0, maxLength: 5 })
      .chain((parts) =>
        fc
          .constantFrom("reading", "batch", "readings", "batc", "", "/reading")
          .map((kind) => [...parts, kind].join("/")),
      );
    fc.assert(
      fc.property(fc.oneof(topic, fc.string({ maxLength: 30 })), (t) => {
        expect<unknown>(parseSensorTopic(t)).toEqual(reference(t));
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("parseEventTime", () => {
  test("epoch seconds and ISO forms agree", () => {
    expect(parseEventTime(t0)).toBe(t0 * 1000);
    expect(parseEventTime("2025-12-08 00:00:00")).toBe(t0 * 1000);
    expect(parseEventTime("2025-12-08T00:00:00Z")).toBe(t0 * 1000);
    expect(parseEventTime("2025-12-08 00:00:00+00")).toBe(t0 * 1000);
    expect(parseEventTime("2025-12-08T02:00:00+02:00")).toBe(t0 * 1000);
  });
  test("rejects garbage", () => {
    expect(parseEventTime("yesterday")).toMatchObject({ reason: "bad_timestamp" });
    expect(parseEventTime(Number.NaN)).toMatchObject({ reason: "bad_timestamp" });
    expect(parseEventTime(null)).toMatchObject({ reason: "bad_timestamp" });
  });
});

describe("parseStreamingMessage", () => {
  test("the edge's own encoding, read without JSON.parse, gives what JSON.parse gives", () => {
    // The same message with a space after each colon is not the edge's encoding: JSON.parse reads it.
    const nowS = now / 1000;
    const number = fc.oneof(
      fc.double({ noNaN: false }),
      fc.integer({ min: -1e6, max: 3e9 }),
      fc.double({ min: 0, max: 2e6 }).map((v) => Math.round(v * 10) / 10),
      fc.double({ min: nowS - 1e5, max: nowS + 1e3 }).map((v) => Math.round(v * 1000) / 1000),
      fc.constantFrom(0, -0, 1e21, 1e-7, 123456789012345, 1234567890123456, 0.1 + 0.2, nowS, now),
    );
    const message = fc.record({
      sensor_id: fc.oneof(fc.constant(42), number),
      sensor_energy_value: number,
      sensor_timestamp: fc.oneof(number, fc.constant(nowS - 30.5)),
      message_creation_time: fc.oneof(fc.constant(now - 1_000), number),
    });
    fc.assert(
      fc.property(message, (m) => {
        const compact = JSON.stringify(m);
        const spaced = compact.replaceAll('":', '": ');
        expect(parseStreamingMessage(enc(compact), 42, now)).toEqual(
          parseStreamingMessage(enc(spaced), 42, now),
        );
      }),
      { numRuns: 20_000 },
    );
  });
  const good = {
    sensor_id: 1,
    sensor_energy_value: 731.2,
    sensor_timestamp: t0,
    message_creation_time: 1765152000123,
  };

  test("accepts the study's message", () => {
    const r = parseStreamingMessage(enc(good), 1, now);
    expect(r.rejections).toEqual([]);
    expect(r.readings).toEqual([
      { sensorId: 1, eventTimeMs: t0 * 1000, value: 731.2, createdAtMs: 1765152000123 },
    ]);
  });

  test.each([
    ["not json", "{oops", "not_json"],
    ["array", [1, 2], "bad_shape"],
    ["string id", { ...good, sensor_id: "1" }, "bad_sensor_id"],
    ["negative id", { ...good, sensor_id: -3 }, "bad_sensor_id"],
    ["null value", { ...good, sensor_energy_value: null }, "bad_value"],
    ["string value", { ...good, sensor_energy_value: "731" }, "bad_value"],
    ["bad timestamp", { ...good, sensor_timestamp: "soon" }, "bad_timestamp"],
    ["far future", { ...good, sensor_timestamp: now / 1000 + 3 * 86_400 }, "timestamp_out_of_range"],
    ["wrong topic", { ...good, sensor_id: 2 }, "topic_mismatch"],
    ["id 0", { ...good, sensor_id: 0 }, "bad_sensor_id"],
    ["fractional id", { ...good, sensor_id: 1.5 }, "bad_sensor_id"],
    ["negative power", { ...good, sensor_energy_value: -50_000 }, "out_of_range"],
    ["1e300 W", { ...good, sensor_energy_value: 1e300 }, "out_of_range"],
    ["1e13 s timestamp", { ...good, sensor_timestamp: 1e13 }, "timestamp_out_of_range"],
    ["1e300 s timestamp", { ...good, sensor_timestamp: 1e300 }, "timestamp_out_of_range"],
    ["-1e13 s timestamp", { ...good, sensor_timestamp: -1e13 }, "timestamp_out_of_range"],
    ["ten minutes ahead", { ...good, sensor_timestamp: now / 1000 + 600 }, "timestamp_out_of_range"],
    [
      "eleven years old",
      { ...good, sensor_timestamp: now / 1000 - 11 * 365 * 86_400 },
      "timestamp_out_of_range",
    ],
    ["year 9999", { ...good, sensor_timestamp: "9999-12-31T23:59:59Z" }, "timestamp_out_of_range"],
  ])("rejects %s", (_name, body, reason) => {
    const r = parseStreamingMessage(enc(body), 1, now);
    expect(r.readings).toEqual([]);
    expect(r.rejections.map((x): string => x.reason)).toEqual([reason as string]);
  });

  test("rejects oversized messages before parsing", () => {
    const big = new Uint8Array(defaultLimits.maxMessageBytes + 1).fill(32);
    expect(parseStreamingMessage(big, 1, now).rejections[0]?.reason).toBe("too_large");
  });

  test("rejects invalid UTF-8 as not_json", () => {
    expect(parseStreamingMessage(new Uint8Array([0xff, 0xfe, 0x7b]), 1, now).rejections[0]?.reason).toBe(
      "not_json",
    );
  });

  test("never throws on timestamps beyond Date's range (was RangeError: Invalid Date)", () => {
    for (const ts of [1e13, 1e16, 8.64e12 + 1, -1e300, Number.MAX_VALUE])
      expect(() => parseStreamingMessage(enc({ ...good, sensor_timestamp: ts }), 1, now)).not.toThrow();
  });

  test("a reading within the clock skew is accepted; the bounds are configurable", () => {
    const ahead = { ...good, sensor_timestamp: now / 1000 + 200 };
    expect(parseStreamingMessage(enc(ahead), 1, now).readings).toHaveLength(1);
    const strict = { ...defaultLimits, maxFutureMs: 100_000 };
    expect(parseStreamingMessage(enc(ahead), 1, now, strict).rejections[0]?.reason).toBe(
      "timestamp_out_of_range",
    );
    const exporting = { ...defaultLimits, minValue: -100_000 };
    const negative = { ...good, sensor_energy_value: -50_000 };
    expect(parseStreamingMessage(enc(negative), 1, now, exporting).readings[0]?.value).toBe(-50_000);
  });

  test("an implausible creation time is ignored, not used", () => {
    for (const t of [1e300, -5, 1.5, now + 86_400_000])
      expect(
        parseStreamingMessage(enc({ ...good, message_creation_time: t }), 1, now).readings[0]?.createdAtMs,
      ).toBeUndefined();
  });

  test("missing creation time is allowed", () => {
    const { message_creation_time: _omit, ...rest } = good;
    expect(parseStreamingMessage(enc(rest), 1, now).readings[0]?.createdAtMs).toBeUndefined();
  });
});

describe("parseBatchMessage", () => {
  const batch = {
    sensor_id: 3,
    interval_start: t0,
    interval_end: t0 + 60,
    message_creation_time: 1765152060001,
    readings: [
      [t0, 700.5],
      [t0 + 1, 701.5],
    ],
    complete: true,
  };

  test("accepts a batch and reports its watermark", () => {
    const r = parseBatchMessage(enc(batch), 3, now);
    expect(r.rejections).toEqual([]);
    expect(r.readings.map((x) => [x.eventTimeMs, x.value])).toEqual([
      [t0 * 1000, 700.5],
      [(t0 + 1) * 1000, 701.5],
    ]);
    expect(r.watermarkMs).toBe((t0 + 60) * 1000);
  });

  test("bad entries are rejected one by one; good ones go through", () => {
    const r = parseBatchMessage(
      enc({ ...batch, readings: [[t0, 1], [t0 + 1, "x"], [t0 + 2], ["never", 3], [t0 + 4, 4]] }),
      3,
      now,
    );
    expect(r.readings.map((x) => x.value)).toEqual([1, 4]);
    expect(r.rejections.map((x) => x.reason)).toEqual(["bad_value", "bad_shape", "bad_timestamp"]);
  });

  test.each([
    ["interval_end 1e300", { interval_end: 1e300 }],
    ["interval_end hours ahead", { interval_end: now / 1000 + 3 * 3_600 }],
    ["interval_end not a time", { interval_end: "later" }],
    ["interval_start after interval_end", { interval_start: t0 + 120 }],
    ["interval_start 1e13", { interval_start: 1e13 }],
  ])("a complete batch with %s gives no watermark (it could not move one into the future)", (_n, patch) => {
    const r = parseBatchMessage(enc({ ...batch, ...patch }), 3, now);
    expect(r.watermarkMs).toBeUndefined();
    expect(r.readings).toHaveLength(2);
    expect(r.rejections).toHaveLength(1);
    expect(["bad_timestamp", "timestamp_out_of_range"]).toContain(r.rejections[0]!.reason);
  });

  test("batch entries are range-checked like streaming readings, each keeping its own bytes", () => {
    const r = parseBatchMessage(
      enc({
        ...batch,
        readings: [
          [1e13, 1],
          [t0, -5],
          [t0 + 1, 1e300],
          [t0 + 2, 7],
        ],
      }),
      3,
      now,
    );
    expect(r.readings.map((x) => x.value)).toEqual([7]);
    expect(r.rejections.map((x) => x.reason)).toEqual([
      "timestamp_out_of_range",
      "out_of_range",
      "out_of_range",
    ]);
    expect(new TextDecoder().decode(r.rejections[1]!.raw)).toBe(`[${t0},-5]`);
  });

  test("a batch of thousands of bad entries lists the first 100 and counts the rest, so it cannot flood dead letters", () => {
    const readings = [
      ...Array.from({ length: 5_000 }, (_, i) => [t0 + i, -1]),
      ...Array.from({ length: 3_000 }, (_, i) => [t0 + i, "x"]),
      [t0, 5],
    ];
    const r = parseBatchMessage(enc({ ...batch, readings }), 3, now);
    expect(r.readings.map((x) => x.value)).toEqual([5]);
    expect(r.rejections).toHaveLength(102);
    expect(r.rejections[99]!.detail).toStartWith("entry 99: ");
    expect(r.rejections.slice(100).map((x) => [x.reason, x.count])).toEqual([
      ["out_of_range", 4_900],
      ["bad_value", 3_000],
    ]);
    expect(r.rejections.reduce((n, x) => n + (x.count ?? 1), 0)).toBe(8_000);
  });

  test("no watermark unless the sensor says the interval is complete", () => {
    expect(parseBatchMessage(enc({ ...batch, complete: false }), 3, now).watermarkMs).toBeUndefined();
  });

  test("too many readings is one rejection", () => {
    const readings = Array.from({ length: 11 }, (_, i) => [t0 + i, i]);
    const r = parseBatchMessage(enc({ ...batch, readings }), 3, now, {
      ...defaultLimits,
      maxBatchReadings: 10,
    });
    expect(r.readings).toEqual([]);
    expect(r.rejections[0]?.reason).toBe("too_large");
  });
});

describe("parseSensorMessage", () => {
  test("dispatches on the topic kind", () => {
    const one = { sensor_id: 5, sensor_energy_value: 1, sensor_timestamp: t0, message_creation_time: 0 };
    expect(parseSensorMessage("sensors/5/reading", enc(one), now).readings).toHaveLength(1);
    const r = parseSensorMessage("sensors/5/batch", enc(one), now);
    expect(r.rejections[0]?.reason).toBe("bad_shape");
    expect(parseSensorMessage("elsewhere", enc(one), now).rejections[0]?.reason).toBe("topic_mismatch");
    expect(parseSensorMessage("sensors/5/other", enc(one), now).rejections[0]?.reason).toBe("topic_mismatch");
    for (const level of ["1e3", "0x10", " 7 ", "", "3000000000"])
      expect(parseSensorMessage(`sensors/${level}/reading`, enc(one), now).rejections[0]?.reason).toBe(
        "bad_sensor_id",
      );
  });
});

describe("toDeadLetter", () => {
  test("an oversized message keeps a bounded prefix, its size and SHA-256, not all its bytes", () => {
    const big = new Uint8Array(300_000).fill(65);
    const r = parseSensorMessage("sensors/1/reading", big, now);
    expect(r.rejections[0]?.reason).toBe("too_large");
    const letter = toDeadLetter("sensors/1/reading", big, r.rejections[0]!, now);
    expect(letter.raw.byteLength).toBe(keptPrefixBytes);
    const sha = new Bun.CryptoHasher("sha256").update(big).digest("hex");
    expect(letter.detail).toContain("300000 bytes");
    expect(letter.detail).toContain(sha);
  });
  test("a small message keeps all its bytes, copied", () => {
    const raw = enc("{nope");
    const letter = toDeadLetter("t", raw, { reason: "not_json", detail: "x" }, now);
    expect(letter.raw).toEqual(raw);
    raw[0] = 0;
    expect(letter.raw[0]).toBe(0x7b);
  });
});
