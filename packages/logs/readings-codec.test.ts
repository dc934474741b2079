import { expect, test } from "bun:test";
import type { ReadingsRecord } from "@energy/contracts/records.ts";
import { readingsCodec } from "./readings-codec.ts";

const record = (patch: Partial<ReadingsRecord> = {}, reading: Record<string, unknown> = {}) =>
  new TextEncoder().encode(
    JSON.stringify({
      sensorId: 7,
      readings: [{ sensorId: 7, eventTimeMs: 1_765_152_000_000, value: 700, ...reading }],
      ...patch,
    }),
  );

test("a record round-trips", () => {
  const r: ReadingsRecord = {
    sensorId: 7,
    readings: [{ sensorId: 7, eventTimeMs: 1, value: 2, createdAtMs: 3 }],
    watermarkMs: 60_000,
  };
  expect(readingsCodec.decode(readingsCodec.encode(r))).toEqual(r);
});

test("records an older core may have logged before validation bounded them are refused, not handed on", () => {
  expect(() => readingsCodec.decode(record({}, { eventTimeMs: 1e16 }))).toThrow(/ReadingsRecord shape/);
  expect(() => readingsCodec.decode(record({}, { eventTimeMs: 1.5 }))).toThrow(/ReadingsRecord shape/);
  expect(() => readingsCodec.decode(record({ watermarkMs: 1e300 }))).toThrow(/ReadingsRecord shape/);
  expect(() =>
    readingsCodec.decode(record({ sensorId: 3_000_000_000 }, { sensorId: 3_000_000_000 })),
  ).toThrow(/ReadingsRecord shape/);
  expect(() =>
    readingsCodec.decode(
      new TextEncoder().encode('{"sensorId":7,"readings":[{"sensorId":7,"eventTimeMs":1,"value":1e400}]}'),
    ),
  ).toThrow(/ReadingsRecord shape/);
});
