/**
 * The bridge's deferred PUBACK against the real, pinned mqtt.js and real brokers. The bridge reads PUBLISH
 * packets off mqtt.js's connection itself (core/mqtt-intake.ts) and writes their PUBACKs, on that
 * connection, once the readings log has the records (core/bridge.ts, `sendPubacks`); mqtt.js keeps the rest
 * of the protocol. These tests are what an mqtt upgrade must pass: if mqtt.js stopped handing us the
 * stream, it would parse PUBLISHes and acknowledge them at once, and the first test fails. A proxy between
 * the bridge and the broker reads the PUBACKs (and PINGREQs) off the wire and can cut the connection, so the
 * bridge reconnects with its own persistent session (clean = false), as after a network blip.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, createServer, type Socket } from "node:net";
import { type EmbeddedBroker, startEmbeddedBroker } from "@energy/platform/mqtt-broker.ts";
import { gatedReadingsLog } from "@energy/testing/collecting-log.ts";
import { runId } from "@energy/testing/fixtures.ts";
import { mosquittoUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { until } from "@energy/testing/until.ts";
import mqtt from "mqtt";
import { secondReading, startTestBridge } from "./testing/bridge.ts";

const skipMosquitto = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);

/**
 * Splits a byte stream into MQTT control packets (fixed header: type in the high nibble, then the remaining
 * length as a variable-length integer) and hands over each packet's type and the bytes after the header.
 */
function mqttFrames(onPacket: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      let length = 0;
      let i = 1;
      for (let shift = 0; ; shift += 7, i++) {
        if (i >= pending.length) return;
        const byte = pending[i]!;
        length += (byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) break;
      }
      const end = i + 1 + length;
      if (pending.length < end) return;
      onPacket(pending[0]! >> 4, pending.subarray(i + 1, end));
      pending = pending.subarray(end);
    }
  };
}

const PUBACK = 4;
const PINGREQ = 12;

/**
 * A TCP proxy to `target` that records the PUBACKs its clients send (when), counts their PINGREQs, and can
 * cut every connection.
 */
async function startProxy(target: URL) {
  const sockets = new Set<Socket>();
  const pubacks: { messageId: number; at: number }[] = [];
  let pingreqs = 0;
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 1883) });
    const read = mqttFrames((type, body) => {
      if (type === PUBACK) pubacks.push({ messageId: body.readUInt16BE(0), at: performance.now() });
      if (type === PINGREQ) pingreqs++;
    });
    client.on("data", (chunk: Buffer) => {
      read(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", end);
      s.on("error", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: new URL(`mqtt://127.0.0.1:${port}`),
    pubacks,
    pingreqs: () => pingreqs,
    /** Drops every connection, as a network failure would: the client reconnects on its own. */
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test("mqtt is pinned to one exact version in package.json, and that version is the one installed", async () => {
  const pkg = (await Bun.file(new URL("./package.json", import.meta.url)).json()) as {
    dependencies: Record<string, string>;
  };
  const installed = (await import("mqtt/package.json")) as { version: string };
  expect(pkg.dependencies.mqtt).toMatch(/^\d+\.\d+\.\d+$/);
  expect(installed.version).toBe(pkg.dependencies.mqtt!);
  // The other packages that talk MQTT name the same version, so one install serves them all.
  for (const dir of ["../edge", "../bench", "../packages/testing"]) {
    const other = (await Bun.file(new URL(`${dir}/package.json`, import.meta.url)).json()) as typeof pkg;
    expect(other.dependencies.mqtt).toBe(pkg.dependencies.mqtt!);
  }
});

let embedded: EmbeddedBroker | undefined;
beforeAll(async () => {
  embedded = await startEmbeddedBroker();
});
afterAll(async () => {
  await embedded?.close();
});

const brokers = [
  // What `bun run core` runs against: MQTT 5 and a shared subscription.
  { name: "Mosquitto, MQTT 5, shared subscription", skip: skipMosquitto, protocol: 5, shared: true },
  // What `bun run demo` runs against: aedes, MQTT 3.1.1 only, no shared subscriptions.
  { name: "embedded aedes, MQTT 3.1.1", skip: false, protocol: 4, shared: false },
] as const;

for (const broker of brokers) {
  describe.skipIf(broker.skip)(`deferred PUBACK on ${broker.name}`, () => {
    test("a QoS 1 message is not acknowledged while the readings log holds it (the broker hands it back after a reconnect), and is once the log accepted it", async () => {
      const run = runId();
      const brokerUrl = broker.protocol === 5 ? mosquittoUrl : embedded!.url;
      const prefix = `test-ack-${run}`;
      const clientId = `core-ack-${run}`;
      const proxy = await startProxy(brokerUrl);
      const { log, published, open, state } = gatedReadingsLog();
      const bridge = await startTestBridge({
        mqttUrl: proxy.url,
        protocolVersion: broker.protocol,
        topicPrefix: prefix,
        shareGroup: broker.shared ? `ack-${run}` : undefined,
        clientId,
        sessionExpirySeconds: 60,
        readingsLog: log,
      });
      const edge = await mqtt.connectAsync(brokerUrl.href, {
        clientId: `edge-ack-${run}`,
        protocolVersion: broker.protocol,
      });
      const seconds = () => published.flatMap((r) => r.value.readings.map((x) => x.value - 500));
      try {
        // The subscription is in flight right after connect: the first message is sent until one arrives.
        for (let tries = 0; bridge.pendingAcks() === 0; tries++) {
          if (tries === 50) throw new Error("the bridge took no message in 10 s");
          await edge.publishAsync(`${prefix}/1/reading`, secondReading(0), { qos: 1 });
          await Bun.sleep(200);
        }
        for (let s = 1; s < 3; s++)
          await edge.publishAsync(`${prefix}/1/reading`, secondReading(s), { qos: 1 });
        await until("the bridge to take the three messages", () => bridge.pendingAcks() >= 3);
        const taken = bridge.pendingAcks();

        // 1. The log holds them: no PUBACK on the wire, and after a reconnect the broker hands them back.
        await Bun.sleep(200);
        expect(proxy.pubacks).toEqual([]);
        //    (Owed PUBACKs count per message taken; those of the cut connection are never sent: see bridge.ts.)
        proxy.cut();
        await until(
          "the broker to hand the messages back after the reconnect",
          () => bridge.pendingAcks() >= 2 * taken,
        );
        expect(proxy.pubacks).toEqual([]);
        expect(published).toEqual([]);

        // 2. The log accepts: the messages of the current connection are acknowledged, after it accepted.
        open();
        await until("every PUBACK owed to be sent", () => bridge.pendingAcks() === 0);
        expect(new Set(seconds())).toEqual(new Set([0, 1, 2]));
        const acked = proxy.pubacks.length;
        expect(acked).toBeGreaterThanOrEqual(3);
        expect(acked).toBeLessThanOrEqual(taken);
        for (const ack of proxy.pubacks) expect(ack.at).toBeGreaterThanOrEqual(state.acceptedAt);

        // 3. Acknowledged means gone from the session: another reconnect brings nothing back, while a new
        //    message still arrives (the session and its subscription are live).
        //    The broker sends a session's unacknowledged messages first on a reconnect, so by the time the
        //    new message arrives anything it handed back would have arrived too.
        const before = published.length;
        proxy.cut();
        await edge.publishAsync(`${prefix}/1/reading`, secondReading(3), { qos: 1 });
        await until("the message published across the reconnect", () => seconds().includes(3));
        await until("its PUBACK", () => bridge.pendingAcks() === 0);
        const after = published.slice(before).flatMap((r) => r.value.readings.map((x) => x.value - 500));
        expect(after).toEqual([3]);
      } finally {
        open();
        await bridge.stop();
        await edge.endAsync();
        await proxy.close();
        const cleaner = await mqtt.connectAsync(brokerUrl.href, {
          clientId,
          clean: true,
          protocolVersion: broker.protocol,
        });
        await cleaner.endAsync();
      }
    }, 30_000);
  });
}

describe.skipIf(skipMosquitto)("keepalive while messages flow", () => {
  test("the bridge's own PUBACKs count as traffic: no PINGREQ while it acknowledges, one once it is idle", async () => {
    const run = runId();
    const prefix = `test-keepalive-${run}`;
    const proxy = await startProxy(mosquittoUrl);
    const { log, open } = gatedReadingsLog();
    open();
    const bridge = await startTestBridge({
      mqttUrl: proxy.url,
      topicPrefix: prefix,
      readingsLog: log,
      keepaliveSeconds: 1,
    });
    const edge = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `edge-keepalive-${run}` });
    try {
      // 3 s of messages every 100 ms, three keepalive periods: mqtt.js would ping at 1 s and 2 s if the
      // PUBACKs written past it did not count.
      const until3s = Date.now() + 3_000;
      for (let s = 0; Date.now() < until3s; s++) {
        await edge.publishAsync(`${prefix}/1/reading`, secondReading(s), { qos: 1 });
        await Bun.sleep(100);
      }
      await until("the last PUBACK", () => bridge.pendingAcks() === 0);
      expect(proxy.pubacks.length).toBeGreaterThan(20);
      expect(proxy.pingreqs()).toBe(0);
      // Idle: mqtt.js pings as before (keepalive 1 s: within 1.5 s of the last packet sent).
      await until("a PINGREQ once idle", () => proxy.pingreqs() > 0, 5_000);
      expect(bridge.connected()).toBe(true);
    } finally {
      await bridge.stop();
      await edge.endAsync();
      await proxy.close();
    }
  }, 30_000);
});
