/**
 * The windows topic's promise to other languages: a Java Pulsar consumer that knows nothing of our code reads
 * our Avro windows with an Avro schema of its own, here the one fetched from Pulsar's schema registry. The
 * Java side is `java/ReadWindows.java` on the official Java client (binary protocol) from the Pulsar
 * distribution's jars, run in single-file source mode (no build step).
 *
 * Why not `pulsar-client consume --schema-type auto_consume`: messages produced through the WebSocket API carry
 * no schema version, so AUTO_CONSUME falls back to raw bytes (tried: it printed the Avro bytes as a string). A
 * consumer with an explicit Avro schema, as the issue asks, decodes them.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import type { WindowRecord } from "@energy/contracts/records.ts";
import { createLogger } from "@energy/platform/log.ts";
import { sampleWindow } from "@energy/testing/fixtures.ts";
import { collectDeadLetters } from "@energy/testing/log-contract.ts";
import { pulsarForTests } from "@energy/testing/pulsar.ts";
import { announceSkip } from "@energy/testing/servers.ts";
import type { RecordLog } from "./log.ts";
import { openWindowsTopic } from "./topics.ts";

/** The distribution scripts/pulsar.sh unpacked (any version), and a JDK it runs on. */
function pulsarDistribution(): { home: string; javaHome: string | undefined } | undefined {
  const cache = process.env.PULSAR_CACHE_DIR ?? `${os.homedir()}/.cache/energy-pipeline/pulsar`;
  if (!existsSync(cache)) return undefined;
  const dist = readdirSync(cache)
    .filter((d) => d.startsWith("apache-pulsar-") && existsSync(`${cache}/${d}/bin/pulsar-client`))
    .sort()
    .pop();
  if (!dist) return undefined;
  // Single-file source mode needs Java ≥ 11; the jars of Pulsar 4 need ≥ 21.
  const jvms = existsSync("/usr/lib/jvm") ? readdirSync("/usr/lib/jvm") : [];
  // Pulsar 4 needs Java ≥ 21; the machine's default java is 17, so prefer the Temurin JDK the broker runs on.
  const temurin = jvms.filter((d) => /^temurin-(2[1-9]|[3-9]\d)/.test(d)).sort();
  const javaHome =
    process.env.PULSAR_JAVA_HOME ?? (temurin.length ? `/usr/lib/jvm/${temurin.at(-1)}` : undefined);
  return { home: `${cache}/${dist}`, javaHome };
}

const pulsar = await pulsarForTests();
const dist = pulsarDistribution();
if (pulsar && !dist) {
  const message =
    "no Pulsar distribution under ~/.cache/energy-pipeline/pulsar (bash scripts/pulsar.sh start)";
  if (process.env.CI) throw new Error(`CI: ${message}`);
  announceSkip("Java consumer test", message);
}

describe.skipIf(!pulsar || !dist)("windows topic read by a Java consumer", () => {
  let log: RecordLog<WindowRecord> | undefined;
  let topic: string | undefined;

  afterAll(async () => {
    await log?.close();
    if (topic) await pulsar!.admin.deleteTopic(topic).catch(() => {});
  });

  test("the official Java client decodes our Avro windows with the schema from the registry", async () => {
    // A namespace of its own per run keeps the topic fresh: the Java consumer reads from the earliest entry.
    const ns = `${pulsar!.namespace}-java-${Date.now().toString(36)}`;
    await pulsar!.admin.ensureNamespace(ns);
    topic = `persistent://${ns}/windows`;
    log = await openWindowsTopic({
      url: new URL(pulsar!.url),
      namespace: ns,
      partitions: 1,
      deadLetters: collectDeadLetters(),
      logger: createLogger("test", "warn"),
    });
    const start = Date.UTC(2025, 11, 8, 10, 0, 0);
    const windows = [sampleWindow(41, start), sampleWindow(42, start + 60_000)];
    await log.publish(windows.map((w) => ({ key: String(w.sensorId), value: w })));

    const stored = await pulsar!.admin.getSchema(`persistent://${ns}/windows`);
    expect(stored?.type).toBe("AVRO");
    const dir = mkdtempSync(`${os.tmpdir()}/java-consumer-`);
    const schemaFile = `${dir}/schema.json`;
    writeFileSync(schemaFile, stored!.schema);

    const java = dist!.javaHome ? `${dist!.javaHome}/bin/java` : "java";
    const source = new URL("./java/ReadWindows.java", import.meta.url).pathname;
    const proc = Bun.spawn(
      [
        java,
        "-cp",
        `${dist!.home}/lib/*`,
        source,
        "pulsar://127.0.0.1:6650",
        `persistent://${ns}/windows`,
        schemaFile,
        String(windows.length),
        "java-check",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const timer = setTimeout(() => proc.kill(), 90_000);
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
    expect(code, err.slice(-3000)).toBe(0);
    const lines = out.split("\n").filter((l) => l.startsWith("WINDOW "));
    expect(lines).toEqual(
      windows.map(
        (w) =>
          `WINDOW key=${w.sensorId} sensor_id=${w.sensorId} count=${w.count} mean=${w.mean} window_start=${w.windowStartMs}`,
      ),
    );
  }, 120_000);
});
