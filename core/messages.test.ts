import { describe, expect, test } from "bun:test";
import {
  defaultLimits,
  parseBatchMessage,
  parseEventTime,
  parseSensorMessage,
  parseStreamingMessage,
  parseTopic,
} from "./messages.ts";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const now = Date.UTC(2025, 11, 8, 1, 0, 0);
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0) / 1000; // 1765152000, the seed's first second

describe("parseTopic", () => {
  test("splits prefix/sensor/kind", () => {
    expect(parseTopic("sensors/42/reading")).toEqual({ sensorId: 42, kind: "reading" });
    expect(parseTopic("plant/a/sensors/7/batch")).toEqual({ sensorId: 7, kind: "batch" });
  });
  test("rejects foreign topics", () => {
    expect(parseTopic("sensors/x/reading")).toBeUndefined();
    expect(parseTopic("sensors/1/other")).toBeUndefined();
    expect(parseTopic("sensors")).toBeUndefined();
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
  });
});
