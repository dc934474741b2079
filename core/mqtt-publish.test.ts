/**
 * The hand-written PUBLISH reader against mqtt-packet (the parser mqtt.js uses, pinned with it) as the
 * oracle: random streams of PUBLISH and other packets, cut at random points, MQTT 3.1.1 and 5.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import mqttPacket, { type Packet } from "mqtt-packet";
import { MalformedPacket, needMore, other, PublishReader, publish } from "./mqtt-publish.ts";

type Version = 4 | 5;

interface Read {
  kind: "publish" | "other";
  topic?: string;
  payload?: string;
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  messageId?: number;
  bytes?: string;
}

/** Feeds `chunks` to a reader and lists what it read; payloads and packets as hex (views die with chunks). */
function readAll(version: Version, chunks: Buffer[]): Read[] {
  const reader = new PublishReader(version);
  const out: Read[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (;;) {
      const kind = reader.next();
      if (kind === needMore) break;
      if (kind === publish)
        out.push({
          kind: "publish",
          topic: reader.topic,
          payload: Buffer.from(reader.payload).toString("hex"),
          qos: reader.qos,
          dup: reader.dup,
          retain: reader.retain,
          messageId: reader.messageId,
        });
      else if (kind === other) out.push({ kind: "other", bytes: reader.packet.toString("hex") });
    }
  }
  expect(reader.pendingBytes).toBe(0);
  return out;
}

/** What mqtt-packet's parser makes of the whole stream, in the same shape. */
function oracle(version: Version, stream: Buffer, packets: Buffer[]): Read[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const parsed: Packet[] = [];
  parser.on("packet", (p: Packet) => parsed.push(p));
  parser.on("error", (e: Error) => {
    throw e;
  });
  parser.parse(stream);
  expect(parsed.length).toBe(packets.length);
  return parsed.map((p, i) =>
    p.cmd === "publish"
      ? {
          kind: "publish",
          topic: p.topic,
          payload: Buffer.from(p.payload as Uint8Array).toString("hex"),
          qos: p.qos,
          dup: p.dup,
          retain: p.retain,
          messageId: p.qos > 0 ? p.messageId : 0,
        }
      : { kind: "other", bytes: packets[i]!.toString("hex") },
  );
}

const topic = fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 });
const payload = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  // Long enough for a 2- and 3-byte remaining length.
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 20_000 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);
const v5Properties = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    contentType: fc.string({ maxLength: 20 }),
    responseTopic: fc.string({ minLength: 1, maxLength: 20 }),
    correlationData: fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
    userProperties: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), {
      minKeys: 1,
      maxKeys: 3,
    }),
    subscriptionIdentifier: fc.integer({ min: 1, max: 268_435_455 }),
  },
  { requiredKeys: [] },
);

function publishPacket(version: Version) {
  return fc
    .record({
      topic,
      payload,
      qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      dup: fc.boolean(),
      retain: fc.boolean(),
      messageId: fc.integer({ min: 1, max: 65_535 }),
      properties: version === 5 ? fc.option(v5Properties, { nil: undefined }) : fc.constant(undefined),
    })
    .map(
      (p) =>
        ({
          cmd: "publish",
          topic: p.topic,
          payload: Buffer.from(p.payload),
          qos: p.qos,
          dup: p.qos > 0 && p.dup,
          retain: p.retain,
          ...(p.qos > 0 ? { messageId: p.messageId } : {}),
          ...(p.properties && Object.keys(p.properties).length > 0 ? { properties: p.properties } : {}),
        }) as Packet,
    );
}

/** The other packets a broker sends a subscriber (MQTT 5 names the CONNACK code and UNSUBACK codes). */
function otherPacket(version: Version) {
  const id = fc.integer({ min: 1, max: 65_535 });
  return fc.oneof(
    fc
      .record({ sessionPresent: fc.boolean(), code: fc.constantFrom(0, 5) })
      .map(({ sessionPresent, code }) =>
        version === 5
          ? ({ cmd: "connack", sessionPresent, reasonCode: code === 0 ? 0 : 135 } as Packet)
          : ({ cmd: "connack", sessionPresent, returnCode: code } as Packet),
      ),
    fc
      .record({
        messageId: id,
        granted: fc.array(fc.constantFrom(0, 1, 2, 128), { minLength: 1, maxLength: 4 }),
      })
      .map((p) => ({ cmd: "suback", ...p }) as Packet),
    fc.constant({ cmd: "pingresp" } as Packet),
    id.map((messageId) => ({ cmd: "puback", messageId }) as Packet),
    id.map((messageId) =>
      version === 5
        ? ({ cmd: "unsuback", messageId, granted: [0] } as Packet)
        : ({ cmd: "unsuback", messageId } as Packet),
    ),
  );
}

/** Cut points into `length` bytes, as chunk boundaries (sorted, distinct). */
function cuts(length: number) {
  return fc
    .array(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 40 })
    .map((points) => [...new Set(points.filter((p) => p < length))].sort((a, b) => a - b));
}

/** mqtt-packet's bytes for each packet (it gives none for a packet it finds invalid: the generators avoid those). */
function generate(version: Version, packets: Packet[]): Buffer[] {
  const bytes = packets.map((p) => mqttPacket.generate(p, { protocolVersion: version }));
  for (const b of bytes) expect(b.length).toBeGreaterThan(0);
  return bytes;
}

function split(stream: Buffer, points: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(stream.subarray(from, p));
    from = p;
  }
  chunks.push(stream.subarray(from));
  // Each chunk its own memory, as from a socket: a view into a shared stream would hide a missing copy.
  return chunks.map((c) => Buffer.from(c));
}

for (const version of [4, 5] as const) {
  describe(`MQTT ${version === 5 ? "5" : "3.1.1"}`, () => {
    test("reads what mqtt-packet reads, for any packet stream cut at any points", () => {
      fc.assert(
        fc.property(
          fc
            .array(
              fc.oneof(
                { weight: 4, arbitrary: publishPacket(version) },
                { weight: 1, arbitrary: otherPacket(version) },
              ),
              {
                minLength: 1,
                maxLength: 30,
              },
            )
            .chain((packets) => {
              const bytes = generate(version, packets);
              const stream = Buffer.concat(bytes);
              return fc.tuple(fc.constant(bytes), fc.constant(stream), cuts(stream.length));
            }),
          ([bytes, stream, points]) => {
            expect(readAll(version, split(stream, points))).toEqual(oracle(version, stream, bytes));
          },
        ),
        { numRuns: 300 },
      );
    });

    test("byte by byte", () => {
      fc.assert(
        fc.property(fc.array(publishPacket(version), { minLength: 1, maxLength: 5 }), (packets) => {
          const bytes = generate(version, packets);
          const stream = Buffer.concat(bytes);
          fc.pre(stream.length > 1);
          const points = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
          expect(readAll(version, split(stream, points))).toEqual(oracle(version, stream, bytes));
        }),
        { numRuns: 30 },
      );
    });

    test("garbage either reads as packets or throws MalformedPacket, nothing else", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 50 }), (bytes, step) => {
          const reader = new PublishReader(version);
          try {
            for (let i = 0; i < bytes.length; i += step) {
              reader.push(Buffer.from(bytes.subarray(i, i + step)));
              while (reader.next() !== needMore) {}
            }
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedPacket);
          }
        }),
        { numRuns: 500 },
      );
    });
  });
}

describe("PublishReader", () => {
  const packet = (p: object, version: Version = 4) =>
    mqttPacket.generate(p as Packet, { protocolVersion: version });

  test("a PUBLISH inside one chunk: the payload is a view into the chunk, not a copy", () => {
    const chunk = Buffer.concat([
      packet({ cmd: "publish", topic: "s/1/reading", payload: Buffer.from("abc"), qos: 1, messageId: 7 }),
      packet({ cmd: "pingresp" }),
    ]);
    const reader = new PublishReader(4);
    reader.push(chunk);
    expect(reader.next()).toBe(publish);
    expect(reader.payload.buffer).toBe(chunk.buffer);
    expect(new TextDecoder().decode(reader.payload)).toBe("abc");
    expect([reader.topic, reader.qos, reader.messageId]).toEqual(["s/1/reading", 1, 7]);
    expect(reader.next()).toBe(other);
    expect([...reader.packet]).toEqual([0xd0, 0]);
    expect(reader.next()).toBe(needMore);
  });

  test("a remaining length of five bytes is malformed", () => {
    const reader = new PublishReader(4);
    reader.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(() => reader.next()).toThrow(MalformedPacket);
  });

  test("a five-byte remaining length split after its second byte is malformed once complete", () => {
    const reader = new PublishReader(4);
    reader.push(Buffer.from([0x30, 0xff]));
    expect(reader.next()).toBe(needMore);
    reader.push(Buffer.from([0xff, 0xff, 0xff, 0x01]));
    expect(() => reader.next()).toThrow(MalformedPacket);
  });

  test("QoS 3 is malformed", () => {
    const reader = new PublishReader(4);
    reader.push(Buffer.from([0x36, 4, 0, 1, 0x61, 0]));
    expect(() => reader.next()).toThrow(MalformedPacket);
  });

  test("a topic longer than its packet is malformed", () => {
    const reader = new PublishReader(4);
    reader.push(Buffer.from([0x30, 3, 0, 9, 0x61]));
    expect(() => reader.next()).toThrow(MalformedPacket);
  });

  test("MQTT 5 properties longer than their packet are malformed", () => {
    const reader = new PublishReader(5);
    reader.push(Buffer.from([0x30, 5, 0, 1, 0x61, 9, 0]));
    expect(() => reader.next()).toThrow(MalformedPacket);
  });

  test("a chunk pushed before the last was read is kept in order", () => {
    const a = packet({ cmd: "publish", topic: "a", payload: Buffer.from("1"), qos: 0 });
    const b = packet({ cmd: "publish", topic: "b", payload: Buffer.from("2"), qos: 0 });
    const reader = new PublishReader(4);
    reader.push(a);
    reader.push(b);
    expect(reader.next()).toBe(publish);
    expect(reader.topic).toBe("a");
    expect(reader.next()).toBe(publish);
    expect(reader.topic).toBe("b");
    expect(reader.next()).toBe(needMore);
  });
});
