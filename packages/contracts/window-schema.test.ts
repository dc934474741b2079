import { describe, expect, test } from "bun:test";
import { expectPipelineError } from "@energy/testing/errors.ts";
import { sampleWindow } from "@energy/testing/fixtures.ts";
import avro from "avsc";
import { PipelineError } from "./errors.ts";
import { windowFields } from "./records.ts";
import { decodeWindow, encodeWindow, windowSchema, windowSchemaJson } from "./window-schema.ts";

describe("Avro schema of WindowRecord", () => {
  test("round trip keeps every field bit for bit", () => {
    // Doubles with no short binary form, a negative, a large magnitude, an inconsistent count: the codec
    // must carry them as they are.
    const awkward = { count: 52, sum: 6123.456789, mean: 117.7587844, min: -0.5, max: 1e6 + 0.125 };
    const w = { ...sampleWindow(), ...awkward, slots: sampleWindow().slots.map((v) => v / 3), duplicates: 3 };
    const bytes = encodeWindow(w);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(decodeWindow(bytes)).toEqual(w);
    const odd = { ...sampleWindow(2 ** 40, 0), mean: Number.NaN, min: -0, maxCreatedAtMs: 0 };
    const back = decodeWindow(encodeWindow(odd));
    expect(back.sensorId).toBe(2 ** 40);
    expect(Number.isNaN(back.mean)).toBe(true);
    expect(Object.is(back.min, -0)).toBe(true);
  });

  test("the schema JSON parses, names energy.WindowRecord and tags timestamps", () => {
    const parsed = JSON.parse(windowSchemaJson);
    expect(parsed).toEqual(windowSchema);
    expect(`${parsed.namespace}.${parsed.name}`).toBe("energy.WindowRecord");
    const logical = parsed.fields
      .filter((f: { type: { logicalType?: string } }) => f.type.logicalType === "timestamp-millis")
      .map((f: { name: string }) => f.name);
    expect(logical).toEqual(["window_start", "window_end", "first_event", "last_event", "emitted_at"]);
    // A foreign reader parsing the text gets the same wire format.
    const foreign = avro.Type.forSchema(parsed);
    expect(foreign.fromBuffer(Buffer.from(encodeWindow(sampleWindow()))).sensor_id).toBe(7);
  });

  test("the registered schema text is pinned byte for byte", () => {
    // Pulsar keeps this text in its schema registry and a Java consumer reads windows with it
    // (packages/logs/java-consumer.test.ts): a different text is a new schema version, a different
    // canonical form a different schema. A deliberate change updates both pins and says why.
    expect(windowSchemaJson).toBe(
      '{"type":"record","name":"WindowRecord","namespace":"energy","doc":"A closed event-time tumbling window of one sensor\'s readings (see lib/records.ts)","fields":[' +
        '{"name":"sensor_id","type":"long"},' +
        '{"name":"window_start","type":{"type":"long","logicalType":"timestamp-millis"}},' +
        '{"name":"window_end","type":{"type":"long","logicalType":"timestamp-millis"}},' +
        '{"name":"count","type":"int"},{"name":"sum","type":"double"},{"name":"mean","type":"double"},' +
        '{"name":"min","type":"double"},{"name":"max","type":"double"},' +
        '{"name":"first_event","type":{"type":"long","logicalType":"timestamp-millis"}},' +
        '{"name":"last_event","type":{"type":"long","logicalType":"timestamp-millis"}},' +
        '{"name":"slots","type":{"type":"array","items":"double"}},' +
        '{"name":"imputed","type":{"type":"array","items":"boolean"}},' +
        '{"name":"duplicates","type":"int"},{"name":"max_created_at","type":"long"},' +
        '{"name":"emitted_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}',
    );
    // SHA-256 of the Parsing Canonical Form (what Avro readers compare), pinned on its own.
    const fingerprint = avro.Type.forSchema(JSON.parse(windowSchemaJson))
      .fingerprint("sha256")
      .toString("hex");
    expect(fingerprint).toBe("ae032e062c34cbe0c371c95ca1e3a0f6619e5d414c8829f315792c82b69425fe");
  });

  test("every field of windowFields is in the schema, in its order, and round-trips", () => {
    expect(windowSchema.fields.map((f) => f.name)).toEqual(Object.values(windowFields).map((f) => f.name));
    const w = sampleWindow();
    expect(Object.keys(decodeWindow(encodeWindow(w)))).toEqual(Object.keys(windowFields));
  });

  test("garbage and truncated bytes are a typed validation error", async () => {
    const full = encodeWindow(sampleWindow());
    for (const bad of [new Uint8Array([1, 2, 3]), full.subarray(0, full.length - 5), new Uint8Array(0)]) {
      await expectPipelineError(() => decodeWindow(bad), "validation");
    }
    const trailing = new Uint8Array([...full, 0]);
    expect(() => decodeWindow(trailing)).toThrow(PipelineError);
  });

  test("a value the schema cannot hold is rejected before encoding, naming the field", async () => {
    const error = await expectPipelineError(
      () => encodeWindow({ ...sampleWindow(), count: 1.5 }),
      "validation",
    );
    expect(error.message).toContain("count=1.5");
  });
});
