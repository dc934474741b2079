/**
 * The core runtime, assembled: MQTT bridge → readings log → windower → windows log and window store,
 * with dead letters and metrics. The logs are in-process here (embedded default); the Pulsar log plugs in
 * through the same `RecordLog` interface.
 */

import type { ReadingsRecord, WindowRecord } from "@energy/contracts/records.ts";
import { createMemoryLog, type DeadLetterTarget, type RecordLog } from "@energy/logs/log.ts";
import type { Database } from "@energy/platform/db/client.ts";
import type { ReadinessCheck } from "@energy/platform/http.ts";
import { createLogger, type Logger } from "@energy/platform/log.ts";
import { type CoreMetrics, coreMetrics, pulsarMetrics } from "@energy/platform/metrics.ts";
import type { MqttTls } from "@energy/platform/mqtt-tls.ts";
import type { Registry } from "prom-client";
import { type Bridge, startBridge } from "./bridge.ts";
import { createDbDeadLetterSink, type DeadLetterSink } from "./dead-letters.ts";
import { defaultLimits, type ValidationLimits } from "./messages.ts";
import { createWindowStore, type WindowStore } from "./window-store.ts";
import { startWindowerStage, type WindowerStage } from "./windower.ts";

export interface CoreOptions {
  mqttUrl: URL;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  /** CA / client certificate for mqtts:// (packages/platform/mqtt-tls.ts). */
  mqttTls?: MqttTls | undefined;
  mqttProtocol?: 4 | 5;
  /** Fixed MQTT client id = persistent session, so a crash loses no message (core/bridge.ts). */
  mqttClientId?: string | undefined;
  topicPrefix: string;
  shareGroup: string | undefined;
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  /** Silence after which a sensor's windower state is dropped, ms (default core/window.ts). */
  sensorEvictAfterMs?: number;
  /** Most sensors the windower tracks (default core/window.ts). */
  maxSensors?: number;
  limits?: ValidationLimits;
  database: Database;
  registry: Registry;
  /** Pulsar web service (admin + WebSocket); when set the readings and windows logs are Pulsar topics. */
  pulsarUrl?: URL | undefined;
  /** Topic namespace and partitions of the `readings` and `windows` topics. */
  pulsarNamespace?: string;
  pulsarPartitions?: number;
  /** Pack the readings topic's records per partition (packages/logs/pulsar-log.ts), default true. */
  pulsarReadingsPacking?: boolean;
  /** How often the Pulsar subscriptions' backlog is sampled for /metrics, ms (default 5 s). */
  pulsarBacklogSampleMs?: number;
  /** A database writer whose oldest unwritten row waited this long is stuck: /ready false (default 30 s). */
  storeStuckAfterMs?: number;
  /** Readings the bridge holds while the readings log is down or slow before it stops taking messages. */
  maxBufferedReadings?: number;
  logger?: Logger;
}

export interface Core {
  readonly metrics: CoreMetrics;
  readonly windowsLog: RecordLog<WindowRecord>;
  /** Readiness per dependency, for /ready. */
  readonly checks: Record<string, ReadinessCheck>;
  windowerStats(): ReturnType<WindowerStage["stats"]>;
  /** What is not written yet, per stage: logged when a shutdown runs out of time. */
  unwritten(): Record<string, number>;
  /**
   * Graceful, first half: stop MQTT intake (the taken messages reach the readings log and are acknowledged),
   * publish the closed windows and ack their records (all windows on in-process logs), store them. The logs
   * stay open: another consumer of the windows log drains between `drain` and `close`, since closing an
   * in-process log drops what it still holds.
   */
  drain(): Promise<void>;
  /** Second half, after `drain`: flush the dead letters and close the logs. */
  close(): Promise<void>;
  /** `drain` then `close`, for a process where nothing else reads the logs. */
  stop(): Promise<void>;
}

/**
 * The two logs: Pulsar topics when PULSAR_URL is set (readings as JSON, windows as Avro with the schema
 * registered in Pulsar, both keyed by sensor id), in-process otherwise.
 */
async function openLogs(
  options: CoreOptions,
  logger: Logger,
  deadLetters: DeadLetterTarget,
): Promise<{ readingsLog: RecordLog<ReadingsRecord>; windowsLog: RecordLog<WindowRecord> }> {
  if (!options.pulsarUrl) {
    return {
      // Bounded by readings, as the bridge is (core/bridge.ts): a batch message's record holds 60 of them.
      // 20,000 is two seconds of 10,000 streaming sensors, longer than the windower's usual stall (storing
      // a minute's windows); past it the bridge holds what comes, then the broker. The log's default of
      // 200,000 let a minute's burst of 10,000 batch messages sit here at once (bench ab B, issue 15).
      readingsLog: createMemoryLog<ReadingsRecord>("readings", {
        logger: logger.child("readings-log"),
        weigh: (r) => Math.max(1, r.readings.length),
        highWaterMark: 20_000,
      }),
      windowsLog: createMemoryLog<WindowRecord>("windows", { logger: logger.child("windows-log") }),
    };
  }
  // Imported only with Pulsar: an embedded core does not load the Pulsar client and the Avro codec (avsc),
  // ~2 MB of its idle RSS (75.4 → 73.6 MB, issue 15).
  const { openReadingsTopic, openWindowsTopic } = await import("@energy/logs/topics.ts");
  const topics = {
    url: options.pulsarUrl,
    namespace: options.pulsarNamespace ?? "public/default",
    partitions: options.pulsarPartitions ?? 4,
    readingsPacking: options.pulsarReadingsPacking ?? true,
    deadLetters,
    metrics: pulsarMetrics(options.registry),
    ...(options.pulsarBacklogSampleMs === undefined
      ? {}
      : { backlogSampleMs: options.pulsarBacklogSampleMs }),
  };
  const readingsLog = await openReadingsTopic({ ...topics, logger: logger.child("readings-log") });
  let windowsLog: RecordLog<WindowRecord>;
  try {
    windowsLog = await openWindowsTopic({ ...topics, logger: logger.child("windows-log") });
  } catch (error) {
    await readingsLog.close();
    throw error;
  }
  return { readingsLog, windowsLog };
}

export async function startCore(options: CoreOptions): Promise<Core> {
  const logger = options.logger ?? createLogger("core");
  const metrics = coreMetrics(options.registry);
  const db = options.database.db;
  const stuckAfterMs = options.storeStuckAfterMs ?? 30_000;
  const deadLetters: DeadLetterSink = createDbDeadLetterSink(db, {
    logger: logger.child("dead-letters"),
    onStored: (n) => metrics.deadLetters.inc(n),
    onRefused: () => metrics.storeRejects.inc({ sink: "dead_letters" }),
    onDropped: (n) => metrics.deadLettersDropped.inc(n),
    stuckAfterMs,
  });
  // Records a log's codec rejects: counted like the bridge's rejects, stored with the other dead letters.
  const undecodable: DeadLetterTarget = {
    put(letter) {
      metrics.invalid.inc({ reason: "undecodable" });
      deadLetters.put(letter);
    },
  };
  let logs: Awaited<ReturnType<typeof openLogs>>;
  try {
    logs = await openLogs(options, logger, undecodable);
  } catch (error) {
    await deadLetters.close();
    throw error;
  }
  const { readingsLog, windowsLog } = logs;
  const store: WindowStore = createWindowStore({
    db,
    metrics,
    deadLetters,
    logger: logger.child("window-store"),
    stuckAfterMs,
  });
  let bridge: Bridge | undefined;
  const windower = startWindowerStage({
    readingsLog,
    windowsLog,
    store,
    deadLetters,
    metrics,
    logger: logger.child("windower"),
    window: {
      allowedLatenessMs: options.allowedLatenessMs,
      idleTimeoutMs: options.idleTimeoutMs,
      ...(options.sensorEvictAfterMs === undefined ? {} : { sensorEvictAfterMs: options.sensorEvictAfterMs }),
      ...(options.maxSensors === undefined ? {} : { maxSensors: options.maxSensors }),
    },
    // Silence counts towards the idle timeout only while MQTT and the readings log are up: an outage of
    // either stalls every sensor at once, which is not a sensor going quiet.
    inputLive: () => (bridge?.connected() ?? false) && readingsLog.ready(),
  });
  try {
    bridge = await startBridge({
      mqttUrl: options.mqttUrl,
      username: options.mqttUsername,
      password: options.mqttPassword,
      tls: options.mqttTls,
      protocolVersion: options.mqttProtocol ?? 5,
      clientId: options.mqttClientId,
      topicPrefix: options.topicPrefix,
      shareGroup: options.shareGroup,
      readingsLog,
      deadLetters,
      metrics,
      logger: logger.child("bridge"),
      limits: options.limits ?? defaultLimits,
      ...(options.maxBufferedReadings === undefined
        ? {}
        : { maxBufferedReadings: options.maxBufferedReadings }),
    });
  } catch (error) {
    await windower.stop();
    await deadLetters.close();
    await readingsLog.close();
    await windowsLog.close();
    throw error;
  }

  // The writers' health, sampled into gauges and logged when it changes (the reason names the last error).
  const writers = { windows: store.health, dead_letters: deadLetters.health! };
  const wasStuck = new Map<string, boolean>();
  const sampleWriters = () => {
    const now = Date.now();
    for (const [sink, health] of Object.entries(writers)) {
      metrics.storeOldestPending.set({ sink }, health.oldestPendingMs(now) / 1000);
      const stuck = health.stuck(now);
      metrics.storeStuck.set({ sink }, stuck ? 1 : 0);
      if (stuck !== (wasStuck.get(sink) ?? false)) {
        if (stuck) logger.error(`${sink} writer is stuck: ${health.reason(now)}`);
        else logger.info(`${sink} writer caught up`);
        wasStuck.set(sink, stuck);
      }
    }
    metrics.bridgeBuffered.set(bridge.buffered());
  };
  sampleWriters();
  const sampler = setInterval(sampleWriters, 1_000);

  const checks: Record<string, ReadinessCheck> = {
    mqtt: () => bridge.connected(),
    database: () => options.database.ping(),
    readingsLog: () => readingsLog.ready(),
    windowsLog: () => windowsLog.ready(),
    // A writer retrying the same batch for longer than STORE_STUCK_AFTER_S is not ready even while the
    // database answers pings (e.g. a row it refuses for a reason that is not a data error).
    windowStore: () => store.health.reason() ?? true,
    deadLetterStore: () => writers.dead_letters.reason() ?? true,
  };
  // One entry per Pulsar producer and consumer (e.g. "readingsLog consumer windower"), so /ready names
  // the connection that is down rather than only the log.
  for (const [label, log] of [
    ["readingsLog", readingsLog],
    ["windowsLog", windowsLog],
  ] as const) {
    for (const part of Object.keys(log.connections?.() ?? {}))
      checks[`${label} ${part}`] = () => log.connections?.()[part] ?? false;
  }

  const drain = async () => {
    clearInterval(sampler);
    await bridge.stop();
    await windower.stop();
  };
  const close = async () => {
    await deadLetters.close();
    await readingsLog.close();
    await windowsLog.close();
  };

  return {
    metrics,
    windowsLog,
    checks,
    windowerStats: () => windower.stats(),
    unwritten: () => ({
      bridgeBufferedReadings: bridge.buffered(),
      bridgePendingAcks: bridge.pendingAcks(),
      openWindows: windower.stats().openWindows,
      windowStoreWaitingSeconds: Math.round(store.health.oldestPendingMs() / 1000),
      deadLettersBuffered: deadLetters.buffered?.() ?? 0,
    }),
    drain,
    close,
    async stop() {
      await drain();
      await close();
    },
  };
}
