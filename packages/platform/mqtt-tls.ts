/**
 * TLS material for MQTT clients (edge and core), read from the files MQTT_CA_FILE / MQTT_CERT_FILE /
 * MQTT_KEY_FILE name and checked up front: a missing file, a certificate without its key or TLS files with a
 * plain `mqtt://` URL is a config error naming the option, not a handshake failure minutes later.
 */
import { PipelineError } from "@energy/contracts/errors.ts";

export interface MqttTlsFiles {
  mqttCaFile?: string | undefined;
  mqttCertFile?: string | undefined;
  mqttKeyFile?: string | undefined;
}

/** What mqtt.js takes for TLS (it passes these to tls.connect); the broker's certificate is always verified. */
export interface MqttTls {
  ca?: string;
  cert?: string;
  key?: string;
}

const tlsProtocols = new Set(["mqtts:", "wss:"]);

const fail = (message: string, hint: string): never => {
  throw new PipelineError("config", message, { hint });
};

async function readPem(path: string, label: string, kind: RegExp): Promise<string> {
  const file = Bun.file(path);
  if (!(await file.exists())) fail(`${label} "${path}" does not exist`, "give the path of a PEM file");
  let text: string;
  try {
    text = await file.text();
  } catch (error) {
    return fail(`${label} "${path}" cannot be read: ${(error as Error).message}`, "check its permissions");
  }
  if (!kind.test(text))
    fail(`${label} "${path}" is not a PEM ${kind.source} file`, "expected -----BEGIN …-----");
  return text;
}

/**
 * Reads the TLS files for `url`; undefined when none is set (mqtts:// then verifies against the system CAs).
 *
 * @example
 * const tls = await readMqttTls(new URL("mqtts://broker:8883"), { mqttCaFile: "ca.pem" });
 * mqtt.connect(url.href, { ...tls });
 */
export async function readMqttTls(url: URL, files: MqttTlsFiles): Promise<MqttTls | undefined> {
  const { mqttCaFile, mqttCertFile, mqttKeyFile } = files;
  if (!mqttCaFile && !mqttCertFile && !mqttKeyFile) return undefined;
  if (!tlsProtocols.has(url.protocol)) {
    fail(
      `MQTT TLS files are set but the broker URL "${url.href}" is not TLS`,
      `use mqtts://host:8883 (or wss://), or unset MQTT_CA_FILE / MQTT_CERT_FILE / MQTT_KEY_FILE`,
    );
  }
  if (Boolean(mqttCertFile) !== Boolean(mqttKeyFile)) {
    fail(
      mqttCertFile
        ? "MQTT_CERT_FILE is set without MQTT_KEY_FILE"
        : "MQTT_KEY_FILE is set without MQTT_CERT_FILE",
      "a client certificate needs its private key: set both or neither",
    );
  }
  const tls: MqttTls = {};
  if (mqttCaFile) tls.ca = await readPem(mqttCaFile, "MQTT_CA_FILE (--mqtt-ca-file)", /CERTIFICATE/);
  if (mqttCertFile)
    tls.cert = await readPem(mqttCertFile, "MQTT_CERT_FILE (--mqtt-cert-file)", /CERTIFICATE/);
  if (mqttKeyFile) tls.key = await readPem(mqttKeyFile, "MQTT_KEY_FILE (--mqtt-key-file)", /PRIVATE KEY/);
  return tls;
}
