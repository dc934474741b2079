import { expect, test } from "bun:test";
import { join } from "node:path";

const cli = join(import.meta.dir, "edge.ts");

async function run(...args: string[]) {
  const proc = Bun.spawn(["bun", cli, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

test("--batch --help prints usage with every flag and its env var", async () => {
  const { stdout, code } = await run("--batch", "--help");
  expect(code).toBe(0);
  expect(stdout).toStartWith("Usage: edge [options]");
  for (const flag of [
    "--mqtt-url",
    "--batch",
    "--source",
    "--csv-dir",
    "--sensors",
    "--rate",
    "--speed",
    "--duration",
    "--start",
    "--seed",
    "--disorder",
    "--topic-prefix",
    "--qos",
    "--mqtt-username",
    "--mqtt-password",
    "--mqtt-ca-file",
    "--mqtt-cert-file",
    "--mqtt-key-file",
    "--batch-interval",
    "--batch-max-readings",
    "--batch-max-bytes",
    "--connections",
    "--offline-queue",
  ]) {
    expect(stdout).toContain(flag);
  }
  expect(stdout).toContain("env MQTT_URL, default mqtt://127.0.0.1:1883");
  expect(stdout).toContain("env MQTT_USERNAME");
  expect(stdout).toContain("env EDGE_BATCH");
});

test("a bad value exits 2 with a message naming it", async () => {
  const { stderr, code } = await run("--qos", "3");
  expect(code).toBe(2);
  expect(stderr).toContain("--qos 3 is above the maximum 2");
});

test("--sensors with the CSV source is refused with the way out (a usage error: exit 2)", async () => {
  const { stderr, code } = await run("--sensors", "5");
  expect(code).toBe(2);
  expect(stderr).toContain("--source generator");
});
