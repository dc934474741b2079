/**
 * `bun run demo`: the whole pipeline in one process on the embedded defaults — an in-process MQTT broker
 * (aedes, free loopback port), the core, edge sensors replaying the seed CSVs at high speed, and an
 * embedded PostgreSQL (PGlite). With MQTT_URL / DATABASE_URL set it uses those servers instead.
 * With --duration it stops by itself and prints a JSON summary as its last stdout line.
 */
import { coreOptions } from "@energy/core/options.ts";
import { batchOption, csvDirOption, disorderOption, sourceOption } from "@energy/edge/options.ts";
import { forecasterRunOptions } from "@energy/ml/forecaster/options.ts";
import { opt, runCommand } from "@energy/platform/config.ts";
import type { EmbeddedBroker } from "@energy/platform/mqtt-broker.ts";
import { httpPortOption, mqttProtocols } from "@energy/platform/options.ts";

const spec = {
  name: "bun run demo",
  summary:
    "Runs broker, edge sensors, core, forecaster and database in one process on the embedded defaults,\n" +
    "replaying the seed CSVs (data/seed) at high speed. Prints its URLs at start and a JSON summary at the end.",
  options: {
    duration: opt.number("stop after this many seconds and print the summary (0 = run until Ctrl-C)", {
      env: "DEMO_DURATION_S",
      default: "0",
      min: 0,
    }),
    batch: batchOption("smart batching sensors (architecture B) instead of streaming sensors (A)"),
    speed: opt.number("replay speed factor: event-time seconds per wall second", {
      env: "DEMO_SPEED",
      default: "120",
      min: 0.01,
    }),
    source: sourceOption("what the sensors replay"),
    csvDir: csvDirOption("directory of seed CSVs"),
    sensors: opt.int("synthetic sensors (with --source generator)", {
      env: "EDGE_SENSORS",
      default: "10",
      min: 1,
    }),
    disorder: disorderOption("replay the study's disordered workload (drops, shuffled and deferred chunks)"),
    mqttUrl: opt.url("use this MQTT broker instead of the embedded one", {
      env: "MQTT_URL",
      protocols: mqttProtocols,
    }),
    mqttPort: opt.int("port of the embedded MQTT broker (0 = any free port)", {
      env: "DEMO_MQTT_PORT",
      default: "0",
      min: 0,
      max: 65535,
    }),
    databaseUrl: coreOptions.databaseUrl,
    dataDir: coreOptions.dataDir,
    pulsarUrl: coreOptions.pulsarUrl,
    pulsarNamespace: opt.string(
      "Pulsar namespace of the demo's topics (default: a new public/demo-… per run, so the summary never counts an earlier run's messages)",
      { env: "PULSAR_NAMESPACE" },
    ),
    pulsarPartitions: coreOptions.pulsarPartitions,
    allowedLateness: coreOptions.allowedLateness,
    idleTimeout: coreOptions.idleTimeout,
    httpPort: httpPortOption("DEMO_HTTP_PORT", "9100"),
    httpHost: coreOptions.httpHost,
    ...forecasterRunOptions,
  },
  examples: [
    "bun run demo",
    "bun run demo --duration 60",
    "bun run demo --batch --speed 600 --duration 30",
    "PULSAR_URL=http://127.0.0.1:8080 bun run demo --duration 60   # the core's logs on a real Pulsar",
  ],
};

await runCommand(spec, async (o) => {
  const runStarted = new Date();
  const { createLogger } = await import("@energy/platform/log.ts");
  const logger = createLogger("demo");
  // The pipeline's modules (onnxruntime, the S3 client, aedes, PGlite, prom-client) take 2–10 s to load
  // and block the event loop meanwhile: loaded here, after this line, so the demo never starts silently.
  logger.info("starting: loading the broker, core, edge and forecaster modules");
  const [
    { defaultLimits },
    { PulsarAdmin },
    { startCore },
    { startAgent },
    { bindAgentMetrics },
    { buildSensorStreams },
    { openDatabase },
    { createRegistry },
    { startEmbeddedBroker },
    { serviceProcess },
    { readForecastsMadeSince, readTotals },
    { uiRoutes },
    { launchForecasterIn },
    { forecastSummary },
  ] = await Promise.all([
    import("@energy/core/messages.ts"),
    import("@energy/pulsar/admin.ts"),
    import("@energy/core/service.ts"),
    import("@energy/edge/agent.ts"),
    import("@energy/edge/metrics.ts"),
    import("@energy/edge/sources/index.ts"),
    import("@energy/platform/db/client.ts"),
    import("@energy/platform/metrics.ts"),
    import("@energy/platform/mqtt-broker.ts"),
    import("@energy/platform/process.ts"),
    import("@energy/platform/ui/data.ts"),
    import("@energy/platform/ui/routes.ts"),
    import("@energy/ml/forecaster/launch.ts"),
    import("@energy/platform/db/forecasts.ts"),
  ]);
  const registry = createRegistry();
  const proc = serviceProcess({ service: "demo", logger, registry });
  const broker: EmbeddedBroker | undefined = o.mqttUrl
    ? undefined
    : await proc.start(
        "MQTT broker",
        () => startEmbeddedBroker({ port: o.mqttPort }),
        (b) => b.close(),
      );
  const mqttUrl = o.mqttUrl ?? broker!.url;
  logger.info(
    o.databaseUrl ? "connecting to PostgreSQL and applying migrations" : "opening the embedded database",
  );
  const database = await proc.start(
    "database",
    () =>
      openDatabase({
        url: o.databaseUrl,
        embeddedDir: o.dataDir,
        onProgress: (message) => logger.info(message),
      }),
    (d) => d.close(),
  );
  let pulsarNamespace = o.pulsarNamespace;
  if (o.pulsarUrl && !pulsarNamespace) {
    const fresh = `public/demo-${Date.now().toString(36)}`;
    const admin = new PulsarAdmin({ url: o.pulsarUrl.href });
    await proc.start("Pulsar namespace", () => admin.ensureNamespace(fresh));
    pulsarNamespace = fresh;
    logger.info(`Pulsar topics in the new namespace ${pulsarNamespace}`);
  }
  const core = await proc.start(
    "core",
    () =>
      startCore({
        mqttUrl,
        // aedes speaks MQTT 3.1.1 only.
        mqttProtocol: broker ? 4 : 5,
        topicPrefix: "sensors",
        // aedes accepts but never serves shared subscriptions; one core needs none.
        shareGroup: undefined,
        allowedLatenessMs: Math.round(o.allowedLateness * 1000),
        idleTimeoutMs: Math.round(o.idleTimeout * 1000),
        limits: defaultLimits,
        database,
        registry,
        logger: logger.child("core"),
        pulsarUrl: o.pulsarUrl,
        pulsarNamespace,
        pulsarPartitions: o.pulsarPartitions,
      }),
    (c) => c.stop(),
  );
  logger.info("loading the forecaster (onnxruntime and the model store)");
  // In-process on the core's windows log: forecasts appear in PostgreSQL while the demo runs. On a fresh clone
  // the store has no model yet: the bootstrap model trains in a worker and persistence serves meanwhile.
  const forecaster = await launchForecasterIn(proc, {
    values: o,
    windowsLog: core.windowsLog,
    database,
    registry,
    logger: logger.child("forecaster"),
  });
  let bootstrap = "pending";
  void forecaster.bootstrapped.then((outcome) => {
    bootstrap = outcome;
  });
  const windowsBySensor = new Map<number, number>();
  const counter = await proc.start(
    "summary counter",
    () =>
      core.windowsLog.subscribe("demo-summary", async (batch) => {
        for (const m of batch)
          windowsBySensor.set(m.value.sensorId, (windowsBySensor.get(m.value.sensorId) ?? 0) + 1);
      }),
    (c) => c.stop(),
  );

  const streams = await proc.start("sensor streams", () =>
    buildSensorStreams({
      kind: o.source,
      csvDir: o.csvDir,
      sensors: o.sensors,
      disorder: o.disorder,
      seed: 1,
    }),
  );
  const mode = o.batch ? "batch" : "streaming";
  const agent = await proc.start(
    "edge",
    () => startAgent({ mqttUrl: mqttUrl.href, mode, streams, speed: o.speed, logger: logger.child("edge") }),
    async (a) => {
      await a.stop();
    },
  );
  bindAgentMetrics(agent, registry);
  // The replay ends after its CSVs (~20 s at 120x). Replaying them again would send event times the core
  // has already closed (all late) or upsert the same windows; inventing new times would fake data. So the
  // edge reports "finished" (ready) once its replay is done, and "down" only while a replay cannot connect.
  let replayFinished = false;
  let stoppingEdge = false;
  void agent.done.then(
    () => {
      // `done` also settles when the demo stops the agent (--duration, Ctrl-C): that is not a finished replay.
      if (stoppingEdge) return;
      replayFinished = true;
      logger.info("edge replay finished; the core, forecaster and web page keep running (Ctrl-C stops)");
    },
    () => {},
  );
  const ops = await proc.serveOps({
    port: o.httpPort,
    hostname: o.httpHost,
    info: () => ({ mqttUrl: mqttUrl.href, embeddedBroker: broker !== undefined, database: database.kind }),
    routes: uiRoutes({ db: database.db, registry }),
  });
  process.stdout.write(
    [
      `demo: ${streams.length} ${mode} sensors replaying ${o.source === "csv" ? o.csvDir : "the generator"} at ${o.speed}x`,
      `  MQTT broker:  ${mqttUrl.href}${broker ? ` (embedded; e.g. mosquitto_sub -p ${broker.port} -t 'sensors/#')` : ""}`,
      `  database:     ${database.kind} ${database.location}`,
      `  web page:     ${ops.url}/ui/`,
      `  health:       ${ops.url}/health`,
      `  readiness:    ${ops.url}/ready`,
      `  metrics:      ${ops.url}/metrics`,
      `  forecaster:   in-process, models from ${forecaster.storeLocation}; readiness "forecaster model" in ${ops.url}/ready, forecaster_* in ${ops.url}/metrics`,
      "",
    ].join("\n"),
  );

  const started = Date.now();
  let edge: Awaited<ReturnType<typeof agent.stop>> | undefined;
  const received = async () =>
    (await core.metrics.messagesReceived.get()).values.reduce((n, v) => n + v.value, 0);
  let servingAtEnd: ReturnType<typeof forecaster.servingVersions> = {};
  let summary: Record<string, unknown> | undefined;
  const summarize = async () => {
    const sent = edge!;
    const runForecasts = await readForecastsMadeSince(database.db, runStarted);
    const total = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
      (await c.get()).values.reduce((n, v) => n + v.value, 0);
    // Everything but `totals` counts this run only; `totals` are the database's rows from every run so far.
    summary = {
      mode,
      speed: o.speed,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      sensors: streams.length,
      readingsSent: sent.readingsSent,
      messagesSent: sent.messagesSent,
      readings: await total(core.metrics.readings),
      messages: await received(),
      windows: await total(core.metrics.windowsStored),
      windowsBySensor: Object.fromEntries([...windowsBySensor].sort((a, b) => a[0] - b[0])),
      late: await total(core.metrics.late),
      duplicates: await total(core.metrics.duplicates),
      invalid: await total(core.metrics.invalid),
      database: database.kind,
      // Rows written by this run: actuals upserted, forecasts made (their made_at is this run's).
      actuals: await total(forecaster.metrics.actualsStored),
      forecasts: Object.values(runForecasts).reduce((s, n) => s + n, 0),
      // Rows per model version: `baseline-persistence` rows are those made before a model served.
      forecastsByModelVersion: runForecasts,
      modelVersion: servingAtEnd,
      bootstrap,
      totals: {
        ...(await readTotals(database.db)),
        forecastsByModelVersion: (await forecastSummary(database.db)).byVersion,
      },
    };
  };

  proc.run({
    checks: {
      ...core.checks,
      edge: () => (replayFinished ? "finished" : agent.stats().connected > 0),
      "forecaster model": forecaster.checks.model!,
    },
    until: new Promise<string>((resolve) => {
      if (o.duration > 0) setTimeout(() => resolve("--duration"), o.duration * 1000);
      agent.done.catch((error) => {
        logger.error(`edge agent failed: ${String(error)}`);
        resolve("edge agent failed");
      });
    }),
    shutdown: [
      {
        name: "edge",
        stop: async () => {
          stoppingEdge = true;
          edge = await agent.stop();
          // Let the bridge take in what the broker still delivers before closing the windows.
          const deadline = Date.now() + 10_000;
          while (Date.now() < deadline && (await received()) < edge.messagesSent) await Bun.sleep(50);
        },
      },
      { name: "core intake", stop: () => core.drain() },
      // Both read the in-process windows log: they take the last windows before the core closes it.
      {
        name: "forecaster",
        stop: async () => {
          servingAtEnd = forecaster.servingVersions();
          await forecaster.stop();
        },
      },
      { name: "summary counter", stop: () => counter.stop() },
      { name: "core logs", stop: () => core.close() },
      { name: "summary", stop: summarize },
      ops,
      { name: "database", stop: () => database.close() },
      ...(broker ? [{ name: "MQTT broker", stop: () => broker.close() }] : []),
      // The last stdout line, for scripts (.ci/run reads it).
      { name: "summary output", stop: () => void process.stdout.write(`${JSON.stringify(summary)}\n`) },
    ],
  });
});
