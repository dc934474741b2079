import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { expectPipelineError } from "@energy/testing/errors.ts";
import { parseSensorCsv, parseSensorTimestamp, readSensorCsv, readSensorCsvDir } from "./csv.ts";

const seed = join(import.meta.dir, "../../data/seed");
const t0 = Date.UTC(2025, 11, 8);

describe("seed CSVs", () => {
  test.each([
    ["batch_values_input.csv", 300, 1, 699.6],
    ["device_2_batch_data_2025-12-08.csv", 2400, 2, 615.3],
    ["device_3_batch_data_2025-12-08.csv", 2400, 3, 732.8],
    ["device_4_batch_data_2025-12-08.csv", 2400, 4, 675.9],
    ["device_5_batch_data_2025-12-08.csv", 2400, 5, 767.7],
    ["60_batch_values.csv", 60, 1, 699.6],
  ])("%s: %d rows of sensor %d starting at %d W", async (file, rows, sensorId, first) => {
    const readings = await readSensorCsv(join(seed, file));
    expect(readings).toHaveLength(rows);
    expect(readings[0]).toEqual({ sensorId, eventTimeMs: t0, value: first, createdAtMs: undefined });
    // 1 s cadence, no gaps, in order.
    expect(readings.at(-1)!.eventTimeMs).toBe(t0 + (rows - 1) * 1000);
    expect(readings.every((r, i) => r.eventTimeMs === t0 + i * 1000 && r.sensorId === sensorId)).toBe(true);
  });

  test("epoch-seconds file agrees with the first minute of the string-timestamp file", async () => {
    const epoch = await readSensorCsv(join(seed, "60_batch_values.csv"));
    const strings = await readSensorCsv(join(seed, "batch_values_input.csv"));
    expect(epoch).toEqual(strings.slice(0, 60));
  });

  test("the directory yields each sensor once, the duplicate first minute of sensor 1 dropped", async () => {
    const traces = await readSensorCsvDir(seed);
    expect(traces.map((t) => [t.sensorId, t.readings.length, t.duplicates, t.ordered])).toEqual([
      [1, 300, 60, true],
      [2, 2400, 0, true],
      [3, 2400, 0, true],
      [4, 2400, 0, true],
      [5, 2400, 0, true],
    ]);
  });
});

describe("parseSensorCsv", () => {
  test("accepts the disordered layout with +00 timestamps, in file order", () => {
    const text =
      "sensor_id,aprt_power,sensor_timestamp\n" +
      "3,812.5,2025-12-08 00:00:05+00\n" +
      "3,800,2025-12-08 00:00:01+00\r\n" +
      "3,790.1,2025-12-08 00:01:00+00:00\n\n";
    expect(parseSensorCsv(text, "d.csv")).toEqual([
      { sensorId: 3, eventTimeMs: t0 + 5000, value: 812.5, createdAtMs: undefined },
      { sensorId: 3, eventTimeMs: t0 + 1000, value: 800, createdAtMs: undefined },
      { sensorId: 3, eventTimeMs: t0 + 60_000, value: 790.1, createdAtMs: undefined },
    ]);
  });

  test("honours explicit offsets and rejects impossible dates", () => {
    expect(parseSensorTimestamp("2025-12-08 02:00:00+02")).toBe(t0);
    expect(parseSensorTimestamp("2025-12-08T00:00:00Z")).toBe(t0);
    expect(parseSensorTimestamp("1765152000.5")).toBe(t0 + 500);
    expect(parseSensorTimestamp("2025-02-30 00:00:00")).toBeUndefined();
    expect(parseSensorTimestamp("2025-12-08 24:00:00")).toBeUndefined();
    expect(parseSensorTimestamp("yesterday")).toBeUndefined();
  });

  test.each([
    ["2025-12-08 00:00:01,1,abc", /bad\.csv:3: value "abc"/],
    ["2025-13-08 00:00:01,1,5", /bad\.csv:3: sensor_timestamp "2025-13-08 00:00:01"/],
    ["2025-12-08 00:00:01,x,5", /bad\.csv:3: sensor_id "x"/],
    ["2025-12-08 00:00:01,1", /bad\.csv:3: expected 3 columns, got 2/],
    ["2025-12-08 00:00:01,1,-4", /bad\.csv:3: value "-4"/],
  ])("bad row %p is a validation error naming file and line", async (row, message) => {
    const text = `sensor_timestamp,sensor_id,sensor_energy_value\n2025-12-08 00:00:00,1,5\n${row}\n`;
    const error = await expectPipelineError(() => parseSensorCsv(text, "bad.csv"), "validation");
    expect(error.message).toMatch(message);
  });

  test("an unknown header is rejected up front", () => {
    expect(() => parseSensorCsv("time,id,watts\n1,1,1\n", "h.csv")).toThrow(/h\.csv:1: header/);
  });

  test("a missing file is a not-found error", async () => {
    await expect(readSensorCsv(join(seed, "nope.csv"))).rejects.toThrow(/does not exist/);
  });
});
