import { afterAll, describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import avro from "avsc";
import { PulsarConsumer } from "./consumer.ts";
import { PulsarProducer } from "./producer.ts";

const pulsar = await pulsarForTests();
const created: string[] = [];

const readingSchema = {
  type: "record",
  name: "TestReading",
  namespace: "energy.test",
  fields: [
    { name: "sensorId", type: "int" },
    { name: "eventTimeMs", type: "long" },
    { name: "value", type: "double" },
    { name: "tags", type: { type: "array", items: "string" } },
  ],
};

describe.skipIf(!pulsar)("PulsarAdmin against a real Pulsar", () => {
  // The body runs to collect the tests even when skipped: no dereference of `pulsar` here, only in tests.
  const admin = () => pulsar!.admin;

  afterAll(async () => {
    for (const topic of created)
      await admin()
        .deleteTopic(topic)
        .catch(() => {});
  });

  test("namespace creation is idempotent", async () => {
    await admin().ensureNamespace(pulsar!.namespace);
    await admin().ensureNamespace(pulsar!.namespace);
    expect(await admin().listNamespaces("energy-test")).toContain(pulsar!.namespace);
  });

  test("topic creation is idempotent and the topic is listed", async () => {
    const topic = uniqueTopic("admin-plain");
    created.push(topic);
    await admin().ensureTopic(topic);
    await admin().ensureTopic(topic);
    expect(await admin().listTopics(pulsar!.namespace)).toContain(topic);
    expect(await admin().getPartitions(topic)).toBe(0);
  });

  test("partitioned topic creation is idempotent; another partition count is refused", async () => {
    const topic = uniqueTopic("admin-part");
    created.push(topic);
    await admin().ensurePartitionedTopic(topic, 3);
    await admin().ensurePartitionedTopic(topic, 3);
    expect(await admin().getPartitions(topic)).toBe(3);
    const error = await admin()
      .ensurePartitionedTopic(topic, 5)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).code).toBe("config");
  });

  test("a missing namespace is a not-found error", async () => {
    const error = await admin()
      .listTopics("energy-test/no-such-namespace")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).code).toBe("not-found");
  });

  test("AVRO schema read back equals ours, and a message we produce decodes with it", async () => {
    const topic = uniqueTopic("admin-schema");
    created.push(topic);
    await admin().ensureTopic(topic);
    const ours = JSON.stringify(readingSchema);
    await admin().uploadSchema(topic, { type: "AVRO", schema: ours, properties: { owner: "core" } });
    const stored = await admin().getSchema(topic);
    expect(stored?.type).toBe("AVRO");
    expect(JSON.parse(stored!.schema)).toEqual(readingSchema);
    expect(stored?.properties).toEqual({ owner: "core" });

    const writer = avro.Type.forSchema(readingSchema as avro.Schema);
    const reader = avro.Type.forSchema(JSON.parse(stored!.schema));
    const record = { sensorId: 7, eventTimeMs: 1_700_000_000_123, value: 42.5, tags: ["a", "b"] };
    const consumer = await PulsarConsumer.subscribe({
      url: pulsar!.url,
      topic,
      subscription: "schema-check",
    });
    const producer = await PulsarProducer.create({ url: pulsar!.url, topic });
    await producer.send(new Uint8Array(writer.toBuffer(record)), { key: "7" });
    const message = await consumer.receive(10_000);
    consumer.ack(message);
    expect(reader.fromBuffer(Buffer.from(message.payload))).toEqual(record);
    await producer.close();
    await consumer.close();
  });

  test("a topic without a schema has none", async () => {
    const topic = uniqueTopic("admin-noschema");
    created.push(topic);
    await admin().ensureTopic(topic);
    expect(await admin().getSchema(topic)).toBeUndefined();
  });
});
