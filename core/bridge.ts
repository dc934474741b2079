/**
 * The MQTT bridge: subscribes to the sensor topics, validates every message and publishes the valid
 * readings to the readings log; rejections go to the dead-letter sink, counted by reason.
 *
 * A shared subscription (`$share/{group}/...`, MQTT 5 / Mosquitto) lets several cores split the load.
 *
 * Durability of the MQTT → log hop: a QoS 1 message is acknowledged to the broker (PUBACK) only once the
 * readings it carries are accepted by the readings log (stored by Pulsar when PULSAR_URL is set). With a
 * fixed client id the session is persistent (`clean: false` and a session expiry), so what the broker
 * delivered to a core that died before the PUBACK is redelivered to the next core with that client id,
 * and what was published while no core ran is queued for it: a SIGKILL loses nothing. A record may reach
 * the log twice (in the log, PUBACK lost in the crash): the windower counts a copy as a duplicate while its
 * window is open, and dead-letters it as late after (the window itself is unchanged either way).
 */
import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { errorMessage, PipelineError } from "../lib/errors.ts";
import { type Logger, rateLimitedLogger } from "../lib/log.ts";
import type { CoreMetrics } from "../lib/metrics.ts";
import type { MqttTls } from "../lib/mqtt-tls.ts";
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
  /** CA / client certificate for mqtts:// (lib/mqtt-tls.ts). */
  tls?: MqttTls | undefined;
  /**
   * A fixed client id gives a persistent session (messages in flight or published while the core is down
   * are redelivered to the next process with this id); each core needs its own. Without one, a random id
   * and a clean session: a crash loses what the broker had handed over but we had not yet logged.
   */
  clientId?: string | undefined;
  /** How long the broker keeps a persistent session (and queues for it) after a disconnect, s. */
  sessionExpirySeconds?: number;
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
  /** QoS 1 messages received whose PUBACK waits for the readings log. */
  pendingAcks(): number;
  /** QoS 1 messages the broker delivered again (DUP): taken by an earlier connection, never acknowledged. */
  redelivered(): number;
  /** Publishes what is buffered to the readings log. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** One hour: long enough to outlive a restart or a deploy, short enough that a retired core's queue is freed. */
export const defaultSessionExpirySeconds = 3_600;

/**
 * Passed to mqtt.js's `handleMessage` callback to keep it from sending the PUBACK itself (it skips the
 * PUBACK on an error and goes on with the next packet; mqtt.js v5 `handlers/publish.ts`).
 */
const pubackDeferred = new Error("PUBACK deferred until the readings are in the log");

/** A received QoS 1 message whose PUBACK is owed, and the connection it came on. */
interface OwedAck {
  readonly stream: unknown;
  readonly messageId: number;
}

/**
 * Sends a PUBACK. mqtt.js has no public manual-ack call: `customHandleAcks` and `handleMessage` only let us
 * delay it by stalling the client's packet loop (it handles the next packet once this one is acked), i.e. one
 * log round trip per message. `_sendPacket` is what mqtt.js's own handlers call (pinned mqtt ^5).
 */
function sendPuback(client: MqttClient, messageId: number): void {
  // biome-ignore lint/complexity/useLiteralKeys: private in mqtt.js's types; brackets are TypeScript's escape hatch
  client["_sendPacket"]({ cmd: "puback", messageId, reasonCode: 0 }, undefined, undefined, true);
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
  /** PUBACKs owed for the messages behind `buffer` (and behind messages with no valid reading), in order. */
  let owed: OwedAck[] = [];
  let pending = 0;
  let flushing: Promise<void> = Promise.resolve();
  let stopping = false;
  let redelivered = 0;

  const acknowledge = (acks: readonly OwedAck[]) => {
    pending -= acks.length;
    for (const ack of acks) {
      // An ack for a message of a previous connection would name a packet id the broker may have reused;
      // the broker redelivers that message on the new connection anyway (and it is acked then).
      if (mqttClient.connected && mqttClient.stream === ack.stream) sendPuback(mqttClient, ack.messageId);
    }
  };

  const flushNow = async () => {
    if (buffer.length === 0 && owed.length === 0) return;
    const batch = buffer;
    const acks = owed;
    buffer = [];
    owed = [];
    try {
      if (batch.length > 0) await readingsLog.publish(batch);
    } catch (error) {
      // Not acknowledged to the broker yet, but a persistent session only redelivers after a reconnect:
      // keep them, in order, for the next flush rather than waiting for that.
      buffer = batch.concat(buffer);
      owed = acks.concat(owed);
      throw error;
    }
    // Flushes run one after another and each batch is in arrival order, so PUBACKs go out in the order the
    // PUBLISHes came in, as MQTT 3.1.1 §4.6 / 5.0 §4.6 require.
    acknowledge(acks);
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

  const onMessage = (topic: string, payload: Buffer, ack: OwedAck | undefined) => {
    if (ack) {
      owed.push(ack);
      pending++;
    }
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
    // A message without valid readings still owes its PUBACK, sent in order with the next flush; its dead
    // letters are buffered by the sink (best effort across a crash: they are not readings).
    if (result.sensorId === undefined || (result.readings.length === 0 && result.watermarkMs === undefined))
      return;
    metrics.readings.inc(result.readings.length);
    const record: ReadingsRecord = { sensorId: result.sensorId, readings: result.readings };
    if (result.watermarkMs !== undefined) record.watermarkMs = result.watermarkMs;
    buffer.push({ key: String(result.sensorId), value: record });
    if (buffer.length >= maxBuffered) void flush();
  };

  const persistent = options.clientId !== undefined && options.clientId !== "";
  const v5 = options.protocolVersion !== 4;
  const mqttClient: MqttClient = mqtt.connect(options.mqttUrl.href, {
    clientId: persistent ? options.clientId : `core-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    username: options.username,
    password: options.password,
    ...options.tls,
    protocolVersion: v5 ? 5 : 4,
    // MQTT 5 ends a session at disconnect unless it has an expiry (§3.1.2.11.2), even with clean: false.
    // No topicAliasMaximum is announced, so the broker sends full topic names (§3.3.2.3.4).
    ...(v5
      ? {
          properties: {
            receiveMaximum: 65_535,
            ...(persistent
              ? { sessionExpiryInterval: options.sessionExpirySeconds ?? defaultSessionExpirySeconds }
              : {}),
          },
        }
      : {}),
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    clean: !persistent,
  });
  // Messages are taken here rather than from the "message" event so that the PUBACK can wait for the log
  // without stalling the client: see `pubackDeferred` and `sendPuback`.
  mqttClient.handleMessage = (packet: IPublishPacket, callback) => {
    // Stopping with a persistent session: neither taken nor acked, so the broker redelivers it to the next
    // process. A clean session would drop it at disconnect, so it is still taken (and reaches the log).
    const take = !stopping || !persistent;
    if (packet.qos !== 1) {
      // QoS 0 has no ack; QoS 2 cannot arrive on our QoS 1 subscription (the broker downgrades it).
      if (take) onMessage(packet.topic, packet.payload as Buffer, undefined);
      callback();
      return;
    }
    if (take) {
      if (packet.dup && redelivered++ === 0)
        logger.info("the broker is redelivering messages an earlier session took but did not acknowledge");
      const ack = { stream: mqttClient.stream, messageId: packet.messageId ?? 0 };
      onMessage(packet.topic, packet.payload as Buffer, ack);
    }
    callback(pubackDeferred);
  };
  mqttClient.on("error", (error) => warnOnce(`mqtt:${error.message}`, `MQTT error: ${error.message}`));
  mqttClient.on("offline", () =>
    warnOnce("offline", `MQTT broker ${options.mqttUrl.host} unreachable; retrying`),
  );

  const topic = subscriptionTopic(options.topicPrefix, options.shareGroup);
  const subscribe = async () => {
    const granted = await mqttClient.subscribeAsync(topic, { qos: 1 });
    const failed = granted.filter((g) => g.qos > 2);
    if (failed.length > 0) logger.error(`broker refused the subscription ${topic}`, { granted });
    else logger.info(`subscribed to ${topic} on ${options.mqttUrl.host}`);
  };
  mqttClient.on("connect", (ack) => {
    // A clean session loses subscriptions on reconnect: subscribe again each time. A persistent one keeps
    // them (and the messages queued for them): subscribing again is only needed when the broker lost it.
    if (!ack.sessionPresent)
      void subscribe().catch((e) => logger.error(`subscribe failed: ${errorMessage(e)}`));
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      mqttClient.end(true);
      reject(
        new PipelineError("connection", `cannot connect to MQTT broker at ${options.mqttUrl.host}`, {
          hint: "check MQTT_URL / --mqtt-url and that the broker runs",
        }),
      );
    }, 10_000);
    mqttClient.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 20);

  if (persistent) logger.info(`persistent MQTT session as client ${options.clientId}`);
  else logger.info("clean MQTT session (no client id set): a crash loses messages not yet in the log");

  return {
    connected: () => mqttClient.connected,
    pendingAcks: () => pending,
    redelivered: () => redelivered,
    flush,
    async stop() {
      // Intake stops first, then what was taken reaches the log and is acknowledged, then we disconnect:
      // disconnecting first would leave those PUBACKs unsent and the broker would redeliver them.
      stopping = true;
      clearInterval(timer);
      await flush();
      await mqttClient.endAsync();
      // What a clean session took meanwhile (its PUBACKs cannot be sent any more, nor are they needed).
      await flush();
      logger.info("MQTT bridge stopped", { redelivered });
    },
  };
}
