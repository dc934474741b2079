/**
 * The PUBLISH intake on the real, pinned mqtt.js against a scripted broker (a TCP server speaking bytes):
 * PUBLISHes reach `onPublish` and never mqtt.js, every other packet reaches mqtt.js, a paused read takes
 * nothing until resumed, and bytes that are not MQTT drop the connection, after which mqtt.js reconnects.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { until } from "@energy/testing/until.ts";
import mqtt, { type MqttClient } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";
import { interceptPublishes, type OnPublish } from "./mqtt-intake.ts";

const v = { protocolVersion: 4 } as const;
const bytes = (p: object) => mqttPacket.generate(p as Packet, v);
const connack = bytes({ cmd: "connack", sessionPresent: false, returnCode: 0 });
const published = (n: number, qos: 0 | 1 = 1) =>
  bytes({
    cmd: "publish",
    topic: `t/${n}/reading`,
    payload: Buffer.from(`p${n}`),
    qos,
    dup: n % 2 === 1 && qos === 1,
    retain: false,
    messageId: 100 + n,
  });

interface Scripted {
  port: number;
  connections: Socket[];
  /** Packets the client sent, by connection. */
  received: Packet[][];
  server: Server;
}

/** A broker that answers CONNECT with `onConnect` and SUBSCRIBE with `onSubscribe` (default: a SUBACK). */
async function scriptedBroker(
  onConnect: (socket: Socket, connection: number) => void,
  onSubscribe: (socket: Socket, suback: Buffer) => void = (socket, suback) => socket.write(suback),
): Promise<Scripted> {
  const connections: Socket[] = [];
  const received: Packet[][] = [];
  const server = createServer((socket) => {
    const index = connections.length;
    connections.push(socket);
    received.push([]);
    const parser = mqttPacket.parser(v);
    parser.on("packet", (p: Packet) => {
      received[index]!.push(p);
      if (p.cmd === "connect") onConnect(socket, index);
      if (p.cmd === "subscribe")
        onSubscribe(socket, bytes({ cmd: "suback", messageId: p.messageId, granted: [1] }));
    });
    socket.on("data", (chunk: Buffer) => parser.parse(chunk));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { port: (server.address() as { port: number }).port, connections, received, server };
}

const clients: MqttClient[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const s of servers.splice(0)) s.close();
});

function client(port: number, onPublish: OnPublish, onBroken: (e: unknown) => void = () => {}) {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 50,
    manualConnect: true,
    log: () => {},
  });
  clients.push(c);
  const intake = interceptPublishes(c, { onPublish, onBroken });
  c.connect();
  return { c, intake };
}

interface Got {
  topic: string;
  payload: string;
  qos: number;
  dup: boolean;
  messageId: number;
  connection: number;
}
const collect = (got: Got[], keepGoing: () => boolean = () => true): OnPublish => {
  return (topic, payload, qos, dup, messageId, connection) => {
    got.push({ topic, payload: new TextDecoder().decode(payload), qos, dup, messageId, connection });
    return keepGoing();
  };
};

describe("the runtime's socket chunks", () => {
  test("stay as delivered after later reads: a paused read may keep one, and payloads are views into it", async () => {
    const sent = Buffer.from(Array.from({ length: 4_000_000 }, (_, i) => (i * 31 + (i >> 12)) & 0xff));
    const server = createServer((socket) => socket.end(sent));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const socket = connect((server.address() as { port: number }).port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => socket.on("end", () => resolve()));
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(sent)).toBe(true);
  });
});

describe("interceptPublishes on mqtt.js 5.16.0", () => {
  test("PUBLISHes go to onPublish only, CONNACK and SUBACK to mqtt.js, even one byte per TCP segment", async () => {
    const drip = async (socket: Socket, stream: Buffer) => {
      for (const b of stream) {
        socket.write(Buffer.from([b]));
        await Bun.sleep(0);
      }
    };
    const broker = await scriptedBroker(
      (socket) => void drip(socket, connack),
      (socket, suback) =>
        void drip(socket, Buffer.concat([suback, published(1), published(2, 0), published(3)])),
    );
    servers.push(broker.server);
    const got: Got[] = [];
    const { c } = client(broker.port, collect(got));
    const viaMqttJs: string[] = [];
    c.on("message", (topic) => viaMqttJs.push(topic));
    await until("connected", () => c.connected, 5_000);
    // The SUBACK passes through to mqtt.js, which resolves the subscribe.
    const granted = await c.subscribeAsync("t/#", { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    await until("three PUBLISHes", () => got.length === 3, 5_000);
    expect(got).toEqual([
      { topic: "t/1/reading", payload: "p1", qos: 1, dup: true, messageId: 101, connection: 1 },
      { topic: "t/2/reading", payload: "p2", qos: 0, dup: false, messageId: 0, connection: 1 },
      { topic: "t/3/reading", payload: "p3", qos: 1, dup: true, messageId: 103, connection: 1 },
    ]);
    expect(viaMqttJs).toEqual([]);
    // mqtt.js never saw the QoS 1 PUBLISHes, so it acknowledged none of them: that is the bridge's job.
    await Bun.sleep(50);
    expect(broker.received[0]!.filter((p) => p.cmd === "puback")).toEqual([]);
  });

  test("onPublish returning false pauses the read; resume() goes on, in order, from the same chunk", async () => {
    const many = Array.from({ length: 50 }, (_, i) => published(i));
    // All in one write: the pause falls in the middle of a chunk.
    const broker = await scriptedBroker((socket) => socket.write(Buffer.concat([connack, ...many])));
    servers.push(broker.server);
    const got: Got[] = [];
    let allowed = 10;
    const { c, intake } = client(
      broker.port,
      collect(got, () => got.length < allowed),
    );
    await until("the first ten", () => got.length === 10, 5_000);
    await Bun.sleep(100);
    expect(got.length).toBe(10);
    expect(c.connected).toBe(true);
    allowed = 30;
    intake.resume();
    await until("thirty", () => got.length === 30, 5_000);
    await Bun.sleep(100);
    expect(got.length).toBe(30);
    allowed = Number.POSITIVE_INFINITY;
    intake.resume();
    await until("all fifty", () => got.length === 50, 5_000);
    expect(got.map((g) => g.messageId)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
  });

  test("a malformed packet drops the connection, reported; mqtt.js reconnects and the next one is read", async () => {
    const broker = await scriptedBroker((socket, connection) => {
      // A remaining length of five bytes: not MQTT. The first connection only.
      socket.write(
        connection === 0
          ? Buffer.concat([connack, published(1), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])])
          : Buffer.concat([connack, published(2)]),
      );
    });
    servers.push(broker.server);
    const got: Got[] = [];
    const broken: unknown[] = [];
    const { intake } = client(broker.port, collect(got), (e) => broken.push(e));
    await until("the PUBLISH after the reconnect", () => got.length === 2, 5_000);
    expect(got.map((g) => [g.messageId, g.connection])).toEqual([
      [101, 1],
      [102, 2],
    ]);
    expect(broken).toHaveLength(1);
    expect(String(broken[0])).toContain("variable byte integer");
    expect(intake.connection()).toBe(2);
    expect(broker.connections[0]!.destroyed || broker.connections[0]!.readableEnded).toBe(true);
  });

  test("keepalive: PINGRESP reaches mqtt.js, which keeps the connection", async () => {
    const broker = await scriptedBroker((socket) => socket.write(connack));
    servers.push(broker.server);
    // Answer PINGREQ as a broker does.
    broker.server.on("connection", (socket: Socket) => {
      const parser = mqttPacket.parser(v);
      parser.on("packet", (p: Packet) => {
        if (p.cmd === "pingreq") socket.write(bytes({ cmd: "pingresp" }));
      });
      socket.on("data", (chunk: Buffer) => parser.parse(chunk));
    });
    const c = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, {
      protocolVersion: 4,
      keepalive: 1,
      reconnectPeriod: 50,
      manualConnect: true,
      log: () => {},
    });
    clients.push(c);
    const intake = interceptPublishes(c, { onPublish: () => true, onBroken: () => {} });
    c.connect();
    await until("connected", () => c.connected, 5_000);
    // mqtt.js pings after 1 s of silence and gives up 1.5 s after that without a PINGRESP.
    await Bun.sleep(3_500);
    const pings = broker.received[0]!.filter((p) => p.cmd === "pingreq").length;
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(c.connected).toBe(true);
    expect(intake.connection()).toBe(1);
  }, 10_000);
});
