/**
 * The bridge's ack ordering against the real Mosquitto: a QoS 1 message is acknowledged to the broker only
 * once the readings log has accepted its readings, so a core that dies with messages in its buffer leaves
 * them in its persistent session for the next core (apps/crash.test.ts runs the whole crash).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { coreMetrics } from "@energy/platform/metrics.ts";
import { collectingReadingsLog, gatedReadingsLog } from "@energy/testing/collecting-log.ts";
import { runId } from "@energy/testing/fixtures.ts";
import { endMqttSession, mosquittoUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { until } from "@energy/testing/until.ts";
import { Aedes } from "aedes";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { Registry } from "prom-client";
import { createMemoryDeadLetterSink } from "./dead-letters.ts";
import { parseSensorMessage } from "./messages.ts";
import { secondReading, startTestBridge } from "./testing/bridge.ts";

const skip = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);

describe.skipIf(skip)("MQTT bridge against the real Mosquitto", () => {
  const run = runId();
  const prefix = `test-bridge-${run}`;
  const clientId = `core-bridge-${run}`;
  const session: IClientOptions = {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 60 },
  };
  const clients: MqttClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await endMqttSession(clientId);
  });

  /** Connects with the bridge's session, as a restarted core would, and collects what the broker hands over. */
  async function takeOverSession(): Promise<{ client: MqttClient; got: { body: string; dup: boolean }[] }> {
    const got: { body: string; dup: boolean }[] = [];
    const client = mqtt.connect(mosquittoUrl.href, { ...session, reconnectPeriod: 0 });
    clients.push(client);
    client.on("message", (_topic, payload, packet) =>
      got.push({ body: payload.toString(), dup: packet.dup }),
    );
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    return { client, got };
  }

  test("PUBACK waits for the log: messages held in the bridge stay in the session; logged ones do not", async () => {
    const { log, published, open } = gatedReadingsLog();
    const bridge = await startTestBridge({
      topicPrefix: prefix,
      shareGroup: `bridge-${run}`,
      clientId,
      sessionExpirySeconds: 60,
      readingsLog: log,
    });
    const edge = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `${prefix}-edge` });
    clients.push(edge);

    // 1. Five messages reach the bridge while the log holds their publish: none may be acknowledged.
    for (let s = 0; s < 5; s++) await edge.publishAsync(`${prefix}/1/reading`, secondReading(s), { qos: 1 });
    await until("the bridge to take the five messages", () => bridge.pendingAcks() === 5);
    expect(published).toHaveLength(0);
    // A core taking over the session now (the first one "crashed") gets all five again, flagged DUP.
    const first = await takeOverSession();
    await until("the five un-acknowledged messages to be redelivered", () => first.got.length === 5);
    expect(first.got.every((m) => m.dup)).toBe(true);
    expect(first.got.map((m) => JSON.parse(m.body).sensor_timestamp - 1_765_152_000)).toEqual([
      0, 1, 2, 3, 4,
    ]);
    await first.client.endAsync();

    // 2. The log accepts; the bridge reconnects (its session was taken over) and bridges three more.
    open();
    await until("the bridge to reconnect", () => bridge.connected(), 5_000);
    for (let s = 5; s < 8; s++) await edge.publishAsync(`${prefix}/1/reading`, secondReading(s), { qos: 1 });
    await until(
      "the three new messages logged and acknowledged",
      () =>
        published.some((r) => r.value.readings[0]?.eventTimeMs === (1_765_152_000 + 7) * 1000) &&
        bridge.pendingAcks() === 0,
    );
    await bridge.stop();

    // Acknowledged after the log had them: nothing of those is left in the session.
    const second = await takeOverSession();
    await Bun.sleep(500);
    expect(second.got).toEqual([]);
    await second.client.endAsync();
  }, 20_000);
});

const streaming = (sensor: number, s: number) =>
  JSON.stringify({
    sensor_id: sensor,
    sensor_energy_value: 500 + s,
    sensor_timestamp: Math.floor(Date.now() / 1000) - 600 + s,
    message_creation_time: Date.now(),
  });

describe.skipIf(skip)("MQTT bridge faults against the real Mosquitto", () => {
  const run = runId();
  const clients: MqttClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.end(true);
  });
  const edge = async (name: string) => {
    const c = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `edge-${name}-${run}` });
    clients.push(c);
    return c;
  };

  test("containment: a message whose handling throws is dead-lettered as internal_error; the next ones go on", async () => {
    const prefix = `test-contain-${run}`;
    const { log, published } = collectingReadingsLog();
    const deadLetters = createMemoryDeadLetterSink();
    const metrics = coreMetrics(new Registry());
    const bridge = await startTestBridge({
      topicPrefix: prefix,
      readingsLog: log,
      deadLetters,
      metrics,
      // A parser with a bug that one payload triggers (as 1e13 timestamps did with RangeError: Invalid Date).
      parse: (topic, raw, now, limits) => {
        if (new TextDecoder().decode(raw).includes("boom")) throw new RangeError("Invalid Date");
        return parseSensorMessage(topic, raw, now, limits);
      },
    });
    const c = await edge("contain");
    await c.publishAsync(`${prefix}/5/reading`, '{"boom":1}', { qos: 1 });
    await c.publishAsync(`${prefix}/5/reading`, streaming(5, 1), { qos: 1 });
    await until("the valid reading after the poison one", () => published.length === 1);
    await until("the poison one acknowledged", () => bridge.pendingAcks() === 0);
    expect(deadLetters.letters.map((l) => l.reason)).toEqual(["internal_error"]);
    expect(deadLetters.letters[0]!.detail).toContain("RangeError: Invalid Date");
    expect(new TextDecoder().decode(deadLetters.letters[0]!.raw)).toBe('{"boom":1}');
    expect((await metrics.internalErrors.get()).values[0]?.value).toBe(1);
    expect(bridge.connected()).toBe(true);
    await bridge.stop();
  }, 20_000);

  test("retry buffer is bounded: with the log down the bridge stops taking messages, the broker keeps them", async () => {
    const prefix = `test-bounded-${run}`;
    const { log, published, open } = gatedReadingsLog();
    const bridge = await startTestBridge({
      topicPrefix: prefix,
      readingsLog: log,
      maxBufferedReadings: 50,
    });
    const c = await edge("bounded");
    const total = 300;
    for (let s = 0; s < total; s++) await c.publishAsync(`${prefix}/6/reading`, streaming(6, s), { qos: 1 });
    await Bun.sleep(1_000);
    // Before: every message was taken into an unbounded buffer (300 held).
    expect(bridge.buffered()).toBeLessThanOrEqual(51);
    expect(bridge.pendingAcks()).toBeLessThanOrEqual(51);
    open();
    await until(
      "every message to reach the log once it accepts",
      () => published.reduce((n, r) => n + r.value.readings.length, 0) >= total,
      15_000,
    );
    const seconds = published.flatMap((r) => r.value.readings.map((x) => x.value - 500));
    expect(new Set(seconds).size).toBe(total);
    await bridge.stop();
  }, 30_000);

  test("the bound counts readings: a batch message of 60 readings weighs 60 streaming ones", async () => {
    const prefix = `test-bounded-batch-${run}`;
    const { log, published, open } = gatedReadingsLog();
    const bridge = await startTestBridge({ topicPrefix: prefix, readingsLog: log, maxBufferedReadings: 120 });
    const c = await edge("bounded-batch");
    const total = 20;
    const t0 = Math.floor(Date.now() / 60_000) * 60 - 3_600;
    for (let m = 0; m < total; m++) {
      const start = t0 + m * 60;
      const batch = {
        sensor_id: 8,
        interval_start: start,
        interval_end: start + 60,
        message_creation_time: Date.now(),
        readings: Array.from({ length: 60 }, (_, s) => [start + s, 500 + s]),
      };
      await c.publishAsync(`${prefix}/8/batch`, JSON.stringify(batch), { qos: 1 });
    }
    await Bun.sleep(1_000);
    // 120 readings are two of these messages (a third may be in hand when the bound is reached); counted
    // in records, all 20 messages (1,200 readings) were taken while the log was down.
    expect(bridge.buffered()).toBeLessThanOrEqual(3 * 60);
    expect(bridge.pendingAcks()).toBeLessThanOrEqual(3);
    open();
    await until(
      "every batch to reach the log once it accepts",
      () => published.reduce((n, r) => n + r.value.readings.length, 0) >= total * 60,
      15_000,
    );
    expect(published.map((r) => r.value.readings[0]!.eventTimeMs)).toEqual(
      Array.from({ length: total }, (_, m) => (t0 + m * 60) * 1000),
    );
    await bridge.stop();
  }, 30_000);

  test("a persistent session resubscribes when the broker reports it present: a new TOPIC_PREFIX takes effect", async () => {
    const clientId = `core-resub-${run}`;
    const first = collectingReadingsLog();
    const a = await startTestBridge({
      topicPrefix: `test-old-${run}`,
      clientId,
      sessionExpirySeconds: 60,
      readingsLog: first.log,
    });
    await a.stop();
    const second = collectingReadingsLog();
    const b = await startTestBridge({
      topicPrefix: `test-new-${run}`,
      clientId,
      sessionExpirySeconds: 60,
      readingsLog: second.log,
    });
    const c = await edge("resub");
    // The subscription is in flight right after connect: publish until one arrives.
    await until(
      "a message on the new prefix",
      () => {
        void c.publishAsync(`test-new-${run}/7/reading`, streaming(7, 0), { qos: 1 });
        return second.published.length > 0;
      },
      10_000,
    );
    await b.stop();
    await endMqttSession(clientId);
  }, 30_000);
});

test("a refused password ends with 'not authorized' at once, not a 10 s wait blaming the URL", async () => {
  const broker = await Aedes.createBroker({
    authenticate: (_client, username, password, done) =>
      done(null, username === "core" && password?.toString() === "right"),
  });
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  const started = Date.now();
  try {
    const attempt = startTestBridge({
      mqttUrl: new URL(`mqtt://127.0.0.1:${port}`),
      protocolVersion: 4,
      username: "core",
      password: "wrong",
      topicPrefix: "sensors",
      readingsLog: collectingReadingsLog().log,
    });
    await expect(attempt).rejects.toThrow(/not authorized.*MQTT_PASSWORD/);
    expect(Date.now() - started).toBeLessThan(5_000);
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}, 20_000);
