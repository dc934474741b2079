/** Options several commands share, declared once so their env vars, defaults and checks cannot drift apart. */
import { opt } from "./config.ts";

/** URL schemes mqtt.js connects with. */
export const mqttProtocols: readonly string[] = ["mqtt:", "mqtts:", "tcp:", "ws:", "wss:"];

export const defaultMqttUrl = "mqtt://127.0.0.1:1883";

/** `--mqtt-url` / MQTT_URL with the machine-local default broker. */
export const mqttUrlOption = (description: string) =>
  opt.url(description, { env: "MQTT_URL", default: defaultMqttUrl, protocols: mqttProtocols });

/** `--http-port` for /health, /ready and /metrics; each process has its own env var and default port. */
export const httpPortOption = (env: string, port: string) =>
  opt.int("port of /health, /ready and /metrics (0 = any free port)", {
    env,
    default: port,
    min: 0,
    max: 65_535,
  });
