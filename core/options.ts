/** The core's configuration: one declaration gives flags, env vars, defaults and `--help`. */
import { opt } from "@energy/platform/config.ts";
import {
  databaseOptions,
  httpHostOption,
  httpPortOption,
  mqttAccessOptions,
  mqttUrlOption,
  pulsarUrlOption,
  topicPrefixOption,
} from "@energy/platform/options.ts";

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
  ...mqttAccessOptions,
  topicPrefix: topicPrefixOption("topic prefix: subscribes to {prefix}/+/reading and {prefix}/+/batch"),
  shareGroup: opt.string(
    'MQTT shared-subscription group so several cores split the load ("" = plain subscription)',
    {
      env: "CORE_SHARE_GROUP",
      default: "core",
    },
  ),
  databaseUrl: databaseOptions.databaseUrl,
  pulsarUrl: pulsarUrlOption("Pulsar web service (admin + WebSocket API); unset = in-process logs"),
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
  dataDir: databaseOptions.dataDir,
  allowedLateness: opt.number("allowed lateness, seconds: watermark = newest event time − this", {
    env: "ALLOWED_LATENESS_S",
    default: "5",
    min: 0,
    max: 3600,
  }),
  idleTimeout: opt.number(
    "seconds a sensor may be silent while the input is up (MQTT and readings log connected) before its windows are emitted; later readings update them",
    {
      env: "IDLE_TIMEOUT_S",
      default: "10",
      min: 0.01,
      max: 86_400,
    },
  ),
  sensorEvictAfter: opt.number(
    "seconds a sensor may be silent (counted as for --idle-timeout) before its windower state is dropped (bounds memory)",
    {
      env: "SENSOR_EVICT_AFTER_S",
      default: "300",
      min: 0.01,
      max: 604_800,
    },
  ),
  maxSensors: opt.int(
    "most sensors the windower tracks; readings of further ones are rejected (too_many_sensors)",
    {
      env: "MAX_SENSORS",
      default: "100000",
      min: 1,
      max: 100_000_000,
    },
  ),
  maxMessageBytes: opt.int("largest accepted MQTT message, bytes", {
    env: "MAX_MESSAGE_BYTES",
    default: "262144",
    min: 64,
  }),
  maxEventAge: opt.number(
    "oldest accepted event time (and complete-batch interval), seconds before the receive time; generous so replays of the study's 2025 data pass",
    { env: "MAX_EVENT_AGE_S", default: String(10 * 365 * 86_400), min: 1 },
  ),
  maxClockSkew: opt.number(
    "latest accepted event time, seconds after the receive time (a sensor clock ahead by more is rejected, so it cannot move a watermark into the future)",
    { env: "MAX_CLOCK_SKEW_S", default: "300", min: 0, max: 31_536_000 },
  ),
  valueMin: opt.number(
    "smallest plausible reading, watts (apparent power is never negative; lower it for meters that report export as negative)",
    { env: "VALUE_MIN_W", default: "0" },
  ),
  valueMax: opt.number("largest plausible reading, watts; outside the range is rejected (out_of_range)", {
    env: "VALUE_MAX_W",
    default: "1000000",
  }),
  storeStuckAfter: opt.number(
    "a database writer whose oldest unwritten row waited this long, seconds, makes /ready false",
    { env: "STORE_STUCK_AFTER_S", default: "30", min: 1 },
  ),
  shutdownTimeout: opt.number(
    "longest graceful shutdown, seconds; beyond it the core logs what it could not write and exits 1",
    { env: "SHUTDOWN_TIMEOUT_S", default: "10", min: 0.1, max: 3_600 },
  ),
  maxBufferedReadings: opt.int(
    "readings the bridge holds while the readings log is down or slow (a batch message counts each of its readings); when full it stops taking MQTT messages (the broker keeps them)",
    { env: "BRIDGE_MAX_BUFFERED", default: "50000", min: 100 },
  ),
  memoryBudget: opt.int(
    "memory, MB, the JavaScript engine sizes its heap for, as a container limit would (not a hard cap: above it the engine collects more often); 0 = the machine's RAM",
    { env: "CORE_MEMORY_MB", default: "256", min: 0, max: 1_048_576 },
  ),
  httpPort: httpPortOption("CORE_HTTP_PORT", "9102"),
  httpHost: httpHostOption,
};
