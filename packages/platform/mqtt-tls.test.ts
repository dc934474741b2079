/**
 * MQTT over TLS end to end: a throwaway CA (openssl) signs a broker and a client certificate, a Mosquitto of
 * this test's own listens with TLS on a free loopback port and requires client certificates, and the real
 * edge and core CLIs connect to it with --mqtt-ca-file / --mqtt-cert-file / --mqtt-key-file. Needs openssl and
 * mosquitto (Debian packages; CI has both): CI fails without them, a local run skips with one line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectPipelineError } from "@energy/testing/errors.ts";
import { freePort } from "@energy/testing/net.ts";
import { announceSkip, isCI } from "@energy/testing/servers.ts";
import mqtt from "mqtt";
import { readMqttTls } from "./mqtt-tls.ts";
import { parsePrometheus, sumMetric } from "./prom-text.ts";

const repo = join(import.meta.dir, "../..");
const openssl = Bun.which("openssl");
const mosquitto = Bun.which("mosquitto") ?? Bun.which("mosquitto", { PATH: "/usr/sbin:/usr/local/sbin" });
const missing = [!openssl && "openssl", !mosquitto && "mosquitto"].filter(Boolean).join(" and ");
if (missing && !isCI) announceSkip("MQTT TLS tests", `${missing} not installed (apt-get install ${missing})`);

const configError = async (p: Promise<unknown>): Promise<string> =>
  (await expectPipelineError(p, "config")).message;

describe("readMqttTls checks the files before any connection", () => {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-tls-unit-"));
  const pem = join(dir, "ca.pem");
  const key = join(dir, "key.pem");
  const junk = join(dir, "junk.pem");
  writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  writeFileSync(key, "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
  writeFileSync(junk, "\u0000\u0001 not a certificate");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tlsUrl = new URL("mqtts://127.0.0.1:8883");

  test("no files: undefined (mqtts:// then verifies against the system CAs)", async () => {
    expect(await readMqttTls(tlsUrl, {})).toBeUndefined();
    expect(await readMqttTls(new URL("mqtt://127.0.0.1:1883"), {})).toBeUndefined();
  });

  test("files with a plain mqtt:// URL are refused, naming the URL and the way out", async () => {
    const message = await configError(readMqttTls(new URL("mqtt://127.0.0.1:1883"), { mqttCaFile: pem }));
    expect(message).toContain('"mqtt://127.0.0.1:1883" is not TLS');
    expect(message).toContain("mqtts://");
  });

  test("a certificate without its key, or a key without its certificate, is refused", async () => {
    expect(await configError(readMqttTls(tlsUrl, { mqttCertFile: pem }))).toContain(
      "MQTT_CERT_FILE is set without MQTT_KEY_FILE",
    );
    expect(await configError(readMqttTls(tlsUrl, { mqttKeyFile: key }))).toContain(
      "MQTT_KEY_FILE is set without MQTT_CERT_FILE",
    );
  });

  test("a missing or non-PEM file is refused, naming it", async () => {
    const absent = join(dir, "no-such.pem");
    expect(await configError(readMqttTls(tlsUrl, { mqttCaFile: absent }))).toContain(
      `"${absent}" does not exist`,
    );
    expect(await configError(readMqttTls(tlsUrl, { mqttCaFile: junk }))).toContain("is not a PEM");
    expect(await configError(readMqttTls(tlsUrl, { mqttCertFile: pem, mqttKeyFile: pem }))).toContain(
      "MQTT_KEY_FILE",
    );
  });

  test("valid files come back as PEM text for mqtt.js", async () => {
    expect(await readMqttTls(tlsUrl, { mqttCaFile: pem, mqttCertFile: pem, mqttKeyFile: key })).toEqual({
      ca: await Bun.file(pem).text(),
      cert: await Bun.file(pem).text(),
      key: await Bun.file(key).text(),
    });
  });
});

/** Runs openssl, failing with its output. */
function ssl(args: string[], cwd: string): void {
  const run = Bun.spawnSync([openssl!, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${run.stderr.toString()}`);
}

/** A CA, and certificates it signs (with a subjectAltName so the name check passes for 127.0.0.1). */
function makePki(dir: string) {
  const ca = (name: string) => {
    ssl(
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
      ],
      dir,
    );
  };
  const leaf = (name: string, signer: string, san: string) => {
    ssl(
      [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
      ],
      dir,
    );
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    ssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        `${signer}.pem`,
        "-CAkey",
        `${signer}.key`,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.pem`,
      ],
      dir,
    );
  };
  ca("ca");
  ca("rogue-ca");
  leaf("broker", "ca", "IP:127.0.0.1,DNS:localhost");
  leaf("client", "ca", "DNS:edge");
  return (name: string) => join(dir, name);
}

async function output(proc: Bun.Subprocess<"ignore", "pipe", "pipe">) {
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

describe.skipIf(Boolean(missing) && !isCI)("edge and core over mqtts:// with a client certificate", () => {
  let dir = "";
  let file: (name: string) => string = (n) => n;
  let broker: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
  let url = "";

  beforeAll(async () => {
    if (missing) throw new Error(`CI: ${missing} is required for the MQTT TLS tests`);
    dir = mkdtempSync(join(tmpdir(), "mqtt-tls-"));
    file = makePki(dir);
    const port = freePort();
    url = `mqtts://127.0.0.1:${port}`;
    writeFileSync(
      file("mosquitto.conf"),
      [
        // Run as root (as in CI's container), mosquitto drops to user `mosquitto`, which cannot read this
        // test's private directory: stay root. Run as anyone else, it keeps that user anyway.
        ...(process.getuid?.() === 0 ? ["user root"] : []),
        "persistence false",
        "log_dest stderr",
        `listener ${port} 127.0.0.1`,
        `cafile ${file("ca.pem")}`,
        `certfile ${file("broker.pem")}`,
        `keyfile ${file("broker.key")}`,
        "require_certificate true",
        "allow_anonymous true",
        "",
      ].join("\n"),
    );
    broker = Bun.spawn([mosquitto!, "-c", file("mosquitto.conf")], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const open = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })
        .then((s) => {
          s.end();
          return true;
        })
        .catch(() => false);
      if (open) break;
      if (Date.now() > deadline || broker.exitCode !== null) {
        broker.kill();
        throw new Error(`mosquitto did not listen on ${port}: ${await new Response(broker.stderr).text()}`);
      }
      await Bun.sleep(100);
    }
  }, 60_000);

  afterAll(async () => {
    broker?.kill();
    await broker?.exited;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (files: Parameters<typeof readMqttTls>[1]) => {
    const tls = await readMqttTls(new URL(url), files);
    return mqtt.connectAsync(url, { ...tls, connectTimeout: 5_000, reconnectPeriod: 0 });
  };

  test("the broker is strict: a rogue CA and a missing client certificate are both refused", async () => {
    // Without these, the passing case below would prove nothing about TLS.
    const rogue = await connect({
      mqttCaFile: file("rogue-ca.pem"),
      mqttCertFile: file("client.pem"),
      mqttKeyFile: file("client.key"),
    }).catch((e: Error) => e);
    expect(rogue).toBeInstanceOf(Error);
    expect(String((rogue as Error).message)).toMatch(/certificate|self.signed/i);
    const anonymous = await connect({ mqttCaFile: file("ca.pem") }).catch((e: Error) => e);
    expect(anonymous).toBeInstanceOf(Error);
    const ok = await connect({
      mqttCaFile: file("ca.pem"),
      mqttCertFile: file("client.pem"),
      mqttKeyFile: file("client.key"),
    });
    expect(ok.connected).toBe(true);
    await ok.endAsync();
  }, 30_000);

  test("the edge publishes and the core receives through the TLS listener", async () => {
    const tlsArgs = [
      "--mqtt-url",
      url,
      "--mqtt-ca-file",
      file("ca.pem"),
      "--mqtt-cert-file",
      file("client.pem"),
      "--mqtt-key-file",
      file("client.key"),
      "--topic-prefix",
      `tls-${process.pid}`,
    ];
    const env = { ...process.env, LOG_LEVEL: "info", PULSAR_URL: "", DATABASE_URL: "" };
    const core = Bun.spawn(
      [
        "bun",
        "apps/core.ts",
        ...tlsArgs,
        "--no-forecast",
        "--data-dir",
        "memory://",
        "--http-port",
        "0",
        "--idle-timeout",
        "1",
      ],
      { cwd: repo, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    try {
      // The core logs its health URL once MQTT is subscribed and the database open.
      let log = "";
      const reader = core.stderr.getReader();
      const decoder = new TextDecoder();
      const deadline = Date.now() + 60_000;
      let healthUrl: string | undefined;
      while (!healthUrl && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        log += decoder.decode(value, { stream: true });
        healthUrl = /health (http:\/\/\S+)\/health/.exec(log)?.[1];
      }
      expect(healthUrl, log).toBeDefined();
      void (async () => {
        for (;;) if ((await reader.read()).done) break;
      })();
      const ready = async () =>
        (await (await fetch(`${healthUrl}/ready`)).json()) as { dependencies: Record<string, string> };
      const until = Date.now() + 20_000;
      while ((await ready()).dependencies.mqtt !== "up" && Date.now() < until) await Bun.sleep(200);
      expect((await ready()).dependencies.mqtt).toBe("up");

      const edge = await output(
        Bun.spawn(
          [
            "bun",
            "apps/edge.ts",
            ...tlsArgs,
            "--source",
            "generator",
            "--sensors",
            "3",
            "--duration",
            "120",
            "--speed",
            "0",
            "--start",
            "now",
            "--http-port",
            "0",
          ],
          { cwd: repo, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
        ),
      );
      expect({ code: edge.code, stderr: edge.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      const summary = JSON.parse(edge.stdout.trim().split("\n").at(-1)!) as { readingsSent: number };
      expect(summary.readingsSent).toBe(360);

      const readings = async () => {
        const text = await (await fetch(`${healthUrl}/metrics`)).text();
        return sumMetric(parsePrometheus(text), "core_readings_total");
      };
      const received = Date.now() + 20_000;
      while ((await readings()) < 360 && Date.now() < received) await Bun.sleep(200);
      expect(await readings()).toBe(360);
    } finally {
      core.kill("SIGTERM");
      await core.exited;
    }
  }, 120_000);
});
