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
 *
 * No message can stop the bridge: validation never throws, and an unexpected exception while handling one
 * message dead-letters it (`internal_error`) and acknowledges it, so a persistent session cannot replay it
 * into a crash loop. Memory is bounded: while the log does not accept, at most `maxBufferedReadings` readings
 * wait; then the bridge stops reading from the broker, which keeps the rest.
 */

import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import type { ReadingsRecord } from "@energy/contracts/records.ts";
import type { KeyedRecord, RecordLog } from "@energy/logs/log.ts";
import { type Logger, rateLimitedLogger } from "@energy/platform/log.ts";
import type { CoreMetrics } from "@energy/platform/metrics.ts";
import type { MqttTls } from "@energy/platform/mqtt-tls.ts";
import mqtt, { type MqttClient } from "mqtt";
import type { DeadLetterSink } from "./dead-letters.ts";
import {
  defaultLimits,
  parseSensorMessage,
  parseSensorTopic,
  toDeadLetter,
  type ValidationLimits,
} from "./messages.ts";
import { interceptPublishes } from "./mqtt-intake.ts";

export interface BridgeOptions {
  mqttUrl: URL;
  topicPrefix: string;
  /** Shared-subscription group; undefined subscribes plainly (needed for brokers without $share). */
  shareGroup: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** CA / client certificate for mqtts:// (packages/platform/mqtt-tls.ts). */
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
  /**
   * Most readings held for the readings log (default 50,000), counted by reading: a batch message's record
   * of 60 readings weighs 60, since memory goes with readings, not records. While the log is down or slow
   * they are kept for the next flush; once this many wait, the bridge stops taking MQTT messages (the
   * broker keeps them) instead of growing without bound, and takes them again when the log accepts.
   */
  maxBufferedReadings?: number;
  /**
   * MQTT keepalive, s (mqtt.js default 60). mqtt.js pings after this long without sending a packet of its
   * own and drops the connection when the PINGRESP takes half as long again to be read.
   */
  keepaliveSeconds?: number;
  /** The message parser; a seam for the containment test, which needs one that throws. */
  parse?: typeof parseSensorMessage;
}

export interface Bridge {
  connected(): boolean;
  /** QoS 1 messages received whose PUBACK waits for the readings log. */
  pendingAcks(): number;
  /** Readings held for the readings log (buffered, or being published). */
  buffered(): number;
  /** QoS 1 messages the broker delivered again (DUP): taken by an earlier connection, never acknowledged. */
  redelivered(): number;
  /** Publishes what is buffered to the readings log. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** One hour: long enough to outlive a restart or a deploy, short enough that a retired core's queue is freed. */
export const defaultSessionExpirySeconds = 3_600;

/**
 * A PUBACK owed, as one number: the connection its PUBLISH came on (core/mqtt-intake.ts numbers them) times
 * 2^16 plus the packet identifier. Plain numbers in an array rather than an object per message.
 */
const connectionUnit = 0x10_000;

/**
 * Sends the PUBACKs of `messageIds`, in order, in one write to the client's connection. mqtt.js has no
 * public manual-ack call (and PUBLISH packets no longer reach it: core/mqtt-intake.ts); its private
 * `_sendPacket` serialises each packet through four small stream writes, which cost more than the rest of
 * a message's handling together (bench ab, 10,000 messages/s). A PUBACK without
 * properties is the same four bytes in MQTT 3.1.1 (§3.4) and 5 (§3.4.2.1: reason code 0 "Success" may be
 * left out, remaining length 2): type 4 with no flags, remaining length 2, the packet identifier. mqtt.js
 * writes each of its own packets synchronously, so these never land inside one of them;
 * core/bridge-ack.test.ts reads them off the wire against Mosquitto (MQTT 5) and aedes (3.1.1).
 */
function sendPubacks(client: MqttClient, messageIds: readonly number[]): void {
  const packets = Buffer.allocUnsafe(4 * messageIds.length);
  for (let i = 0; i < messageIds.length; i++) {
    packets[4 * i] = 0x40;
    packets[4 * i + 1] = 2;
    packets.writeUInt16BE(messageIds[i]!, 4 * i + 2);
  }
  client.stream.write(packets);
  // What mqtt.js does for a packet it sends (`reschedulePings`): the broker heard from us, so no PINGREQ is
  // due. Without it mqtt.js pings every keepalive while messages flow, and under load the PINGRESP waits
  // behind thousands of PUBLISHes: read more than keepalive/2 later, mqtt.js drops a healthy connection
  // ("Keepalive timeout"; bench ab on Pulsar at 10,000 sensors, 45,000 readings of a clean session lost).
  client.reschedulePing();
}

/** CONNACK codes that mean the credentials are wrong (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135). */
const authRefusals = new Set([4, 5, 134, 135]);

/**
 * Readings handed to the readings log per publish at most (a record holding more goes alone; a full buffer
 * triggers a flush at once). Counted by reading, not record: 5,000 batch-message records were 300,000
 * readings in one publish, and a minute's burst of 10,000 sensors' batches sat in the core at once.
 */
const flushBatchReadings = 5_000;

/** What a readings record weighs in the bridge's bounds: its readings (one for a watermark alone). */
const weightOf = (record: ReadingsRecord): number => Math.max(1, record.readings.length);

export function subscriptionTopic(prefix: string, shareGroup: string | undefined): string {
  const topic = `${prefix}/+/+`;
  return shareGroup ? `$share/${shareGroup}/${topic}` : topic;
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { metrics, logger, deadLetters, readingsLog } = options;
  const limits = options.limits ?? defaultLimits;
  const warnOnce = rateLimitedLogger(logger);
  const maxBuffered = options.maxBufferedReadings ?? 50_000;
  const parse = options.parse ?? parseSensorMessage;
  let buffer: KeyedRecord<ReadingsRecord>[] = [];
  /** Per record of `buffer`: how many entries of `owed` belong to its message and those before it. */
  let owedBefore: number[] = [];
  /**
   * PUBACKs owed for the messages behind `buffer` (and behind messages with no valid reading), in order:
   * connection × `connectionUnit` + packet identifier.
   */
  let owed: number[] = [];
  let pending = 0;
  let flushing: Promise<void> = Promise.resolve();
  let stopping = false;
  let redelivered = 0;
  /** Records handed to the readings log whose publish has not resolved yet (still ours to retry). */
  let inFlight = 0;
  /** Readings (`weightOf`) in `buffer`, and in the records handed to the log and not accepted yet. */
  let bufferedReadings = 0;
  let inFlightReadings = 0;
  let warnedFull = false;
  const held = () => buffer.length + inFlight;
  const heldReadings = () => bufferedReadings + inFlightReadings;
  const full = () => heldReadings() >= maxBuffered;
  /** Reads from the broker again after `proceed` stopped it (also when its connection ended). */
  const release = () => {
    if (warnedFull) logger.info("the readings log accepts again; taking MQTT messages");
    warnedFull = false;
    publishes.resume();
  };

  const acknowledge = (acks: readonly number[]) => {
    pending -= acks.length;
    if (!mqttClient.connected) return;
    // An ack for a message of a previous connection would name a packet id the broker may have reused;
    // the broker redelivers that message on the new connection anyway (and it is acked then).
    const base = publishes.connection() * connectionUnit;
    const ids: number[] = [];
    for (const ack of acks) {
      const id = ack - base;
      if (id >= 0 && id < connectionUnit) ids.push(id);
    }
    if (ids.length > 0) sendPubacks(mqttClient, ids);
  };

  const flushNow = async () => {
    if (buffer.length === 0 && owed.length === 0) return;
    // Publish at most a bounded batch per call; the PUBACKs owed up to its last message go with it.
    let n = 0;
    let weight = 0;
    for (; n < buffer.length; n++) {
      const w = weightOf(buffer[n]!.value);
      if (n > 0 && weight + w > flushBatchReadings) break;
      weight += w;
    }
    const whole = n === buffer.length;
    const batch = whole ? buffer : buffer.slice(0, n);
    const batchOwedBefore = whole ? owedBefore : owedBefore.slice(0, n);
    const cut = whole ? owed.length : batchOwedBefore[batch.length - 1]!;
    const acks = whole ? owed : owed.slice(0, cut);
    buffer = whole ? [] : buffer.slice(batch.length);
    owedBefore = whole ? [] : owedBefore.slice(batch.length);
    owed = whole ? [] : owed.slice(cut);
    for (let i = 0; i < owedBefore.length; i++) owedBefore[i]! -= cut;
    inFlight = batch.length;
    bufferedReadings -= weight;
    inFlightReadings = weight;
    try {
      if (batch.length > 0) await readingsLog.publish(batch);
    } catch (error) {
      inFlight = 0;
      inFlightReadings = 0;
      bufferedReadings += weight;
      // Not acknowledged to the broker yet, but a persistent session only redelivers after a reconnect:
      // keep them, in order, for the next flush rather than waiting for that.
      for (let i = 0; i < owedBefore.length; i++) owedBefore[i]! += cut;
      owedBefore = batchOwedBefore.concat(owedBefore);
      buffer = batch.concat(buffer);
      owed = acks.concat(owed);
      throw error;
    }
    // Flushes run one after another and each batch is in arrival order, so PUBACKs go out in the order the
    // PUBLISHes came in, as MQTT 3.1.1 §4.6 / 5.0 §4.6 require.
    inFlight = 0;
    inFlightReadings = 0;
    acknowledge(acks);
    if (!full()) release();
    if (bufferedReadings >= flushBatchReadings) void flush();
  };
  const flush = () => {
    flushing = flushing.then(flushNow).catch((error) => {
      // Retried every flush interval: logged at most once per 10 s.
      warnOnce("log-down", `cannot publish readings to the log; will retry: ${errorMessage(error)}`, {
        buffered: buffer.length,
      });
      scheduleFlush();
    });
    return flushing;
  };
  // A timer only while something waits, not a 20 ms interval: an idle core wakes for nothing.
  const flushIntervalMs = options.flushIntervalMs ?? 20;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleFlush = () => {
    if (flushTimer !== undefined || stopping) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush();
    }, flushIntervalMs);
  };

  const intake = metrics.intake;
  const handle = (topic: string, raw: Uint8Array, now: number) => {
    // Counted in plain numbers, added to the counters when /metrics is read (packages/platform/metrics.ts):
    // a prom-client inc() per message is a label lookup and a hash per call.
    const kind = parseSensorTopic(topic)?.kind;
    if (kind === "reading") intake.readingMessages++;
    else if (kind === "batch") intake.batchMessages++;
    else metrics.messagesReceived.inc({ kind: "unknown" });
    intake.bytes += raw.byteLength;
    const result = parse(topic, raw, now, limits);
    for (const rejection of result.rejections) {
      metrics.invalid.inc({ reason: rejection.reason }, rejection.count ?? 1);
      // toDeadLetter copies: the payload buffer may be reused by the MQTT parser after this callback.
      deadLetters.put(toDeadLetter(topic, raw, rejection, now));
      warnOnce(rejection.reason, `rejected message on ${topic}: ${rejection.detail}`, {
        reason: rejection.reason,
      });
    }
    // A message without valid readings still owes its PUBACK, sent in order with the next flush; its dead
    // letters are buffered by the sink (best effort across a crash: they are not readings).
    if (result.sensorId === undefined || (result.readings.length === 0 && result.watermarkMs === undefined))
      return;
    intake.readings += result.readings.length;
    const record: ReadingsRecord = { sensorId: result.sensorId, readings: result.readings };
    if (result.watermarkMs !== undefined) record.watermarkMs = result.watermarkMs;
    buffer.push({ key: String(result.sensorId), value: record });
    owedBefore.push(owed.length);
    bufferedReadings += weightOf(record);
    if (bufferedReadings >= flushBatchReadings) void flush();
  };

  /** `ack`: the PUBACK owed (see `owed`), or -1 for none (QoS 0). */
  const onMessage = (topic: string, raw: Uint8Array, ack: number) => {
    if (ack >= 0) {
      owed.push(ack);
      pending++;
    }
    scheduleFlush();
    const now = Date.now();
    try {
      handle(topic, raw, now);
    } catch (error) {
      // Containment: a bug met by one message must not end the core, nor (its PUBACK never sent) come back
      // with every restart of a persistent session. It is dead-lettered with the error, and acknowledged.
      metrics.internalErrors.inc();
      metrics.invalid.inc({ reason: "internal_error" });
      const detail = `handling the message threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      logger.error(`internal error on ${topic}; message dead-lettered, going on`, {
        error: errorMessage(error),
      });
      try {
        deadLetters.put(toDeadLetter(topic, raw, { reason: "internal_error", detail }, now));
      } catch (sinkError) {
        logger.error("cannot dead-letter the message either", { error: errorMessage(sinkError) });
      }
    }
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
    // Short, because the time from a broker restart to our SUBSCRIBE is a window of loss with Mosquitto
    // 2.0.11 and $share (see the "connect" handler): bench chaos mosquitto-restart, 100 sensors at 1/s,
    // lost 1,100 readings at 1 s (the fleet reconnected first and replayed its outage backlog), 4 at 250 ms.
    // A refused or absent broker costs four cheap attempts a second; the log is rate-limited.
    reconnectPeriod: 250,
    ...(options.keepaliveSeconds === undefined ? {} : { keepalive: options.keepaliveSeconds }),
    connectTimeout: 10_000,
    // mqtt.js stops reconnecting after a refused CONNACK unless told otherwise: a broker restarting with
    // its password file not yet loaded would otherwise leave the core disconnected for good.
    reconnectOnConnackError: true,
    // We subscribe ourselves on every connect (below). mqtt.js's own `resubscribe` (default true) re-sends
    // SUBSCRIBE only when the broker reports no session, and while on it also remembers our filter and
    // silently drops any later subscribe to it (SUBACK-less, `granted` = []): after a Mosquitto restart the
    // bridge logged "subscribed" but sent nothing, and the session had lost its $share subscription.
    resubscribe: false,
    // mqtt.js (mqtt-packet) otherwise pre-builds a 2-byte Buffer for each of the 65,536 packet identifiers on
    // its first write and keeps them for the life of the process: an idle core's RSS went from 73.6 to 65.6 MB
    // without them (issue 15). They speed up writing PUBLISH and PUBACK packets, which the bridge does not
    // write through mqtt.js (`sendPubacks`); its few packets (CONNECT, SUBSCRIBE, PINGREQ) encode their
    // numbers as they go. The switch is mqtt-packet's, so it holds for every mqtt.js client of the process.
    writeCache: false,
    clean: !persistent,
    // mqtt.js logs through `debug` ~10 times per packet; even disabled, each call builds its arguments.
    // DEBUG=mqttjs* still turns its log on.
    ...(process.env.DEBUG ? {} : { log: () => {} }),
    // Connected below, once the PUBLISH intake is in place.
    manualConnect: true,
  });
  // PUBLISH packets are read off the connection before mqtt.js sees them (core/mqtt-intake.ts): mqtt.js's
  // receive path was half of the core's CPU per message. The PUBACK waits for the log: see `sendPubacks`.
  const publishes = interceptPublishes(mqttClient, {
    onPublish: (topic, payload, qos, dup, messageId, connection) => {
      // Stopping with a persistent session: neither taken nor acked, so the broker redelivers it to the next
      // process. A clean session would drop it at disconnect, so it is still taken (and reaches the log).
      if (!stopping || !persistent) {
        if (qos !== 1) {
          // QoS 0 has no ack; QoS 2 cannot arrive on our QoS 1 subscription (the broker downgrades it).
          onMessage(topic, payload, -1);
        } else {
          if (dup && redelivered++ === 0)
            logger.info(
              "the broker is redelivering messages an earlier session took but did not acknowledge",
            );
          onMessage(topic, payload, connection * connectionUnit + messageId);
        }
      }
      return proceed();
    },
    onBroken: (error) =>
      warnOnce(
        "mqtt-malformed",
        `cannot read the MQTT connection (${errorMessage(error)}); dropping it and reconnecting`,
      ),
  });
  /**
   * Whether to go on reading: not while the buffer is full. The intake then pauses the connection and the
   * broker keeps (queues) what we cannot take yet, until `release`.
   */
  const proceed = (): boolean => {
    if (!full() || stopping) return true;
    if (!warnedFull)
      logger.warn(
        `${heldReadings()} readings (${held()} records) wait for the readings log; not taking MQTT messages until it accepts (the broker keeps them)`,
      );
    warnedFull = true;
    void flush();
    return false;
  };
  // A connection that ends while paused: what it read but we had not taken yet is still taken (a clean
  // session would lose it; a persistent one gets it redelivered, a duplicate the windower counts). The next
  // connection reads on its own and pauses again if the buffer is still full.
  mqttClient.on("close", () => publishes.resume());
  mqttClient.on("error", (error) => warnOnce(`mqtt:${error.message}`, `MQTT error: ${error.message}`));
  mqttClient.on("offline", () =>
    warnOnce("offline", `MQTT broker ${options.mqttUrl.host} unreachable; retrying`),
  );

  const topic = subscriptionTopic(options.topicPrefix, options.shareGroup);
  const subscribe = async () => {
    // MQTT 5 retain handling 1: retained messages only when the subscription is new, not again on every
    // reconnect of a session that still has it (3.1.1 has no such option).
    const granted = await mqttClient.subscribeAsync(topic, { qos: 1, ...(v5 ? { rh: 1 } : {}) });
    const failed = granted.filter((g) => g.qos > 2);
    if (granted.length === 0) logger.error(`the MQTT client sent no SUBSCRIBE for ${topic}`);
    else if (failed.length > 0) logger.error(`broker refused the subscription ${topic}`, { granted });
    else logger.info(`subscribed to ${topic} on ${options.mqttUrl.host}`);
  };
  mqttClient.on("connect", () => {
    // Subscribe on every connect, also when the broker reports an existing session (sessionPresent), and
    // send it for real (`resubscribe: false` above). The session's subscriptions cannot be trusted:
    // - Mosquitto 2.0.11 with persistence restores a persistent session after a restart (sessionPresent,
    //   MQTT 5 and 3.1.1 alike) and the messages queued in it, but not its shared subscriptions: an
    //   UNSUBSCRIBE of `$share/g/t/+` then answers 17 "no subscription existed", and nothing published
    //   after the restart reaches the core until it subscribes again. Messages the broker accepted between
    //   its restart and our SUBACK had no subscriber and are gone (measured: 5 of 5 lost, while a plain
    //   subscription's session queued all 5); `reconnectPeriod` keeps that window short. Mosquitto's
    //   ChangeLog lists the fix in 2.0.12 ("$share subscriptions not being recovered for durable clients
    //   that reconnect"); compose/ runs 2.0.20, the Debian package used here and in .ci is 2.0.11.
    // - TOPIC_PREFIX or CORE_SHARE_GROUP may have changed since the session was made.
    // Subscribing again to a filter the session has is safe: measured on Mosquitto 2.0.11 across a dropped
    // connection (MQTT 5 and 3.1.1, shared and plain), the messages queued meanwhile are all delivered, once
    // (MQTT 5.0 §3.8.4: a replaced subscription loses no message). A filter dropped from the configuration
    // stays in the session until it expires (or a clean connect ends it).
    void subscribe().catch((e) => logger.error(`subscribe failed: ${errorMessage(e)}`));
  });

  await new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined;
    const fail = (error: PipelineError) => {
      clearTimeout(timer);
      mqttClient.removeListener("error", onError);
      mqttClient.end(true);
      reject(error);
    };
    const onError = (error: Error & { code?: unknown }) => {
      lastError = error;
      if (typeof error.code === "number" && authRefusals.has(error.code))
        fail(
          new PipelineError(
            "auth",
            `MQTT broker at ${options.mqttUrl.host} refused the connection: not authorized (${error.message}, CONNACK code ${error.code})`,
            {
              hint: "check MQTT_USERNAME and MQTT_PASSWORD (or MQTT_PASSWORD_FILE) / --mqtt-username, --mqtt-password",
            },
          ),
        );
    };
    mqttClient.on("error", onError);
    mqttClient.connect();
    const timer = setTimeout(
      () =>
        fail(
          new PipelineError(
            "connection",
            `cannot connect to MQTT broker at ${options.mqttUrl.host}${lastError ? ` (${lastError.message})` : ""}`,
            { hint: "check MQTT_URL / --mqtt-url and that the broker runs" },
          ),
        ),
      10_000,
    );
    mqttClient.once("connect", () => {
      clearTimeout(timer);
      mqttClient.removeListener("error", onError);
      resolve();
    });
  });

  if (persistent) logger.info(`persistent MQTT session as client ${options.clientId}`);
  else logger.info("clean MQTT session (no client id set): a crash loses messages not yet in the log");

  return {
    connected: () => mqttClient.connected,
    pendingAcks: () => pending,
    buffered: heldReadings,
    redelivered: () => redelivered,
    flush,
    async stop() {
      // Intake stops first, then what was taken reaches the log and is acknowledged, then we disconnect:
      // disconnecting first would leave those PUBACKs unsent and the broker would redeliver them.
      stopping = true;
      clearTimeout(flushTimer);
      release();
      await flush();
      await mqttClient.endAsync();
      // What a clean session took meanwhile (its PUBACKs cannot be sent any more, nor are they needed).
      await flush();
      logger.info("MQTT bridge stopped", { redelivered });
    },
  };
}
