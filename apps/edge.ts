/**
 * `bun apps/edge.ts [--batch] ...` — emulated power sensors publishing to MQTT.
 * Progress goes to stderr; the last stdout line is the final summary as JSON (for scripts and the bench).
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { startAgent } from "@energy/edge/agent.ts";
import { minBatchBytes } from "@energy/edge/batcher.ts";
import { bindAgentMetrics } from "@energy/edge/metrics.ts";
import { batchOption, csvDirOption, disorderOption, sourceOption } from "@energy/edge/options.ts";
import { startProgress } from "@energy/edge/progress.ts";
import { maxRatePerSecond } from "@energy/edge/sources/generator.ts";
import { buildSensorStreams } from "@energy/edge/sources/index.ts";
import { type CommandSpec, type Option, opt, runCommand, type Values } from "@energy/platform/config.ts";
import { serveOps } from "@energy/platform/http.ts";
import { createLogger } from "@energy/platform/log.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { readMqttTls } from "@energy/platform/mqtt-tls.ts";
import {
  httpHostOption,
  httpPortOption,
  mqttAccessOptions,
  mqttUrlOption,
  topicPrefixOption,
} from "@energy/platform/options.ts";

/** `--start`: an ISO-8601 instant (naive means UTC, like the seed data) or `now`. */
const instant = (description: string, o: { env?: string } = {}): Option<number> => ({
  description,
  ...o,
  parse: (raw, label) => {
    if (raw === "now") return Date.now();
    const naive = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(raw);
    const ms = Date.parse(naive ? `${raw.replace(" ", "T")}${raw.length > 10 ? "" : "T00:00:00"}Z` : raw);
    if (Number.isNaN(ms)) {
      throw new PipelineError("config", `${label} "${raw}" is not an ISO-8601 time`, {
        hint: "e.g. 2025-12-08T00:00:00Z or now",
      });
    }
    return ms;
  },
});

export const edgeCommand = {
  name: "edge",
  summary:
    "Emulates power sensors: replays the seed CSVs or generates synthetic traces and publishes them to MQTT,\n" +
    "one message per reading (architecture A) or one batch per sensor per interval with --batch (B).\n" +
    "Event-time options (--duration, --start) refer to the data; --speed maps it onto wall time.",
  options: {
    mqttUrl: mqttUrlOption("MQTT broker"),
    batch: batchOption("smart batching: one BatchMessage per sensor per interval (architecture B)"),
    source: sourceOption("where readings come from"),
    csvDir: csvDirOption("directory of seed CSVs (--source csv)"),
    sensors: opt.int("number of synthetic sensors, ids 1..N (--source generator; default 10)", {
      env: "EDGE_SENSORS",
      min: 1,
      max: 1_000_000,
    }),
    rate: opt.number(
      `readings per second per sensor (--source generator; default 1, max ${maxRatePerSecond})`,
      {
        env: "EDGE_RATE",
        min: 0.001,
        max: maxRatePerSecond,
      },
    ),
    speed: opt.number("event-time seconds per wall second; 0 = as fast as the broker acknowledges", {
      env: "EDGE_SPEED",
      default: "1",
      min: 0,
    }),
    duration: opt.number(
      "event-time seconds of data to send; 0 = until the source ends (generator: forever)",
      {
        env: "EDGE_DURATION",
        default: "0",
        min: 0,
      },
    ),
    start: instant(
      "event time of the first reading, ISO-8601 or now (generator default 2025-12-08T00:00:00Z; shifts a CSV replay)",
      {
        env: "EDGE_START",
      },
    ),
    seed: opt.int("seed for the generator and the disorder", { env: "EDGE_SEED", default: "1" }),
    disorder: disorderOption("apply the study's out-of-order workload (drop, chunk, shuffle, defer)"),
    topicPrefix: topicPrefixOption("topics are {prefix}/{sensorId}/reading|batch"),
    qos: opt.int("MQTT QoS of publishes", { env: "MQTT_QOS", default: "1", min: 0, max: 2 }),
    ...mqttAccessOptions,
    clientIdPrefix: opt.string("MQTT client id prefix (ids are {prefix}-{pid}-{n})", {
      env: "MQTT_CLIENT_ID_PREFIX",
      default: "edge",
    }),
    batchInterval: opt.number("batch interval in seconds, aligned to event-time multiples", {
      env: "EDGE_BATCH_INTERVAL",
      default: "60",
      min: 1,
    }),
    batchMaxReadings: opt.int("most readings in one batch message (more split the interval)", {
      env: "EDGE_BATCH_MAX_READINGS",
      default: "10000",
      min: 1,
    }),
    batchMaxBytes: opt.int("most bytes in one batch message (more split the interval)", {
      env: "EDGE_BATCH_MAX_BYTES",
      default: String(256 * 1024),
      min: minBatchBytes,
    }),
    batchGrace: opt.number(
      "seconds a batch waits after its interval for late readings (default 0, or one interval with --disorder)",
      {
        env: "EDGE_BATCH_GRACE",
        min: 0,
      },
    ),
    connections: opt.int("MQTT connections shared by all sensors", {
      env: "EDGE_CONNECTIONS",
      default: "4",
      min: 1,
      max: 1_000,
    }),
    offlineQueue: opt.int(
      "messages buffered while the broker is slow or away; beyond, messages are dropped and counted",
      {
        env: "EDGE_OFFLINE_QUEUE",
        default: "100000",
        min: 1,
      },
    ),
    maxInFlight: opt.int("unacknowledged publishes per connection", {
      env: "EDGE_MAX_IN_FLIGHT",
      default: "1000",
      min: 1,
      max: 65_000,
    }),
    httpPort: httpPortOption("EDGE_HTTP_PORT", "9101"),
    httpHost: httpHostOption,
    shutdownTimeout: opt.number("seconds to wait for in-flight publishes at shutdown", {
      env: "EDGE_SHUTDOWN_TIMEOUT",
      default: "10",
      min: 0,
    }),
  },
  examples: [
    "bun apps/edge.ts                                   # replay data/seed in real time, one message per reading",
    "bun apps/edge.ts --batch --speed 60                # batches, an hour of data per minute",
    "bun apps/edge.ts --source generator --sensors 10000 --duration 3600 --speed 0",
    "bun apps/edge.ts --source generator --sensors 5 --disorder --start now",
  ],
} satisfies CommandSpec<Record<string, Option<unknown>>>;

export type EdgeConfig = Values<typeof edgeCommand.options>;

async function main(c: EdgeConfig): Promise<void> {
  const logger = createLogger("edge");
  if (c.source === "csv" && (c.sensors !== undefined || c.rate !== undefined)) {
    throw new PipelineError("config", "--sensors and --rate apply to --source generator only", {
      hint: "the CSVs fix both; add --source generator",
    });
  }
  const streams = await buildSensorStreams({
    kind: c.source,
    csvDir: c.csvDir,
    sensors: c.sensors ?? 10,
    ratePerSecond: c.rate ?? 1,
    seed: c.seed,
    disorder: c.disorder,
    ...(c.start !== undefined ? { startMs: c.start } : {}),
    ...(c.duration > 0 ? { durationMs: c.duration * 1000 } : {}),
  });
  const agent = startAgent({
    mqttUrl: c.mqttUrl.href,
    mode: c.batch ? "batch" : "streaming",
    streams,
    speed: c.speed,
    topicPrefix: c.topicPrefix,
    qos: c.qos as 0 | 1 | 2,
    username: c.mqttUsername,
    password: c.mqttPassword,
    tls: await readMqttTls(c.mqttUrl, c),
    clientIdPrefix: c.clientIdPrefix,
    connections: c.connections,
    offlineQueue: c.offlineQueue,
    maxInFlight: c.maxInFlight,
    shutdownTimeoutMs: c.shutdownTimeout * 1000,
    batch: {
      intervalMs: Math.round(c.batchInterval * 1000),
      maxReadings: c.batchMaxReadings,
      maxBytes: c.batchMaxBytes,
      ...(c.batchGrace !== undefined ? { graceMs: Math.round(c.batchGrace * 1000) } : {}),
    },
    logger,
  });

  const registry = createRegistry();
  bindAgentMetrics(agent, registry);
  const ops = serveOps({
    service: "edge",
    registry,
    port: c.httpPort,
    hostname: c.httpHost,
    checks: { mqtt: () => agent.stats().connected > 0 },
    info: () => ({ mode: agent.stats().mode, sensors: agent.stats().sensors }),
  });
  logger.info(`health ${ops.url}/health, metrics ${ops.url}/metrics`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C means "now": skip waiting for in-flight publishes.
    if (++signals > 1) process.exit(130);
    logger.info(`${signal}: flushing and waiting for in-flight publishes (again to quit now)`);
    agent.stop().catch(() => {});
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const stopProgress = startProgress(agent.stats, { tty: process.stderr.isTTY === true, logger });
  try {
    const summary = await agent.done;
    stopProgress();
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    stopProgress();
    await ops.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) await runCommand(edgeCommand, main);
