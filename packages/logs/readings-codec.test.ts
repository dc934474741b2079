import { expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { Reading, ReadingsRecord } from "@energy/contracts/records.ts";
import fc from "fast-check";
import { readingsCodec } from "./readings-codec.ts";

/** A record as an older core logged it: JSON. */
const jsonRecord = (patch: Partial<ReadingsRecord> = {}, reading: Record<string, unknown> = {}) =>
  new TextEncoder().encode(
    JSON.stringify({
      sensorId: 7,
      readings: [{ sensorId: 7, eventTimeMs: 1_765_152_000_000, value: 700, ...reading }],
      ...patch,
    }),
  );

const maxDateMs = 8.64e15;
const validRecord: fc.Arbitrary<ReadingsRecord> = fc
  .record({
    sensorId: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    readings: fc.array(
      fc.record({
        eventTimeMs: fc.integer({ min: -maxDateMs, max: maxDateMs }),
        value: fc.double({ noNaN: true, noDefaultInfinity: true }),
        createdAtMs: fc.option(fc.integer({ min: -maxDateMs, max: maxDateMs }), { nil: undefined }),
      }),
      { maxLength: 70 },
    ),
    watermarkMs: fc.option(fc.integer({ min: -maxDateMs, max: maxDateMs }), { nil: undefined }),
  })
  .map(({ sensorId, readings, watermarkMs }) => {
    const record: ReadingsRecord = {
      sensorId,
      readings: readings.map((r): Reading => ({ sensorId, ...r })),
    };
    if (watermarkMs !== undefined) record.watermarkMs = watermarkMs;
    return record;
  });

test("every valid record round-trips exactly, -0 and extreme values included", () => {
  fc.assert(
    fc.property(validRecord, (r) => {
      const decoded = readingsCodec.decode(readingsCodec.encode(r));
      expect(decoded).toEqual(r);
      // toEqual does not tell 0 from -0 nor an absent key from undefined: compare what toEqual cannot.
      decoded.readings.forEach((d, i) => {
        expect(Object.is(d.value, r.readings[i]!.value)).toBe(true);
        expect(d.createdAtMs).toBe(r.readings[i]!.createdAtMs);
      });
      expect("watermarkMs" in decoded).toBe(r.watermarkMs !== undefined);
    }),
    { numRuns: 500 },
  );
});

test("a record is 24 bytes a reading plus its header, far below the JSON it replaced", () => {
  const readings = Array.from({ length: 60 }, (_, i) => ({
    sensorId: 123_456,
    eventTimeMs: 1_765_152_000_000 + i * 1000,
    value: 1234.56,
    createdAtMs: 1_765_152_060_040,
  }));
  const record = { sensorId: 123_456, readings, watermarkMs: 1_765_152_060_000 };
  expect(readingsCodec.encode(record).byteLength).toBe(16 + 8 + 60 * 24);
  expect(JSON.stringify(record).length).toBeGreaterThan(60 * 80);
});

test("a record a reading per record in a Pulsar pack decodes where it lies, at any offset", () => {
  const r: ReadingsRecord = {
    sensorId: 9,
    readings: [{ sensorId: 9, eventTimeMs: 1_765_152_000_000, value: 1.5, createdAtMs: undefined }],
  };
  const bytes = readingsCodec.encode(r);
  for (const offset of [1, 3, 5, 7]) {
    const pack = new Uint8Array(offset + bytes.byteLength + 11);
    pack.set(bytes, offset);
    expect(readingsCodec.decode(pack.subarray(offset, offset + bytes.byteLength))).toEqual(r);
  }
});

test("records an older core logged as JSON still decode", () => {
  const r: ReadingsRecord = {
    sensorId: 7,
    readings: [{ sensorId: 7, eventTimeMs: 1, value: 2, createdAtMs: 3 }],
    watermarkMs: 60_000,
  };
  expect(readingsCodec.decode(new TextEncoder().encode(JSON.stringify(r)))).toEqual(r);
});

test("records an older core may have logged before validation bounded them are refused, not handed on", () => {
  expect(() => readingsCodec.decode(jsonRecord({}, { eventTimeMs: 1e16 }))).toThrow(/ReadingsRecord shape/);
  expect(() => readingsCodec.decode(jsonRecord({}, { eventTimeMs: 1.5 }))).toThrow(/ReadingsRecord shape/);
  expect(() => readingsCodec.decode(jsonRecord({ watermarkMs: 1e300 }))).toThrow(/ReadingsRecord shape/);
  expect(() =>
    readingsCodec.decode(jsonRecord({ sensorId: 3_000_000_000 }, { sensorId: 3_000_000_000 })),
  ).toThrow(/ReadingsRecord shape/);
  expect(() =>
    readingsCodec.decode(
      new TextEncoder().encode('{"sensorId":7,"readings":[{"sensorId":7,"eventTimeMs":1,"value":1e400}]}'),
    ),
  ).toThrow(/ReadingsRecord shape/);
});

/** A valid binary record of sensor 7 with one reading, to corrupt field by field. */
const good = () =>
  readingsCodec.encode({
    sensorId: 7,
    readings: [{ sensorId: 7, eventTimeMs: 1_765_152_000_000, value: 700, createdAtMs: undefined }],
    watermarkMs: 1_765_152_060_000,
  });
const withDouble = (bytes: Uint8Array, at: number, value: number) => {
  new DataView(bytes.buffer).setFloat64(at, value, true);
  return bytes;
};

test("binary records with values validation never lets through are refused with what is wrong", () => {
  // Offsets: header 16, watermark 16, reading at 24 (event time), 32 (value), 40 (created at).
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1e300, 1.5, 2 ** 53])
    expect(() => readingsCodec.decode(withDouble(good(), 24, bad))).toThrow(/reading 0 has event time/);
  for (const bad of [Number.NaN, Number.NEGATIVE_INFINITY])
    expect(() => readingsCodec.decode(withDouble(good(), 32, bad))).toThrow(/reading 0 has event time/);
  expect(() => readingsCodec.decode(withDouble(good(), 16, 1e300))).toThrow(/watermark/);
  const sensor = good();
  new DataView(sensor.buffer).setUint32(4, 2 ** 31, true);
  expect(() => readingsCodec.decode(sensor)).toThrow(/beyond 2\^31/);
  const count = good();
  new DataView(count.buffer).setUint32(8, 2 ** 31, true);
  expect(() => readingsCodec.decode(count)).toThrow(/readings take/);
  const flags = good();
  flags[2] = 0x81;
  expect(() => readingsCodec.decode(flags)).toThrow(/unknown flags/);
  const version = good();
  version[1] = 2;
  expect(() => readingsCodec.decode(version)).toThrow(/version 2/);
  expect(() => readingsCodec.decode(good().subarray(0, 30))).toThrow(/readings take/);
  expect(() => readingsCodec.decode(good().subarray(0, 5))).toThrow(/shorter than its 16-byte header/);
  expect(() => readingsCodec.decode(new Uint8Array(0))).toThrow(PipelineError);
  // A created-at time that is no instant only feeds metrics: the reading goes through without it.
  const created = readingsCodec.decode(withDouble(good(), 40, 1e300));
  expect(created.readings[0]!.createdAtMs).toBeUndefined();
});

test("whatever the bytes, decode gives a valid record or a validation error, never anything else", () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    // Mostly-valid binary records with a few bytes flipped, which reach the field checks.
    fc
      .tuple(validRecord, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
      .map(([r, flips]) => {
        const b = readingsCodec.encode(r);
        for (const [at, v] of flips) b[at % b.length] = v;
        return b;
      }),
  );
  fc.assert(
    fc.property(bytes, (b) => {
      let record: ReadingsRecord;
      try {
        record = readingsCodec.decode(b);
      } catch (error) {
        expect(error).toBeInstanceOf(PipelineError);
        expect((error as PipelineError).code).toBe("validation");
        return;
      }
      expect(Number.isInteger(record.sensorId) && record.sensorId <= 2 ** 31 - 1).toBe(true);
      for (const r of record.readings) {
        expect(r.sensorId).toBe(record.sensorId);
        expect(Number.isSafeInteger(r.eventTimeMs) && Math.abs(r.eventTimeMs) <= maxDateMs).toBe(true);
        expect(Number.isFinite(r.value)).toBe(true);
      }
    }),
    { numRuns: 2_000 },
  );
});

test("a record that cannot be written as it is is refused by encode, not altered", () => {
  expect(() =>
    readingsCodec.encode({
      sensorId: 7,
      readings: [{ sensorId: 8, eventTimeMs: 1, value: 1, createdAtMs: undefined }],
    }),
  ).toThrow(/holds a reading of sensor 8/);
  expect(() => readingsCodec.encode({ sensorId: -1, readings: [] })).toThrow(/not a sensor id/);
});
