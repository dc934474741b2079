/** `bun run bench pulsar` options and producer modes. */
import os from "node:os";
import path from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { opt, type Values } from "@energy/platform/config.ts";

export const allModes = ["unbatched", "batched", "packed"] as const;
export type Mode = (typeof allModes)[number];

const defaultPulsarHome = `${os.homedir()}/.cache/energy-pipeline/pulsar/apache-pulsar-4.0.8`;

export const spec = {
  name: "bun run bench pulsar",
  summary:
    "Throughput (msgs/s), publish latency (p50/p99) and CPU per message of our Pulsar producer and consumer\n" +
    "vs pulsar-perf, same standalone, same run. Needs a running Pulsar (bash scripts/pulsar.sh start).",
  options: {
    messages: opt.int("messages per test (default 100000, 20000 with --quick)", { min: 100 }),
    size: opt.int("message size in bytes", { default: "100", min: 1, max: 500_000 }),
    modes: opt.list(
      `producer modes, comma-separated: ${allModes.join(", ")}`,
      (raw, label) => {
        if (!(allModes as readonly string[]).includes(raw)) {
          throw new PipelineError("config", `${label} "${raw}" is not one of ${allModes.join(", ")}`);
        }
        return raw as Mode;
      },
      { default: allModes.join(",") },
    ),
    inFlight: opt.int("sends outstanding before a producer waits, both clients", { default: "1000", min: 1 }),
    quick: opt.boolean("~30-50 s preset: 20,000 messages, 30 s deadlines; leaves PULSAR.md alone"),
    pulsarUrl: opt.url("Pulsar web service (admin + WebSocket)", {
      env: "PULSAR_URL",
      default: "http://127.0.0.1:8080",
      protocols: ["http:", "https:"],
    }),
    brokerUrl: opt.url("binary protocol URL for pulsar-perf", {
      env: "PULSAR_BROKER_URL",
      default: "pulsar://127.0.0.1:6650",
      protocols: ["pulsar:"],
    }),
    namespace: opt.string("namespace for the bench topics (created if missing)", { default: "public/bench" }),
    pulsarHome: opt.string("Pulsar distribution holding bin/pulsar-perf", {
      env: "PULSAR_HOME",
      default: defaultPulsarHome,
    }),
    javaHome: opt.string("JDK for pulsar-perf (the one scripts/pulsar.sh runs the broker on)", {
      env: "PULSAR_JAVA_HOME",
      default: "/usr/lib/jvm/temurin-25-jdk-amd64",
    }),
    brokerPidFile: opt.string("pid file of the broker, for its CPU time (absent: not measured)", {
      default: `${path.dirname(defaultPulsarHome)}/run/pulsar.pid`,
    }),
    skipPerf: opt.boolean("measure our client only (no pulsar-perf)"),
    timeout: opt.int("deadline per test, seconds", { default: "60", min: 5 }),
    outDir: opt.string("where the JSON goes", { default: "bench/results" }),
    doc: opt.choice("rewrite the table in bench/PULSAR.md", ["auto", "always", "never"] as const, {
      default: "auto",
    }),
  },
  examples: [
    "bun run bench pulsar --quick",
    "bun run bench pulsar --modes unbatched,packed --in-flight 5000",
    "PULSAR_URL=http://127.0.0.1:8080 bun run bench pulsar --skip-perf",
  ],
};

export type Options = Values<typeof spec.options>;
