/**
 * One side of the raw-broker baseline, run as its own process so publisher and subscriber use separate
 * cores as the edge and the core do: `bun bench/ab/baseline-worker.ts pub|sub '<json config>'`.
 * The subscriber connects like the core (MQTT 5, receive maximum 65,535, QoS 1) but only counts; the
 * publisher sends precomputed payloads over a few QoS 1 connections with a bounded in-flight window, like
 * the edge's pool. Each prints one JSON line on stdout when done.
 */

import type { MessageKind } from "@energy/contracts/records.ts";
import mqtt, { type MqttClient } from "mqtt";
import { baselinePayloads } from "./payloads.ts";

export interface WorkerConfig {
  url: string;
  kind: MessageKind;
  /** Messages to publish (pub) or to wait for (sub). */
  messages: number;
  sensors: number;
  readingsPerBatch: number;
  ratePerSecond: number;
  connections: number;
  maxInFlight: number;
  /** Hard limit on the worker's life. */
  timeoutMs: number;
}

export interface SubResult {
  role: "sub";
  messages: number;
  bytes: number;
  firstMs: number;
  lastMs: number;
  timedOut: boolean;
}

export interface PubResult {
  role: "pub";
  messages: number;
  bytes: number;
  startMs: number;
  endMs: number;
  errors: number;
}

const connect = (url: string, o: mqtt.IClientOptions) =>
  new Promise<MqttClient>((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, clean: true, ...o });
    client.once("connect", () => resolve(client));
    client.once("error", reject);
  });

async function subscriber(c: WorkerConfig): Promise<SubResult> {
  const client = await connect(c.url, {
    clientId: `ab-baseline-sub-${process.pid}`,
    protocolVersion: 5,
    // As the core: without it Mosquitto sends an MQTT 5 client at most 20 unacknowledged QoS 1 messages.
    properties: { receiveMaximum: 65_535 },
  });
  let messages = 0;
  let bytes = 0;
  let firstMs = 0;
  let lastMs = 0;
  const result = await new Promise<SubResult>((resolve) => {
    const finish = (timedOut: boolean) =>
      resolve({ role: "sub", messages, bytes, firstMs, lastMs, timedOut });
    const timer = setTimeout(() => finish(true), c.timeoutMs);
    client.on("message", (_topic, payload) => {
      const now = Date.now();
      if (messages === 0) firstMs = now;
      lastMs = now;
      messages++;
      bytes += payload.byteLength;
      if (messages >= c.messages) {
        clearTimeout(timer);
        finish(false);
      }
    });
    client.subscribeAsync(`sensors/+/${c.kind}`, { qos: 1 }).then(
      // The parent starts the publisher only after this line, so no message is published unsubscribed.
      () => process.stderr.write("subscribed\n"),
      (error) => {
        process.stderr.write(`subscribe failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
  await client.endAsync(true);
  return result;
}

async function publisher(c: WorkerConfig): Promise<PubResult> {
  const payloads = baselinePayloads(c.kind, {
    sensors: c.sensors,
    count: Math.min(c.messages, c.kind === "reading" ? 10_000 : 1_000),
    readingsPerBatch: c.readingsPerBatch,
    ratePerSecond: c.ratePerSecond,
  });
  const clients = await Promise.all(
    Array.from({ length: c.connections }, (_, i) =>
      connect(c.url, { clientId: `ab-baseline-pub-${process.pid}-${i}` }),
    ),
  );
  let next = 0;
  let acked = 0;
  let bytes = 0;
  let errors = 0;
  const startMs = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, c.timeoutMs);
    const pump = (client: MqttClient, state: { inFlight: number }) => {
      while (state.inFlight < c.maxInFlight && next < c.messages) {
        const p = payloads[next++ % payloads.length]!;
        state.inFlight++;
        bytes += p.body.byteLength;
        client.publish(p.topic, p.body, { qos: 1 }, (error) => {
          state.inFlight--;
          if (error) errors++;
          if (++acked >= c.messages) {
            clearTimeout(timer);
            resolve();
          } else pump(client, state);
        });
      }
    };
    for (const client of clients) pump(client, { inFlight: 0 });
  });
  const endMs = Date.now();
  await Promise.all(clients.map((cl) => cl.endAsync(true)));
  return { role: "pub", messages: acked, bytes, startMs, endMs, errors };
}

if (import.meta.main) {
  const [role, raw] = process.argv.slice(2);
  const config = JSON.parse(raw ?? "{}") as WorkerConfig;
  const result = role === "sub" ? await subscriber(config) : await publisher(config);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
