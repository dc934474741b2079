import { afterAll, describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import { PulsarConsumer, type PulsarMessage } from "./consumer.ts";
import { PulsarProducer } from "./producer.ts";

const pulsar = await pulsarForTests();
const created: string[] = [];
const text = (m: PulsarMessage) => new TextDecoder().decode(m.payload);

async function receiveN(consumer: PulsarConsumer, n: number, timeoutMs = 10_000): Promise<PulsarMessage[]> {
  const out: PulsarMessage[] = [];
  while (out.length < n) out.push(await consumer.receive(timeoutMs));
  return out;
}

/** Resolves with the messages that arrive within `ms` (none expected in the "nothing left" checks). */
async function drainFor(consumer: PulsarConsumer, ms: number): Promise<PulsarMessage[]> {
  const out: PulsarMessage[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      out.push(await consumer.receive(Math.max(1, deadline - Date.now())));
    } catch (error) {
      if ((error as PipelineError).code !== "timeout") throw error;
    }
  }
  return out;
}

describe.skipIf(!pulsar)("WebSocket producer and consumer against a real Pulsar", () => {
  const url = pulsar?.url;

  afterAll(async () => {
    for (const topic of created) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("round trip keeps payload bytes, key, properties and event time", async () => {
    const topic = uniqueTopic("rt");
    created.push(topic);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "rt",
      initialPosition: "Earliest",
    });
    const producer = await PulsarProducer.create({ url, topic });
    const payload = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    const id = await producer.send(payload, {
      key: "sensor-7",
      properties: { kind: "reading", unit: "W" },
      eventTime: 1_700_000_000_123,
    });
    await producer.send("second", { key: "sensor-8" });
    const [first, second] = await receiveN(consumer, 2);
    expect(first!.id).toBe(id);
    expect([...first!.payload]).toEqual([...payload]);
    expect(first!.key).toBe("sensor-7");
    expect(first!.properties).toEqual({ kind: "reading", unit: "W" });
    expect(first!.eventTime).toBe(1_700_000_000_123);
    expect(Math.abs(first!.publishTime - Date.now())).toBeLessThan(60_000);
    expect(first!.redeliveryCount).toBe(0);
    expect(text(second!)).toBe("second");
    expect(second!.eventTime).toBeUndefined();
    consumer.ack(first!);
    consumer.ack(second!);
    await producer.close();
    await consumer.close();
  });

  test("per-key order holds on a partitioned topic with pipelined, broker-batched sends", async () => {
    const topic = uniqueTopic("order");
    created.push(topic);
    await pulsar!.admin.ensurePartitionedTopic(topic, 3);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "order",
      subscriptionType: "Key_Shared",
      initialPosition: "Earliest",
    });
    const producer = await PulsarProducer.create({
      url,
      topic,
      maxInFlight: 200,
      batching: { maxMessages: 100, maxDelayMs: 5 },
    });
    const keys = 8;
    const perKey = 60;
    const sends: Promise<string>[] = [];
    for (let seq = 0; seq < perKey; seq++) {
      for (let k = 0; k < keys; k++) sends.push(producer.send(`${k}:${seq}`, { key: `sensor-${k}` }));
    }
    const ids = await Promise.all(sends);
    expect(new Set(ids).size).toBe(keys * perKey);
    const got = await receiveN(consumer, keys * perKey);
    const last = new Map<string, number>();
    for (const m of got) {
      const [k, seq] = text(m).split(":").map(Number) as [number, number];
      expect(m.key).toBe(`sensor-${k}`);
      expect(seq).toBe((last.get(m.key!) ?? -1) + 1);
      last.set(m.key!, seq);
      consumer.ack(m);
    }
    expect(last.size).toBe(keys);
    await producer.close();
    await consumer.close();
  });

  test("negative ack redelivers; acked messages are not redelivered", async () => {
    const topic = uniqueTopic("nack");
    created.push(topic);
    const options = {
      url,
      topic,
      subscription: "nack",
      subscriptionType: "Shared" as const,
      initialPosition: "Earliest" as const,
    };
    let consumer = await PulsarConsumer.subscribe({ ...options, negativeAckRedeliveryDelayMs: 200 });
    const producer = await PulsarProducer.create({ url, topic });
    for (const body of ["a", "b", "c"]) await producer.send(body);
    for (const m of await receiveN(consumer, 3)) {
      if (text(m) === "b") consumer.negativeAck(m);
      else consumer.ack(m);
    }
    const again = await consumer.receive(10_000);
    expect(text(again)).toBe("b");
    expect(again.redeliveryCount).toBeGreaterThanOrEqual(1);
    consumer.ack(again);
    await Bun.sleep(300); // acks are fire-and-forget: give the broker a moment before we reconnect
    await consumer.close();
    consumer = await PulsarConsumer.subscribe(options);
    expect(await drainFor(consumer, 1500)).toEqual([]);
    await consumer.close();
    await producer.close();
  });

  test("un-acked messages come back to the next consumer; emulated cumulative ack acks everything before", async () => {
    const topic = uniqueTopic("cumulative");
    created.push(topic);
    const options = { url, topic, subscription: "cum", initialPosition: "Earliest" as const };
    let consumer = await PulsarConsumer.subscribe(options);
    const producer = await PulsarProducer.create({ url, topic });
    for (let i = 0; i < 5; i++) await producer.send(`m${i}`);
    const got = await receiveN(consumer, 5);
    consumer.ackCumulative(got[2]!);
    await Bun.sleep(300);
    await consumer.close();
    consumer = await PulsarConsumer.subscribe(options);
    const rest = await receiveN(consumer, 2);
    expect(rest.map(text)).toEqual(["m3", "m4"]);
    expect(await drainFor(consumer, 500)).toEqual([]);
    expect(() => consumer.ackCumulative(rest[1]!)).not.toThrow();
    await consumer.close();
    await producer.close();
    const shared = await PulsarConsumer.subscribe({
      ...options,
      subscription: "cum-shared",
      subscriptionType: "Shared",
    });
    expect(() => shared.ackCumulative("x")).toThrow(PipelineError);
    await shared.close();
  });

  test("pull mode delivers more than one receiver queue as the application takes messages", async () => {
    const topic = uniqueTopic("pull");
    created.push(topic);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "pull",
      pullMode: true,
      receiverQueueSize: 10,
      initialPosition: "Earliest",
    });
    const producer = await PulsarProducer.create({ url, topic });
    await Promise.all(Array.from({ length: 35 }, (_, i) => producer.send(`p${i}`)));
    await Bun.sleep(500);
    expect(consumer.buffered).toBe(10); // one grant, nothing taken yet
    const got = await receiveN(consumer, 35);
    expect(got.map(text)).toEqual(Array.from({ length: 35 }, (_, i) => `p${i}`));
    for (const m of got) consumer.ack(m);
    await producer.close();
    await consumer.close();
  });

  test("send waits when maxInFlight messages are outstanding", async () => {
    const topic = uniqueTopic("backpressure");
    created.push(topic);
    const producer = await PulsarProducer.create({ url, topic, maxInFlight: 4 });
    let maxSeen = 0;
    const sends = Array.from({ length: 40 }, async (_, i) => {
      const id = producer.send(`b${i}`);
      maxSeen = Math.max(maxSeen, producer.inFlight);
      return id;
    });
    await Promise.all(sends);
    expect(maxSeen).toBeLessThanOrEqual(4);
    expect(producer.inFlight).toBe(0);
    await producer.close();
  });

  test("typed errors: payload too large, missing namespace, exclusive subscription taken", async () => {
    const topic = uniqueTopic("errors");
    created.push(topic);
    const producer = await PulsarProducer.create({ url, topic });
    const big = await producer.send(new Uint8Array(900 * 1024)).catch((e: unknown) => e);
    expect((big as PipelineError).code).toBe("payload-too-large");
    await producer.close();

    const missing = await PulsarProducer.create({
      url,
      topic: "persistent://energy-test/no-such-ns/t",
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PipelineError);
    expect((missing as PipelineError).code).toBe("not-found");

    const first = await PulsarConsumer.subscribe({ url, topic, subscription: "only-one" });
    const second = await PulsarConsumer.subscribe({ url, topic, subscription: "only-one" }).catch(
      (e: unknown) => e,
    );
    expect(second).toBeInstanceOf(PipelineError);
    expect((second as PipelineError).message).toContain("409");
    await first.close();

    const refused = await PulsarProducer.create({
      url: "http://127.0.0.1:1",
      topic,
      connectTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect((refused as PipelineError).code).toBe("connection");
  });
});
