/**
 * The MQTT bridge: subscribes to the sensor topics, validates every message and publishes the valid
 * readings to the readings log; rejections go to the dead-letter sink, counted by reason.
 *
 * A shared subscription (`$share/{group}/...`, MQTT 5 / Mosquitto) lets several cores split the load.
 */
import mqtt, { type MqttClient } from "mqtt";
import { errorMessage, PipelineError } from "../lib/errors.ts";
import { type Logger, rateLimitedLogger } from "../lib/log.ts";
import type { CoreMetrics } from "../lib/metrics.ts";
import type { ReadingsRecord } from "../lib/records.ts";
import type { DeadLetterSink } from "./dead-letters.ts";
import type { RecordLog } from "./log.ts";
import {
  defaultLimits,
  parseSensorMessage,
  parseTopic,
  toDeadLetter,
  type ValidationLimits,
} from "./messages.ts";

export interface BridgeOptions {
  mqttUrl: URL;
  topicPrefix: string;
  /** Shared-subscription group; undefined subscribes plainly (needed for brokers without $share). */
  shareGroup: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  clientId?: string;
  /**
   * MQTT protocol: 5 (default) lets us announce a large receive maximum, without which Mosquitto keeps
   * only 20 QoS 1 messages in flight and queues 1,000 per client, then drops (seen at 9,900 messages here);
   * 4 (3.1.1) for brokers without MQTT 5 such as the embedded aedes.
   */
  protocolVersion?: 4 | 5;
  readingsLog: RecordLog<ReadingsRecord>;
  deadLetters: DeadLetterSink;
  metrics: CoreMetrics;
  logger: Logger;
  limits?: ValidationLimits;
  /** Buffered records are published to the log at least this often. */
  flushIntervalMs?: number;
  maxBufferedRecords?: number;
}

export interface Bridge {
  connected(): boolean;
  /** Publishes what is buffered to the readings log. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function subscriptionTopic(prefix: string, shareGroup: string | undefined): string {
  const topic = `${prefix}/+/+`;
  return shareGroup ? `$share/${shareGroup}/${topic}` : topic;
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { metrics, logger, deadLetters, readingsLog } = options;
  const limits = options.limits ?? defaultLimits;
  const warnOnce = rateLimitedLogger(logger);
  const maxBuffered = options.maxBufferedRecords ?? 5_000;
  let buffer: { key: string; value: ReadingsRecord }[] = [];
  let flushing: Promise<void> = Promise.resolve();

  const flushNow = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      await readingsLog.publish(batch);
    } catch (error) {
      // The MQTT messages are already acknowledged, so these readings exist only here: keep them, in order,
      // for the next flush rather than dropping them.
      buffer = batch.concat(buffer);
      throw error;
    }
  };
  const flush = () => {
    flushing = flushing.then(flushNow).catch((error) => {
      logger.error("cannot publish readings to the log; will retry", {
        error: errorMessage(error),
        buffered: buffer.length,
      });
    });
    return flushing;
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const now = Date.now();
    const raw = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    const kind = parseTopic(topic)?.kind ?? "unknown";
    metrics.messagesReceived.inc({ kind });
    metrics.bytesReceived.inc(raw.byteLength);
    const result = parseSensorMessage(topic, raw, now, limits);
    for (const rejection of result.rejections) {
      metrics.invalid.inc({ reason: rejection.reason });
      // Copy: the payload buffer may be reused by the MQTT parser after this callback.
      deadLetters.put(toDeadLetter(topic, raw.slice(), rejection, now));
      warnOnce(rejection.reason, `rejected message on ${topic}: ${rejection.detail}`, {
        reason: rejection.reason,
      });
    }
    if (result.sensorId === undefined || (result.readings.length === 0 && result.watermarkMs === undefined))
      return;
    metrics.readings.inc(result.readings.length);
    const record: ReadingsRecord = { sensorId: result.sensorId, readings: result.readings };
    if (result.watermarkMs !== undefined) record.watermarkMs = result.watermarkMs;
    buffer.push({ key: String(result.sensorId), value: record });
    if (buffer.length >= maxBuffered) void flush();
  };

  const client: MqttClient = mqtt.connect(options.mqttUrl.href, {
    clientId: options.clientId ?? `core-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    username: options.username,
    password: options.password,
    protocolVersion: options.protocolVersion ?? 5,
    ...(options.protocolVersion === 4 ? {} : { properties: { receiveMaximum: 65_535 } }),
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    clean: true,
  });
  client.on("message", onMessage);
  client.on("error", (error) => warnOnce(`mqtt:${error.message}`, `MQTT error: ${error.message}`));
  client.on("offline", () =>
    warnOnce("offline", `MQTT broker ${options.mqttUrl.host} unreachable; retrying`),
  );

  const topic = subscriptionTopic(options.topicPrefix, options.shareGroup);
  const subscribe = async () => {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    const failed = granted.filter((g) => g.qos > 2);
    if (failed.length > 0) logger.error(`broker refused the subscription ${topic}`, { granted });
    else logger.info(`subscribed to ${topic} on ${options.mqttUrl.host}`);
  };
  client.on("connect", (ack) => {
    // A clean session loses subscriptions on reconnect: subscribe again each time.
    if (!ack.sessionPresent)
      void subscribe().catch((e) => logger.error(`subscribe failed: ${errorMessage(e)}`));
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.end(true);
      reject(
        new PipelineError("connection", `cannot connect to MQTT broker at ${options.mqttUrl.host}`, {
          hint: "check MQTT_URL / --mqtt-url and that the broker runs",
        }),
      );
    }, 10_000);
    client.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 20);

  return {
    connected: () => client.connected,
    flush,
    async stop() {
      await client.endAsync();
      clearInterval(timer);
      await flush();
    },
  };
}
