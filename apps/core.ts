/**
 * `bun run core`: the core runtime as a long-running process, with the forecaster in the same process on
 * the core's windows log unless --no-forecast. The one module of the core that knows the forecaster exists:
 * the core itself (service.ts, options.ts) does not.
 */

import { defaultLimits } from "@energy/core/messages.ts";
import { coreOptions } from "@energy/core/options.ts";
import { startCore } from "@energy/core/service.ts";
import { coreForecastOptions } from "@energy/ml/forecaster/options.ts";
import { runCommand } from "@energy/platform/config.ts";
import { type Database, openDatabase } from "@energy/platform/db/client.ts";
import { applyEngineMemoryBudget, describeBudget } from "@energy/platform/engine-memory.ts";
import { createLogger } from "@energy/platform/log.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { readMqttTls } from "@energy/platform/mqtt-tls.ts";
import { serviceProcess } from "@energy/platform/process.ts";
import { uiRoutes } from "@energy/platform/ui/routes.ts";

const spec = {
  name: "bun run core",
  summary:
    "Subscribes to sensor messages on MQTT, validates them, computes event-time one-minute windows per sensor\n" +
    "and stores them in PostgreSQL (embedded PGlite unless DATABASE_URL is set).",
  options: { ...coreOptions, ...coreForecastOptions },
  examples: [
    "bun run core",
    "MQTT_URL=mqtt://127.0.0.1:1883 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun run core",
    "bun run core --allowed-lateness 10 --http-port 0",
    "PULSAR_URL=http://127.0.0.1:8080 bun run core --no-forecast   # with `bun run forecaster` consuming Pulsar",
  ],
};

await runCommand(spec, async (o) => {
  if (o.valueMin >= o.valueMax) {
    process.stderr.write(
      `${spec.name}: VALUE_MIN_W ${o.valueMin} must be below VALUE_MAX_W ${o.valueMax} (--value-min, --value-max)\n`,
    );
    process.exit(2);
  }
  // First: this may restart the process in place, which must happen before anything is opened.
  const budget = applyEngineMemoryBudget(o.memoryBudget);
  const logger = createLogger("core");
  logger.info(describeBudget(budget));
  const mqttTls = await readMqttTls(o.mqttUrl, o);
  const registry = createRegistry();
  const proc = serviceProcess({ service: "core", logger, registry });
  // The port first: a taken port fails in milliseconds, before MQTT, the database or a model is touched.
  let opened: Database | undefined;
  const ops = await proc.serveOps({
    port: o.httpPort,
    hostname: o.httpHost,
    routes: uiRoutes({ db: () => opened?.db, registry }),
  });
  const database = await proc.start(
    "database",
    () => openDatabase({ url: o.databaseUrl, embeddedDir: o.dataDir }),
    (d) => d.close(),
  );
  opened = database;
  logger.info(`database: ${database.kind} ${database.location}`);
  const core = await proc.start(
    "core",
    () =>
      startCore({
        mqttUrl: o.mqttUrl,
        mqttUsername: o.mqttUsername,
        mqttPassword: o.mqttPassword,
        mqttTls,
        mqttProtocol: o.mqttProtocol === "4" ? 4 : 5,
        mqttClientId: o.mqttClientId,
        topicPrefix: o.topicPrefix,
        shareGroup: o.shareGroup === "" ? undefined : o.shareGroup,
        allowedLatenessMs: Math.round(o.allowedLateness * 1000),
        idleTimeoutMs: Math.round(o.idleTimeout * 1000),
        sensorEvictAfterMs: Math.round(o.sensorEvictAfter * 1000),
        maxSensors: o.maxSensors,
        limits: {
          ...defaultLimits,
          maxMessageBytes: o.maxMessageBytes,
          maxPastMs: Math.round(o.maxEventAge * 1000),
          maxFutureMs: Math.round(o.maxClockSkew * 1000),
          minValue: o.valueMin,
          maxValue: o.valueMax,
        },
        database,
        registry,
        logger,
        pulsarUrl: o.pulsarUrl,
        pulsarNamespace: o.pulsarNamespace,
        pulsarPartitions: o.pulsarPartitions,
        storeStuckAfterMs: Math.round(o.storeStuckAfter * 1000),
        maxBufferedReadings: o.maxBufferedReadings,
        pulsarReadingsPacking: o.pulsarReadingsPacking,
      }),
    (c) => c.stop(),
  );
  // Loaded only when used, so a core without the forecaster never loads onnxruntime; loaded inside
  // proc.start (not through launchForecasterIn) so a failing load still stops what started before it.
  const forecaster = o.forecast
    ? await proc.start(
        "forecaster",
        async () =>
          (await import("@energy/ml/forecaster/launch.ts")).launchForecaster({
            values: o,
            windowsLog: core.windowsLog,
            database,
            registry,
            logger: logger.child("forecaster"),
          }),
        (f) => f.stop(),
      )
    : undefined;
  const forecasterChecks = Object.fromEntries(
    Object.entries(forecaster?.checks ?? {}).map(([name, check]) => [`forecaster ${name}`, check]),
  );

  proc.run({
    checks: { ...core.checks, ...forecasterChecks },
    running: {
      message: `core running; health ${ops.url}/health, metrics ${ops.url}/metrics, web page ${ops.url}/ui/`,
    },
    announce: "closing open windows and flushing",
    // Bounded whatever the state (PostgreSQL or the log unreachable, a writer stuck): past the limit, say
    // what was not written and exit. A durable log (Pulsar) and a persistent MQTT session redeliver it.
    timeout: { seconds: o.shutdownTimeout, unwritten: () => core.unwritten() },
    shutdown: [
      { name: "core intake", stop: () => core.drain() },
      // The forecaster reads the in-process windows log: it takes the last windows before that log closes.
      ...(forecaster ? [{ name: "forecaster", stop: () => forecaster.stop() }] : []),
      { name: "core logs", stop: () => core.close() },
      ops,
      { name: "database", stop: () => database.close() },
    ],
  });
});
