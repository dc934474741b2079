/**
 * The core runtime, assembled: MQTT bridge → readings log → windower → windows log → window store,
 * with dead letters and metrics. The logs are in-process here (embedded default); the Pulsar log plugs in
 * through the same `RecordLog` interface.
 */
import type { Registry } from "prom-client";
import type { Database } from "../lib/db/client.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { type CoreMetrics, coreMetrics, pulsarMetrics } from "../lib/metrics.ts";
import type { ReadingsRecord, WindowRecord } from "../lib/records.ts";
import { type Bridge, startBridge } from "./bridge.ts";
import { createDbDeadLetterSink, type DeadLetterSink } from "./dead-letters.ts";
import { createMemoryLog, type RecordLog, type Subscription } from "./log.ts";
import { defaultLimits, type ValidationLimits } from "./messages.ts";
import { openReadingsTopic, openWindowsTopic } from "./pulsar/topics.ts";
import { startWindowStore } from "./window-store.ts";
import { startWindowerStage, type WindowerStage } from "./windower.ts";

export interface CoreOptions {
  mqttUrl: URL;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  mqttProtocol?: 4 | 5;
  /** Fixed MQTT client id = persistent session, so a crash loses no message (core/bridge.ts). */
  mqttClientId?: string | undefined;
  topicPrefix: string;
  shareGroup: string | undefined;
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  limits?: ValidationLimits;
  database: Database;
  registry: Registry;
  /** Pulsar web service (admin + WebSocket); when set the readings and windows logs are Pulsar topics. */
  pulsarUrl?: URL | undefined;
  /** Topic namespace and partitions of the `readings` and `windows` topics. */
  pulsarNamespace?: string;
  pulsarPartitions?: number;
  /** Pack the readings topic's records per partition (core/pulsar/log.ts), default true. */
  pulsarReadingsPacking?: boolean;
  /** How often the Pulsar subscriptions' backlog is sampled for /metrics, ms (default 5 s). */
  pulsarBacklogSampleMs?: number;
  logger?: Logger;
}

export interface Core {
  readonly metrics: CoreMetrics;
  readonly windowsLog: RecordLog<WindowRecord>;
  /** Readiness per dependency, for /ready. */
  readonly checks: Record<string, () => boolean | Promise<boolean>>;
  windowerStats(): ReturnType<WindowerStage["stats"]>;
  /**
   * Graceful: stop MQTT intake (the taken messages reach the readings log and are acknowledged), publish the
   * closed windows and ack their records (all windows on in-process logs), store them, flush dead letters.
   * `beforeClose` runs after the last window is published and before the logs close: other consumers of
   * the in-process windows log (the forecaster) drain there, since closing that log drops what it still holds.
   */
  stop(hooks?: { beforeClose?: () => Promise<void> }): Promise<void>;
}

/**
 * The two logs: Pulsar topics when PULSAR_URL is set (readings as JSON, windows as Avro with the schema
 * registered in Pulsar, both keyed by sensor id), in-process otherwise.
 */
async function openLogs(
  options: CoreOptions,
  logger: Logger,
): Promise<{ readingsLog: RecordLog<ReadingsRecord>; windowsLog: RecordLog<WindowRecord> }> {
  if (!options.pulsarUrl) {
    return {
      readingsLog: createMemoryLog<ReadingsRecord>("readings", { logger: logger.child("readings-log") }),
      windowsLog: createMemoryLog<WindowRecord>("windows", { logger: logger.child("windows-log") }),
    };
  }
  const topics = {
    url: options.pulsarUrl,
    namespace: options.pulsarNamespace ?? "public/default",
    partitions: options.pulsarPartitions ?? 4,
    readingsPacking: options.pulsarReadingsPacking ?? true,
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
  const { readingsLog, windowsLog } = await openLogs(options, logger);
  const deadLetters: DeadLetterSink = createDbDeadLetterSink(db, {
    logger: logger.child("dead-letters"),
    onStored: (n) => metrics.deadLetters.inc(n),
  });
  const store: Subscription = startWindowStore(windowsLog, db, metrics);
  const windower = startWindowerStage({
    readingsLog,
    windowsLog,
    deadLetters,
    metrics,
    logger: logger.child("windower"),
    window: { allowedLatenessMs: options.allowedLatenessMs, idleTimeoutMs: options.idleTimeoutMs },
  });
  let bridge: Bridge;
  try {
    bridge = await startBridge({
      mqttUrl: options.mqttUrl,
      username: options.mqttUsername,
      password: options.mqttPassword,
      protocolVersion: options.mqttProtocol ?? 5,
      clientId: options.mqttClientId,
      topicPrefix: options.topicPrefix,
      shareGroup: options.shareGroup,
      readingsLog,
      deadLetters,
      metrics,
      logger: logger.child("bridge"),
      limits: options.limits ?? defaultLimits,
    });
  } catch (error) {
    await windower.stop();
    await store.stop();
    await deadLetters.close();
    await readingsLog.close();
    await windowsLog.close();
    throw error;
  }

  const checks: Record<string, () => boolean | Promise<boolean>> = {
    mqtt: () => bridge.connected(),
    database: () => options.database.ping(),
    readingsLog: () => readingsLog.ready(),
    windowsLog: () => windowsLog.ready(),
  };
  // One entry per Pulsar producer and consumer (e.g. "windowsLog consumer window-store"), so /ready names
  // the connection that is down rather than only the log.
  for (const [label, log] of [
    ["readingsLog", readingsLog],
    ["windowsLog", windowsLog],
  ] as const) {
    for (const part of Object.keys(log.connections?.() ?? {}))
      checks[`${label} ${part}`] = () => log.connections?.()[part] ?? false;
  }

  return {
    metrics,
    windowsLog,
    checks,
    windowerStats: () => windower.stats(),
    async stop(hooks) {
      await bridge.stop();
      await windower.stop();
      await store.stop();
      await hooks?.beforeClose?.();
      await deadLetters.close();
      await readingsLog.close();
      await windowsLog.close();
    },
  };
}
