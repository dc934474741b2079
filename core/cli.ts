/** `bun run core`: the core runtime as a long-running process. */
import { runCommand } from "../lib/config.ts";
import { openDatabase } from "../lib/db/client.ts";
import { serveOps } from "../lib/http.ts";
import { createLogger } from "../lib/log.ts";
import { createRegistry } from "../lib/metrics.ts";
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
  const logger = createLogger("core");
  const database = await openDatabase({ url: o.databaseUrl, embeddedDir: o.dataDir });
  logger.info(`database: ${database.kind} ${database.location}`);
  const registry = createRegistry();
  const core = await startCore({
    mqttUrl: o.mqttUrl,
    mqttUsername: o.mqttUsername,
    mqttPassword: o.mqttPassword,
    mqttProtocol: o.mqttProtocol === "4" ? 4 : 5,
    mqttClientId: o.mqttClientId,
    topicPrefix: o.topicPrefix,
    shareGroup: o.shareGroup === "" ? undefined : o.shareGroup,
    allowedLatenessMs: Math.round(o.allowedLateness * 1000),
    idleTimeoutMs: Math.round(o.idleTimeout * 1000),
    limits: { ...defaultLimits, maxMessageBytes: o.maxMessageBytes },
    database,
    registry,
    logger,
    pulsarUrl: o.pulsarUrl,
    pulsarNamespace: o.pulsarNamespace,
    pulsarPartitions: o.pulsarPartitions,
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
          throw error;
        })
    : undefined;
  const forecasterChecks = Object.fromEntries(
    Object.entries(forecaster?.checks ?? {}).map(([name, check]) => [`forecaster ${name}`, check]),
  );
  const ops = serveOps({
    service: "core",
    registry,
    checks: { ...core.checks, ...forecasterChecks },
    port: o.httpPort,
    hostname: o.httpHost,
    routes: uiRoutes({ db: database.db, registry }),
  });
  logger.info(`core running; web page ${ops.url}/ui/, health ${ops.url}/health, metrics ${ops.url}/metrics`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing open windows and flushing`);
    await core.stop({ beforeClose: async () => forecaster?.stop() });
    await ops.stop();
    await database.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
});
