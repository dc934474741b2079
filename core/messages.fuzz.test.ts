/**
 * Property-based fuzzing of message parsing (fast-check): 10^5 generated payloads per run in total —
 * arbitrary bytes, arbitrary JSON, mutated valid messages and extreme numbers — on valid and hostile topics.
 * Whatever comes in: no throw, every result is readings or typed rejections, and every accepted reading
 * satisfies the invariants the rest of the core relies on (finite value in range, integer event time in
 * the window around the receive time, canonical sensor id equal to the topic's). About 5 s of CPU; the
 * generous timeouts are for a loaded machine, where the wall time is several times that.
 */
import { describe, expect, test } from "bun:test";
import type { RejectReason } from "@energy/contracts/records.ts";
import { invalidReasons } from "@energy/platform/metrics.ts";
import fc from "fast-check";
import {
  defaultLimits,
  maxSensorId,
  type ParseResult,
  parseSensorMessage,
  toDeadLetter,
} from "./messages.ts";

const now = Date.UTC(2026, 5, 1, 12, 0, 0);
const limits = defaultLimits;
const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
// Validation's own reasons: the catalogue's, less those only later stages give (a crash while handling a
// message, a sensor beyond MAX_SENSORS).
const reasons = new Set<RejectReason>(
  invalidReasons.filter((r) => r !== "internal_error" && r !== "too_many_sensors"),
);
const inWindow = (ms: number) =>
  Number.isSafeInteger(ms) && ms >= now - limits.maxPastMs && ms <= now + limits.maxFutureMs;

/** A failed invariant; fast-check shrinks the payload and reports it (plain throws: 10^5 runs of expect() cost seconds). */
function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`invariant broken: ${what}`);
}

/** The invariants of one parse. */
function check(topic: string, raw: Uint8Array): void {
  let result: ParseResult;
  try {
    result = parseSensorMessage(topic, raw, now, limits);
  } catch (error) {
    throw new Error(
      `parse threw ${String(error)} on ${topic}: ${new TextDecoder().decode(raw).slice(0, 200)}`,
    );
  }
  assert(Array.isArray(result.readings) && Array.isArray(result.rejections), "result shape");
  const level = topic.split("/").at(-2);
  for (const r of result.readings) {
    assert(
      Number.isFinite(r.value) && r.value >= limits.minValue && r.value <= limits.maxValue,
      `value ${r.value}`,
    );
    assert(inWindow(r.eventTimeMs), `event time ${r.eventTimeMs}`);
    assert(
      String(r.sensorId) === level && r.sensorId >= 1 && r.sensorId <= maxSensorId,
      `id ${r.sensorId} on ${topic}`,
    );
    assert(r.createdAtMs === undefined || inWindow(r.createdAtMs), `created ${r.createdAtMs}`);
  }
  if (result.readings.length > 0 || result.watermarkMs !== undefined)
    assert(result.sensorId === Number(level), `sensorId ${result.sensorId}`);
  if (result.watermarkMs !== undefined)
    assert(inWindow(result.watermarkMs), `watermark ${result.watermarkMs}`);
  for (const j of result.rejections) {
    assert(reasons.has(j.reason), `reason ${j.reason}`);
    assert(typeof j.detail === "string" && j.detail.length < 2_000, "detail bounded");
    assert(toDeadLetter(topic, raw, j, now).raw.byteLength <= 4_096, "dead letter bounded");
  }
}

const goodTopic = fc.integer({ min: 1, max: maxSensorId }).map((id) => ({ id, level: String(id) }));
const oddLevel = fc.oneof(
  fc.constantFrom("1e3", "0x10", " 7 ", "", "007", "0", "-1", "2147483648", "3000000000", "7.0", "+7", "NaN"),
  fc.string({ maxLength: 12 }),
);
const topicFor = (level: string, kind: string) => `sensors/${level}/${kind}`;
const anyTopic = fc.oneof(
  goodTopic.chain(({ level }) => fc.constantFrom(topicFor(level, "reading"), topicFor(level, "batch"))),
  fc.tuple(oddLevel, fc.constantFrom("reading", "batch", "other")).map(([l, k]) => topicFor(l, k)),
  fc.string({ maxLength: 40 }),
);

const extremeNumber = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    1e13,
    -1e13,
    1e300,
    -1e300,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    2 ** 31,
    2 ** 31 - 1,
    2 ** 53,
    8.64e12,
    8.64e15,
    now / 1000,
    now / 1000 + 301,
    now / 1000 - 10 * 365 * 86_400 - 1,
    1_765_152_000,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.double({ min: now / 1000 - 400 * 86_400, max: now / 1000 + 600, noNaN: true }),
);
/** Raw JSON number texts JSON.stringify never writes. */
const numberText = fc.constantFrom(
  "1e13",
  "1e400",
  "-1e400",
  "1E+2",
  "0.0000001",
  "123456789012345678901234567890",
  "-0",
  "NaN",
  "Infinity",
  "0x10",
);

const validReading = (id: number) => ({
  sensor_id: id,
  sensor_energy_value: 731.2,
  sensor_timestamp: now / 1000 - 30,
  message_creation_time: now - 5,
});
const validBatch = (id: number) => ({
  sensor_id: id,
  interval_start: now / 1000 - 120,
  interval_end: now / 1000 - 60,
  message_creation_time: now - 5,
  readings: [
    [now / 1000 - 120, 700.5],
    [now / 1000 - 119, 701.5],
  ],
  complete: true,
});
const fieldValue = fc.oneof(extremeNumber, fc.jsonValue({ maxDepth: 1 }), fc.constant(undefined));

describe("message parsing under 10^5 generated payloads", () => {
  test("arbitrary bytes", () => {
    fc.assert(
      fc.property(anyTopic, fc.uint8Array({ maxLength: 200 }), (topic, raw) => check(topic, raw)),
      { numRuns: 25_000 },
    );
  }, 120_000);

  test("arbitrary JSON", () => {
    fc.assert(
      fc.property(anyTopic, fc.jsonValue({ maxDepth: 3 }), (topic, v) => check(topic, enc(v))),
      { numRuns: 20_000 },
    );
  }, 120_000);

  test("mutated valid streaming and batch messages", () => {
    const keys = [
      "sensor_id",
      "sensor_energy_value",
      "sensor_timestamp",
      "message_creation_time",
      "interval_start",
      "interval_end",
      "readings",
      "complete",
    ];
    fc.assert(
      fc.property(
        goodTopic,
        fc.boolean(),
        fc.array(fc.tuple(fc.constantFrom(...keys), fieldValue), { maxLength: 4 }),
        fc.array(fc.tuple(fieldValue, fieldValue), { maxLength: 5 }),
        ({ id, level }, batch, edits, entries) => {
          const body: Record<string, unknown> = batch ? validBatch(id) : validReading(id);
          for (const [k, v] of edits) body[k] = v;
          if (batch && entries.length > 0 && Array.isArray(body.readings))
            body.readings = [...(body.readings as unknown[]), ...entries];
          check(topicFor(level, batch ? "batch" : "reading"), enc(body));
        },
      ),
      { numRuns: 30_000 },
    );
  }, 120_000);

  test("extreme numbers, also as raw JSON number text", () => {
    fc.assert(
      fc.property(
        goodTopic,
        fc.constantFrom(
          "sensor_energy_value",
          "sensor_timestamp",
          "sensor_id",
          "interval_end",
          "entry_ts",
          "entry_value",
        ),
        fc.oneof(
          extremeNumber.map((n) => JSON.stringify(n)),
          numberText,
        ),
        ({ id, level }, field, text) => {
          if (field.startsWith("entry_") || field === "interval_end") {
            const b = validBatch(id);
            const json = JSON.stringify(b)
              .replace(
                `"interval_end":${b.interval_end}`,
                field === "interval_end" ? `"interval_end":${text}` : `"interval_end":${b.interval_end}`,
              )
              .replace(
                `[${b.readings[0]![0]},${b.readings[0]![1]}]`,
                field === "entry_ts"
                  ? `[${text},1]`
                  : field === "entry_value"
                    ? `[${b.readings[0]![0]},${text}]`
                    : `[${b.readings[0]![0]},${b.readings[0]![1]}]`,
              );
            check(topicFor(level, "batch"), enc(json));
          } else {
            const r = validReading(id);
            const json = JSON.stringify(r).replace(new RegExp(`"${field}":[^,}]+`), `"${field}":${text}`);
            check(topicFor(level, "reading"), enc(json));
          }
        },
      ),
      { numRuns: 25_000 },
    );
  }, 120_000);

  test("valid messages are accepted (the generators reach the accepting paths)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(goodTopic, fc.boolean(), ({ id, level }, batch) => {
        const r = parseSensorMessage(
          topicFor(level, batch ? "batch" : "reading"),
          enc(batch ? validBatch(id) : validReading(id)),
          now,
        );
        if (r.rejections.length === 0 && r.readings.length > 0) accepted++;
      }),
      { numRuns: 1_000 },
    );
    expect(accepted).toBe(1_000);
  });
});
