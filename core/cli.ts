/** `bun run core`: the core runtime as a long-running process. */
import { runCommand } from "../lib/config.ts";
import { type Database, openDatabase } from "../lib/db/client.ts";
import { type ReadinessCheck, serveOps } from "../lib/http.ts";
import { createLogger } from "../lib/log.ts";
import { createRegistry } from "../lib/metrics.ts";
import { readMqttTls } from "../lib/mqtt-tls.ts";
import { uiRoutes } from "../lib/ui/routes.ts";
import { coreForecastOptions } from "../ml/forecaster/options.ts";
import { defaultLimits } from "./messages.ts";
import { coreOptions } from "./options.ts";
import { startCore } from "./service.ts";

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
  const logger = createLogger("core");
  const mqttTls = await readMqttTls(o.mqttUrl, o);
  const registry = createRegistry();
  // The port first: a taken port fails in milliseconds, before MQTT, the database or a model is touched.
  // Not ready until the dependencies' own checks replace this one.
  const checks: Record<string, ReadinessCheck> = { starting: () => false };
  let opened: Database | undefined;
  const ops = serveOps({
    service: "core",
    registry,
    checks,
    port: o.httpPort,
    hostname: o.httpHost,
    routes: uiRoutes({ db: () => opened?.db, registry }),
  });
  const database = await openDatabase({ url: o.databaseUrl, embeddedDir: o.dataDir }).catch(
    async (error: unknown) => {
      await ops.stop();
      throw error;
    },
  );
  opened = database;
  logger.info(`database: ${database.kind} ${database.location}`);
  const core = await startCore({
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
    maxBufferedRecords: o.maxBufferedRecords,
    pulsarReadingsPacking: o.pulsarReadingsPacking,
  });
  // Loaded only when used, so a core without the forecaster never loads onnxruntime.
  const forecaster = o.forecast
    ? await (await import("../ml/forecaster/launch.ts"))
        .launchForecaster({
          values: o,
          windowsLog: core.windowsLog,
          database,
          registry,
          logger: logger.child("forecaster"),
        })
        .catch(async (error: unknown) => {
          await core.stop();
          await database.close();
          await ops.stop();
          throw error;
        })
    : undefined;
  const forecasterChecks = Object.fromEntries(
    Object.entries(forecaster?.checks ?? {}).map(([name, check]) => [`forecaster ${name}`, check]),
  );
  delete checks.starting;
  Object.assign(checks, core.checks, forecasterChecks);
  logger.info(`core running; health ${ops.url}/health, metrics ${ops.url}/metrics, web page ${ops.url}/ui/`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing open windows and flushing (at most ${o.shutdownTimeout} s)`);
    // Bounded whatever the state (PostgreSQL or the log unreachable, a writer stuck): past the limit, say
    // what was not written and exit. A durable log (Pulsar) and a persistent MQTT session redeliver it.
    const unwritten = core.unwritten();
    setTimeout(
      () => {
        logger.error(
          `shutdown did not finish within ${o.shutdownTimeout} s (SHUTDOWN_TIMEOUT_S); exiting with work not written`,
          {
            atSignal: unwritten,
            now: core.unwritten(),
          },
        );
        process.exit(1);
      },
      Math.round(o.shutdownTimeout * 1000),
    ).unref();
    await core.stop({ beforeClose: async () => forecaster?.stop() });
    await ops.stop();
    await database.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
});
