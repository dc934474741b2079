/**
 * The pool's failure behaviour against an in-process aedes broker we can stop and restart at will (the
 * machine's Mosquitto must not be touched): backoff reconnect, bounded queue with counted drops, auth refusal.
 */
import { afterEach, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { createLogger } from "@energy/platform/log.ts";
import { expectPipelineError } from "@energy/testing/errors.ts";
import { until } from "@energy/testing/until.ts";
import { Aedes } from "aedes";
import { startAgent } from "./agent.ts";
import { MqttPublisher, type PublisherOptions } from "./publisher.ts";
import { buildSensorStreams } from "./sources/index.ts";

const quiet = createLogger("publisher-test", "error");
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(port = 0, options: ConstructorParameters<typeof Aedes>[0] = {}) {
  const aedes = await Aedes.createBroker(options);
  const received: string[] = [];
  aedes.on("publish", (packet, client) => {
    if (client) received.push(packet.topic);
  });
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const close = () =>
    new Promise<void>((resolve) => {
      aedes.close(() => server.close(() => resolve()));
    });
  return { port: bound, received, close };
}

const baseOptions = (port: number): PublisherOptions => ({
  url: `mqtt://127.0.0.1:${port}`,
  qos: 1,
  clientIdPrefix: "pub-test",
  connections: 1,
  queueLimit: 50,
  maxInFlight: 10,
  backoffInitialMs: 20,
  backoffMaxMs: 100,
  connectTimeoutMs: 2_000,
  logger: quiet,
  onFatal: () => {},
});

test("queues while the broker is away, drops and counts beyond the bound, reconnects and drains", async () => {
  const first = await broker();
  const pub = new MqttPublisher(baseOptions(first.port));
  cleanups.push(() => pub.close(200));
  await pub.ready;
  for (let i = 0; i < 20; i++) pub.publish(1, `t/${i}`, "x", 1);
  expect(await pub.drain(2_000)).toBe(true);
  expect(first.received).toHaveLength(20);

  await first.close();
  await until("the connection to drop", () => pub.stats().connected === 0, 5_000);
  let accepted = 0;
  for (let i = 0; i < 80; i++) if (pub.publish(1, `t/${i}`, "x", 3)) accepted++;
  expect(accepted).toBe(50);
  expect(pub.stats()).toMatchObject({ dropped: 30, droppedReadings: 90, queued: 50 });

  // Several failed attempts while down, then the broker comes back on the same port.
  await Bun.sleep(150);
  const second = await broker(first.port);
  cleanups.push(second.close);
  expect(await pub.drain(5_000)).toBe(true);
  expect(second.received).toHaveLength(50);
  expect(pub.stats()).toMatchObject({
    messagesSent: 70,
    readingsSent: 170,
    dropped: 30,
    reconnects: 1,
    errors: 0,
  });
  expect(pub.stats().connectionErrors).toBeGreaterThan(0);
});

test("a broker refusing the credentials is fatal for the agent, with the way out", async () => {
  const b = await broker(0, {
    authenticate: (_client, username, _password, done) => {
      if (username === "good") return done(null, true);
      const error = Object.assign(new Error("bad credentials"), { returnCode: 4 as const });
      done(error, false);
    },
  });
  cleanups.push(b.close);
  const agent = startAgent({
    mqttUrl: `mqtt://127.0.0.1:${b.port}`,
    mode: "streaming",
    streams: await buildSensorStreams({ kind: "generator", sensors: 2, durationMs: 10_000 }),
    username: "bad",
    password: "nope",
    speed: 0,
    logger: quiet,
    startupTimeoutMs: 60_000,
  });
  const error = await expectPipelineError(agent.done, "auth");
  expect(error.message).toContain("--mqtt-username/--mqtt-password");
});

test("with no broker the agent still finishes, and unsent batches are reported as abandoned", async () => {
  // Nothing listens on this port: the pool keeps backing off.
  const probe = await broker();
  await probe.close();
  const agent = startAgent({
    mqttUrl: `mqtt://127.0.0.1:${probe.port}`,
    mode: "batch",
    streams: await buildSensorStreams({ kind: "generator", sensors: 3, durationMs: 120_000 }),
    speed: 0,
    logger: quiet,
    startupTimeoutMs: 50,
    shutdownTimeoutMs: 200,
    backoffInitialMs: 20,
  });
  await Bun.sleep(300);
  const stats = await agent.stop();
  expect(stats.readingsProduced).toBe(360);
  expect(stats.messagesSent).toBe(0);
  expect(stats.abandoned).toBeGreaterThan(0);
  expect(stats.connected).toBe(0);
});
