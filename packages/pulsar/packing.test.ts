import { afterAll, describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import { until } from "@energy/testing/until.ts";
import { PulsarConsumer, type PulsarMessage } from "./consumer.ts";
import { decodePacked, encodePacked, type PackedRecord } from "./packing.ts";
import { PulsarProducer, type SendTracker } from "./producer.ts";

describe("packed message format", () => {
  test("round trip keeps payload bytes, event times and properties per record", () => {
    const records: PackedRecord[] = [
      { payload: new Uint8Array([0, 1, 255]), eventTime: 1_700_000_000_123, properties: { unit: "W" } },
      { payload: new Uint8Array([]) },
      { payload: new TextEncoder().encode('é"}'), properties: { "a b": "c\nd" } },
    ];
    const decoded = decodePacked(encodePacked(records));
    expect(decoded).toHaveLength(3);
    expect([...decoded[0]!.payload]).toEqual([0, 1, 255]);
    expect(decoded[0]!.eventTime).toBe(1_700_000_000_123);
    expect(decoded[0]!.properties).toEqual({ unit: "W" });
    expect(decoded[1]!.payload.byteLength).toBe(0);
    expect(decoded[1]!.eventTime).toBeUndefined();
    expect(decoded[1]!.properties).toBeUndefined();
    expect(new TextDecoder().decode(decoded[2]!.payload)).toBe('é"}');
    expect(decoded[2]!.properties).toEqual({ "a b": "c\nd" });
  });

  test("truncated or padded bytes are a validation error, not garbage records", () => {
    const bytes = encodePacked([{ payload: new Uint8Array(10), eventTime: 5 }]);
    for (const bad of [bytes.subarray(0, 3), bytes.subarray(0, bytes.length - 1)]) {
      expect(() => decodePacked(bad)).toThrow(PipelineError);
    }
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes);
    expect(() => decodePacked(padded)).toThrow(/1 bytes after its 1 records/);
  });
});

const pulsar = await pulsarForTests();
const created: string[] = [];
const text = (m: PulsarMessage) => new TextDecoder().decode(m.payload);

describe.skipIf(!pulsar)("packing producer and unpacking consumer against a real Pulsar", () => {
  const url = pulsar?.url;
  afterAll(async () => {
    for (const topic of created) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("records come out one by one with their ids, keys, properties and event times; acks ack the pack", async () => {
    const topic = uniqueTopic("packed");
    created.push(topic);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "p",
      initialPosition: "Earliest",
    });
    const producer = await PulsarProducer.create({
      url,
      topic,
      packing: { maxMessages: 4, maxBytes: 64 * 1024, maxDelayMs: 5 },
    });
    const sends = Array.from({ length: 10 }, (_, i) =>
      producer.send(`m${i}`, { key: `k${i % 2}`, properties: { i: String(i) }, eventTime: 1_000 + i }),
    );
    const ids = await Promise.all(sends);
    const received: PulsarMessage[] = [];
    while (received.length < 10) received.push(await consumer.receive(10_000));
    expect(received.map(text).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
    for (const m of received) {
      const i = Number(text(m).slice(1));
      expect(m.id).toBe(ids[i]!);
      expect(m.key).toBe(`k${i % 2}`);
      expect(m.properties).toEqual({ i: String(i) });
      expect(m.eventTime).toBe(1_000 + i);
    }
    // per key, records keep send order across packs
    for (const key of ["k0", "k1"]) {
      const order = received.filter((m) => m.key === key).map((m) => Number(text(m).slice(1)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    for (const m of received) consumer.ack(m);
    await Bun.sleep(300); // acks are fire-and-forget
    await consumer.close();
    await producer.close();
    const again = await PulsarConsumer.subscribe({ url, topic, subscription: "p" });
    await expect(again.receive(1_000)).rejects.toThrow(/did not complete/);
    await again.close();
  });

  test("a negative ack brings the pack back; this consumer hands out only its records not acked", async () => {
    const topic = uniqueTopic("packed-nack");
    created.push(topic);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "n",
      subscriptionType: "Shared", // the broker counts redeliveries on Shared subscriptions
      initialPosition: "Earliest",
      negativeAckRedeliveryDelayMs: 200,
    });
    const producer = await PulsarProducer.create({
      url,
      topic,
      packing: { maxMessages: 4, maxBytes: 64 * 1024, maxDelayMs: 50 },
    });
    await Promise.all(["a", "b", "c", "d"].map((s) => producer.send(s)));
    const first = [
      await consumer.receive(5_000),
      await consumer.receive(5_000),
      await consumer.receive(5_000),
      await consumer.receive(5_000),
    ];
    consumer.ack(first[0]!);
    consumer.negativeAck(first[1]!); // the broker redelivers the whole pack
    consumer.ack(first[2]!); // acked after the nack: remembered too
    // "d" neither acked nor nacked: it comes back with "b"
    const again = [await consumer.receive(5_000), await consumer.receive(5_000)];
    expect(again.map(text)).toEqual(["b", "d"]);
    expect(again.every((m) => m.redeliveryCount >= 1)).toBe(true);
    await expect(consumer.receive(500)).rejects.toThrow(/did not complete/);
    for (const m of again) consumer.ack(m);
    await producer.close();
    await consumer.close();
  });

  test("the compact handle (pack, index) acks like the record's id, once; the pack is acked when every record is", async () => {
    const topic = uniqueTopic("packed-handle");
    created.push(topic);
    const subscribe = () =>
      PulsarConsumer.subscribe({ url, topic, subscription: "h", initialPosition: "Earliest" });
    const consumer = await subscribe();
    const producer = await PulsarProducer.create({
      url,
      topic,
      packing: { maxMessages: 4, maxBytes: 64 * 1024, maxDelayMs: 50 },
    });
    await Promise.all(["a", "b", "c", "d"].map((s) => producer.send(s)));
    const got = [] as PulsarMessage[];
    while (got.length < 4) got.push(await consumer.receive(5_000));
    const pack = got[0]!.pack!;
    expect(got.map((m) => [m.pack, m.index])).toEqual(got.map((_, i) => [pack, i]));
    expect(consumer.ackRecord(pack, 0)).toBe(true);
    expect(consumer.ackRecord(pack, 0)).toBe(false); // again: nothing new
    consumer.ack(got[1]!.id); // by id string: the same bookkeeping
    expect(consumer.ackRecord(pack, 1)).toBe(false);
    expect(consumer.ackRecord(pack, 7)).toBe(false); // not a record of it
    consumer.ack(got[2]!);
    expect([0, 1, 2, 3].map((i) => pack.isAcked(i))).toEqual([true, true, true, false]);
    expect(pack.remaining).toBe(1);
    await Bun.sleep(300);
    await consumer.close();
    // "d" un-acked: the whole pack comes back to a new consumer
    const second = await subscribe();
    const back = [] as PulsarMessage[];
    while (back.length < 4) back.push(await second.receive(5_000));
    expect(back.map(text)).toEqual(["a", "b", "c", "d"]);
    for (const m of back) expect(second.ackRecord(m.pack!, m.index!)).toBe(true);
    await Bun.sleep(300);
    await second.close();
    const third = await subscribe();
    await expect(third.receive(1_000)).rejects.toThrow(/did not complete/);
    await third.close();
    await producer.close();
  });

  test("sendTracked: a pack reports each run of one tracker's records in one call, with their indices; a refused send tells nobody", async () => {
    const topic = uniqueTopic("packed-tracked");
    created.push(topic);
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "t",
      initialPosition: "Earliest",
    });
    const producer = await PulsarProducer.create({
      url,
      topic,
      packing: { mixKeys: true, maxMessages: 100, maxBytes: 64 * 1024, maxDelayMs: 20 },
    });
    const calls: string[] = [];
    const tracker = (name: string): SendTracker => ({
      acked: (count, id, first) => void calls.push(`${name} ${count} from ${first} of ${id}`),
      failed: (count, error) => void calls.push(`${name} ${count} failed: ${error}`),
    });
    const a = tracker("a");
    const b = tracker("b");
    // a a a b b a: three runs in one pack
    for (const [i, t] of [a, a, a, b, b, a].entries()) producer.sendTracked(`m${i}`, t, { key: `k${i}` });
    expect(producer.inFlight).toBe(6);
    const single = producer.send("m6", { key: "k6" }); // a send mixes in as a run of its own
    expect(() => producer.sendTracked(new Uint8Array(900 * 1024), a)).toThrow(/frame limit/);
    const id = await single;
    expect(producer.inFlight).toBe(0);
    const pack = id.slice(0, id.indexOf("#"));
    expect(id).toBe(`${pack}#6`);
    expect(calls).toEqual([`a 3 from 0 of ${pack}`, `b 2 from 3 of ${pack}`, `a 1 from 5 of ${pack}`]);
    const got: PulsarMessage[] = [];
    while (got.length < 7) got.push(await consumer.receive(5_000));
    expect(got.map((m) => `${text(m)}:${m.key}:${m.id}`)).toEqual(
      Array.from({ length: 7 }, (_, i) => `m${i}:k${i}:${pack}#${i}`),
    );
    await producer.close();
    expect(() => producer.sendTracked("late", a)).toThrow(/closed/);
    expect(calls).toHaveLength(3);
    await consumer.close();
  });

  /** A backlog of `records` packed records of one key, then a pull-mode consumer of it from the start. */
  async function backlog(
    name: string,
    records: string[],
    maxMessages: number,
    bounds: { maxBufferedRecords?: number; maxBufferedBytes?: number },
  ) {
    const topic = uniqueTopic(name);
    created.push(topic);
    const producer = await PulsarProducer.create({
      url,
      topic,
      packing: { maxMessages, maxBytes: 128 * 1024, maxDelayMs: 50 },
    });
    await Promise.all(records.map((r) => producer.send(r, { key: "k" })));
    const consumer = await PulsarConsumer.subscribe({
      url,
      topic,
      subscription: "pull",
      initialPosition: "Earliest",
      pullMode: true,
      ...bounds,
    });
    await until("the first packs", () => consumer.buffered > 0);
    return { producer, consumer };
  }

  test("pull mode: a backlog of large packs is buffered about maxBufferedRecords at a time, and all of it arrives in order", async () => {
    const total = 20 * 500;
    const sent = Array.from({ length: total }, (_, i) => `r${i}`);
    const { producer, consumer } = await backlog("packed-pull", sent, 500, { maxBufferedRecords: 2_000 });
    await Bun.sleep(1_000); // time for more to arrive, were more granted
    // one receiver queue of packs (the old bound) would be the whole backlog, 10,000 records
    expect(consumer.buffered).toBeLessThanOrEqual(2_000);
    const seen: string[] = [];
    let peak = 0;
    while (seen.length < total) {
      const m = await consumer.receive(10_000);
      seen.push(text(m));
      consumer.ack(m);
      peak = Math.max(peak, consumer.buffered);
    }
    expect(seen).toEqual(sent);
    expect(peak).toBeLessThanOrEqual(2_000 + 500);
    await consumer.close();
    await producer.close();
  }, 60_000);

  test("pull mode: a backlog of packs of large records is buffered about maxBufferedBytes at a time", async () => {
    // 2 KB records (a batch of ~80 readings): ~60 to a 128 KiB pack, 8 MB in all.
    const record = "x".repeat(2_000);
    const total = 4_000;
    const sent = Array.from({ length: total }, (_, i) => `${i} ${record}`);
    const maxBytes = 1024 * 1024;
    const { producer, consumer } = await backlog("packed-pull-bytes", sent, 1000, {
      maxBufferedBytes: maxBytes,
    });
    await Bun.sleep(1_000); // time for more to arrive, were more granted
    // By records alone (100,000 by default) the whole 8 MB backlog would be granted at once.
    const pack = 128 * 1024;
    expect(consumer.bufferedPayloadBytes).toBeLessThanOrEqual(maxBytes + pack);
    let seen = 0;
    let peak = 0;
    while (seen < total) {
      const m = await consumer.receive(10_000);
      expect(text(m).startsWith(`${seen} `)).toBe(true);
      seen++;
      consumer.ack(m);
      peak = Math.max(peak, consumer.bufferedPayloadBytes);
    }
    expect(peak).toBeLessThanOrEqual(maxBytes + pack);
    await consumer.close();
    await producer.close();
  }, 60_000);
});
