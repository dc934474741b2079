/**
 * The core runtime, assembled: MQTT bridge → readings log → windower → windows log → window store,
 * with dead letters and metrics. The logs are in-process here (embedded default); the Pulsar log plugs in
 * through the same `RecordLog` interface.
 */
import type { Registry } from "prom-client";
import type { Database } from "../lib/db/client.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { type CoreMetrics, coreMetrics } from "../lib/metrics.ts";
import type { ReadingsRecord, WindowRecord } from "../lib/records.ts";
import { windowCodec, windowSchemaJson } from "./avro/window-schema.ts";
import { type Bridge, startBridge } from "./bridge.ts";
import { createDbDeadLetterSink, type DeadLetterSink } from "./dead-letters.ts";
import { createMemoryLog, type RecordLog, type Subscription } from "./log.ts";
import { defaultLimits, type ValidationLimits } from "./messages.ts";
import { createPulsarLog } from "./pulsar/log.ts";
import { readingsCodec } from "./pulsar/readings-codec.ts";
import { startWindowStore } from "./window-store.ts";
import { startWindowerStage, type WindowerStage } from "./windower.ts";

export interface CoreOptions {
  mqttUrl: URL;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  mqttProtocol?: 4 | 5;
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
  logger?: Logger;
}

export interface Core {
  readonly metrics: CoreMetrics;
  readonly windowsLog: RecordLog<WindowRecord>;
  /** Readiness per dependency, for /ready. */
  readonly checks: Record<string, () => boolean | Promise<boolean>>;
  windowerStats(): ReturnType<WindowerStage["stats"]>;
  /** Graceful: stop MQTT intake, close all open windows, store them, flush dead letters. */
  stop(): Promise<void>;
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
  const url = options.pulsarUrl.href;
  const ns = options.pulsarNamespace ?? "public/default";
  const partitions = options.pulsarPartitions ?? 4;
  const readingsLog = await createPulsarLog<ReadingsRecord>({
    name: "readings",
    topic: `persistent://${ns}/readings`,
    url,
    partitions,
    codec: readingsCodec,
    logger: logger.child("readings-log"),
  });
  const windowsLog = await createPulsarLog<WindowRecord>({
    name: "windows",
    topic: `persistent://${ns}/windows`,
    url,
    partitions,
    codec: windowCodec,
    schema: { type: "AVRO", schema: windowSchemaJson },
    logger: logger.child("windows-log"),
  });
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

  return {
    metrics,
    windowsLog,
    checks: {
      mqtt: () => bridge.connected(),
      database: () => options.database.ping(),
      readingsLog: () => readingsLog.ready(),
      windowsLog: () => windowsLog.ready(),
    },
    windowerStats: () => windower.stats(),
    async stop() {
      await bridge.stop();
      await windower.stop();
      await store.stop();
      await deadLetters.close();
      await readingsLog.close();
      await windowsLog.close();
    },
  };
}
