/** The core's configuration: one declaration gives flags, env vars, defaults and `--help`. */
import { opt } from "../lib/config.ts";
import { httpPortOption, mqttUrlOption } from "../lib/options.ts";

export const coreOptions = {
  mqttUrl: mqttUrlOption("MQTT broker to subscribe to"),
  mqttProtocol: opt.choice(
    "MQTT protocol version (5 announces a large receive maximum; 4 for MQTT 3.1.1-only brokers)",
    ["5", "4"],
    {
      env: "MQTT_PROTOCOL",
      default: "5",
    },
  ),
  mqttClientId: opt.string(
    "MQTT client id; set = persistent session, so messages survive a core crash or restart (one id per core)",
    { env: "MQTT_CLIENT_ID" },
  ),
  mqttUsername: opt.string("MQTT username", { env: "MQTT_USERNAME" }),
  mqttPassword: opt.string("MQTT password", { env: "MQTT_PASSWORD" }),
  topicPrefix: opt.string("topic prefix: subscribes to {prefix}/+/reading and {prefix}/+/batch", {
    env: "TOPIC_PREFIX",
    default: "sensors",
  }),
  shareGroup: opt.string(
    'MQTT shared-subscription group so several cores split the load ("" = plain subscription)',
    {
      env: "CORE_SHARE_GROUP",
      default: "core",
    },
  ),
  databaseUrl: opt.url("PostgreSQL server; unset = embedded PGlite in --data-dir", {
    env: "DATABASE_URL",
    protocols: ["postgres:", "postgresql:"],
  }),
  pulsarUrl: opt.url("Pulsar web service (admin + WebSocket API); unset = in-process logs", {
    env: "PULSAR_URL",
    protocols: ["http:", "https:"],
  }),
  pulsarNamespace: opt.string("Pulsar tenant/namespace of the readings and windows topics", {
    env: "PULSAR_NAMESPACE",
    default: "public/default",
  }),
  pulsarPartitions: opt.int("partitions of the readings and windows topics", {
    env: "PULSAR_PARTITIONS",
    default: "4",
    min: 1,
    max: 256,
  }),
  pulsarReadingsPacking: {
    ...opt.boolean(
      "pack readings records bound for one partition into one Pulsar message (≤ 1000 records, 5 ms); --no-pulsar-readings-packing sends one message per record",
      { env: "PULSAR_READINGS_PACKING" },
    ),
    default: "true",
  },
  dataDir: opt.string("directory of the embedded PGlite database", {
    env: "DATA_DIR",
    default: "./data/pglite",
  }),
  allowedLateness: opt.number("allowed lateness, seconds: watermark = newest event time − this", {
    env: "ALLOWED_LATENESS_S",
    default: "5",
    min: 0,
    max: 3600,
  }),
  idleTimeout: opt.number("seconds without messages after which a sensor's open windows close", {
    env: "IDLE_TIMEOUT_S",
    default: "10",
    min: 0.01,
    max: 86_400,
  }),
  maxMessageBytes: opt.int("largest accepted MQTT message, bytes", {
    env: "MAX_MESSAGE_BYTES",
    default: "262144",
    min: 64,
  }),
  httpPort: httpPortOption("CORE_HTTP_PORT", "9102"),
  httpHost: opt.string("address the health/metrics server binds", { env: "HTTP_HOST", default: "127.0.0.1" }),
};
