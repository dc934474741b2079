/** `bun run forecaster`: the forecaster as its own process, consuming the core's windows from Pulsar. */
import { createDbDeadLetterSink } from "@energy/core/dead-letters.ts";
import { coreOptions } from "@energy/core/options.ts";
import { launchForecasterIn } from "@energy/ml/forecaster/launch.ts";
import { forecasterRunOptions } from "@energy/ml/forecaster/options.ts";
import { openPulsarWindowsLog } from "@energy/ml/forecaster/windows-log.ts";
import { opt, runCommand } from "@energy/platform/config.ts";
import { openDatabase } from "@energy/platform/db/client.ts";
import { createLogger } from "@energy/platform/log.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { httpPortOption } from "@energy/platform/options.ts";
import { serviceProcess } from "@energy/platform/process.ts";

const spec = {
  name: "bun run forecaster",
  summary:
    "Consumes the core's one-minute windows from Pulsar, stores the per-second actuals and the next minute's\n" +
    "forecast per sensor in PostgreSQL, batching inference (ONNX) across sensors; hot-reloads promoted models.\n" +
    "Without Pulsar the windows exist only inside the core: run `bun run core` (its --forecast is on by default)\n" +
    "or `bun run demo` instead.",
  options: {
    pulsarUrl: opt.url(
      "Pulsar web service (admin + WebSocket API) carrying the core's windows topic (required)",
      {
        env: "PULSAR_URL",
        protocols: ["http:", "https:"],
      },
    ),
    pulsarNamespace: coreOptions.pulsarNamespace,
    pulsarPartitions: coreOptions.pulsarPartitions,
    databaseUrl: coreOptions.databaseUrl,
    dataDir: coreOptions.dataDir,
    ...forecasterRunOptions,
    httpPort: httpPortOption("FORECASTER_HTTP_PORT", "9103"),
    httpHost: coreOptions.httpHost,
  },
  examples: [
    "PULSAR_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun run forecaster",
    "bun run forecaster --pulsar-url http://127.0.0.1:8080 --model-poll-interval 5 --retrain-every 600",
    "S3_ENDPOINT=http://127.0.0.1:9000 S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… bun run forecaster --pulsar-url …",
  ],
};

await runCommand(spec, async (o) => {
  if (!o.pulsarUrl) {
    // A missing required setting is a usage error: exit 2 like a bad value, with the ways out.
    process.stderr.write(
      `${spec.name}: the windows come from Pulsar and PULSAR_URL (--pulsar-url) is not set. Set it ` +
        "(e.g. PULSAR_URL=http://127.0.0.1:8080, the core running with the same), or run the forecaster " +
        "in-process: `bun run core` (its --forecast is on by default) or `bun run demo`.\n",
    );
    process.exit(2);
  }
  const logger = createLogger("forecaster");
  const registry = createRegistry();
  const proc = serviceProcess({ service: "forecaster", logger, registry });
  const database = await proc.start(
    "database",
    () => openDatabase({ url: o.databaseUrl, embeddedDir: o.dataDir }),
    (d) => d.close(),
  );
  if (!o.databaseUrl) {
    // PGlite is single-process: a core running on the same directory would corrupt it.
    logger.warn(`no DATABASE_URL: writing to this process's own embedded PGlite in ${o.dataDir}`, {
      hint: "set DATABASE_URL to the core's PostgreSQL to see windows, actuals and forecasts together",
    });
  }
  // Windows the codec cannot decode (a foreign producer on the topic), kept with the core's dead letters.
  const deadLetters = await proc.start(
    "dead letters",
    () => createDbDeadLetterSink(database.db, { logger: logger.child("dead-letters") }),
    (sink) => sink.close(),
  );
  const pulsarUrl = o.pulsarUrl;
  const windowsLog = await proc.start(
    "windows log",
    () =>
      openPulsarWindowsLog({
        pulsarUrl,
        namespace: o.pulsarNamespace,
        partitions: o.pulsarPartitions,
        registry,
        deadLetters,
        logger: logger.child("windows-log"),
      }),
    (log) => log.close(),
  );
  const forecaster = await launchForecasterIn(proc, { values: o, windowsLog, database, registry, logger });
  // Served once the forecaster consumes: compose's health check reads /health as "consuming".
  const ops = await proc.serveOps({
    port: o.httpPort,
    hostname: o.httpHost,
    info: () => ({ models: forecaster.servingVersions(), modelStore: forecaster.storeLocation }),
  });

  proc.run({
    checks: {
      ...forecaster.checks,
      windowsLog: () => windowsLog.ready(),
      deadLetterStore: () => deadLetters.health?.reason() ?? true,
    },
    running: {
      message: `forecaster running; health ${ops.url}/health, readiness ${ops.url}/ready, metrics ${ops.url}/metrics`,
      fields: {
        database: `${database.kind} ${database.location}`,
        modelStore: forecaster.storeLocation,
      },
    },
    announce: "finishing the batch in hand",
    shutdown: [
      { name: "forecaster", stop: () => forecaster.stop() },
      { name: "windows log", stop: () => windowsLog.close() },
      { name: "dead letters", stop: () => deadLetters.close() },
      ops,
      { name: "database", stop: () => database.close() },
    ],
  });
});
