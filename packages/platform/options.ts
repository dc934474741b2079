/** Options several commands share, declared once so their env vars, defaults and checks cannot drift apart. */

import { defaultTopicPrefix } from "@energy/contracts/records.ts";
import { opt } from "./config.ts";

/** URL schemes mqtt.js connects with. */
export const mqttProtocols: readonly string[] = ["mqtt:", "mqtts:", "tcp:", "ws:", "wss:"];

export const defaultMqttUrl = "mqtt://127.0.0.1:1883";

/** `--mqtt-url` / MQTT_URL with the machine-local default broker. */
export const mqttUrlOption = (description: string) =>
  opt.url(description, { env: "MQTT_URL", default: defaultMqttUrl, protocols: mqttProtocols });

/**
 * How every MQTT client gets into the broker, the same flags and env vars for each: credentials, and the TLS
 * files for an `mqtts://` (or `wss://`) URL, which packages/platform/mqtt-tls.ts reads and checks.
 */
export const mqttAccessOptions = {
  mqttUsername: opt.string("MQTT user name", { env: "MQTT_USERNAME" }),
  mqttPassword: opt.string("MQTT password (prefer MQTT_PASSWORD_FILE: flags and env show in ps)", {
    env: "MQTT_PASSWORD",
  }),
  mqttCaFile: opt.string(
    "PEM file of the CA that signed the broker's certificate (mqtts://; default: system CAs)",
    {
      env: "MQTT_CA_FILE",
    },
  ),
  mqttCertFile: opt.string("PEM client certificate for brokers that require one (with --mqtt-key-file)", {
    env: "MQTT_CERT_FILE",
  }),
  mqttKeyFile: opt.string("PEM private key of --mqtt-cert-file", { env: "MQTT_KEY_FILE" }),
};

/** Topics are `{prefix}/{sensorId}/reading|batch`: one name for the edge that publishes and the core that reads. */
export const topicPrefixOption = (description: string) =>
  opt.string(description, { env: "TOPIC_PREFIX", default: defaultTopicPrefix });

/** `--http-host`: loopback by default; `0.0.0.0` in containers so Prometheus can scrape. */
export const httpHostOption = opt.string("address the /health, /ready and /metrics server binds", {
  env: "HTTP_HOST",
  default: "127.0.0.1",
});

/**
 * `--http-port` for /health, /ready and /metrics; each process has its own env var and default port, named
 * `{SERVICE}_HTTP_PORT` after the service name it gives serveOps (which names it when the port is taken).
 */
export const httpPortOption = (env: string, port: string) =>
  opt.int("port of /health, /ready and /metrics (0 = any free port)", {
    env,
    default: port,
    min: 0,
    max: 65_535,
  });

/** `--database-url` / DATABASE_URL: a PostgreSQL server. */
export const databaseUrlOption = (description: string) =>
  opt.url(description, { env: "DATABASE_URL", protocols: ["postgres:", "postgresql:"] });

/** `--pulsar-url` / PULSAR_URL: the Pulsar web service (admin REST + WebSocket API); unset = no Pulsar. */
export const pulsarUrlOption = (description: string) =>
  opt.url(description, { env: "PULSAR_URL", protocols: ["http:", "https:"] });

/** Where a process keeps its rows: a PostgreSQL server, or the embedded PGlite in a folder. */
export const databaseOptions = {
  databaseUrl: databaseUrlOption("PostgreSQL server; unset = embedded PGlite in --data-dir"),
  dataDir: opt.string("directory of the embedded PGlite database", {
    env: "DATA_DIR",
    default: "./data/pglite",
  }),
};
