/**
 * `bun run bench pulsar-log`: the core's readings log on Pulsar (packages/logs/pulsar-log.ts with the readings
 * codec), as the bridge and the windower use it, packed (the default) vs one Pulsar message per record.
 * One record = one streaming reading (architecture A) of one of `--sensors` keys; publishes go out in
 * batches of `--batch` records, `--concurrency` at once (the bridge publishes what arrived in 20 ms
 * without waiting for the previous batch), a subscription acks every record. Measured per variant: records/s from the first publish to the last record received,
 * and CPU µs per record of this process and of the broker JVM (its WebSocket proxy does the per-message
 * work). This isolates the log: the full pipeline is `bench ab --pulsar-url`.
 *
 * @example
 * bun run bench pulsar-log --records 100000 --sensors 10000
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { ReadingsRecord } from "@energy/contracts/records.ts";
import { createPulsarLog } from "@energy/logs/pulsar-log.ts";
import { readingsCodec } from "@energy/logs/readings-codec.ts";
import { commandMain, opt, type Values } from "@energy/platform/config.ts";
import { PulsarAdmin } from "@energy/pulsar/admin.ts";
import { defaultPacking } from "@energy/pulsar/producer.ts";
import { machineInfo } from "./lib/machine.ts";
import { cpuMeter, readPidFile } from "./lib/procstat.ts";
import { round } from "./lib/stats.ts";

const spec = {
  name: "bun run bench pulsar-log",
  summary:
    "The core's readings log on Pulsar, packed per partition vs one message per record: records/s and\n" +
    "CPU µs per record (client and broker). Needs a running Pulsar (bash scripts/pulsar.sh start).",
  options: {
    records: opt.int("records per variant", { default: "100000", min: 1000 }),
    sensors: opt.int("distinct keys (sensor ids)", { default: "10000", min: 1 }),
    partitions: opt.int("partitions of the topic", { default: "4", min: 1, max: 64 }),
    batch: opt.int("records per publish (the bridge's 20 ms batch)", { default: "200", min: 1 }),
    concurrency: opt.int("publishes outstanding at once", { default: "10", min: 1 }),
    variants: opt.list(
      "packed, unpacked",
      (raw) => {
        if (raw !== "packed" && raw !== "unpacked")
          throw new PipelineError("config", `variant "${raw}" is not packed or unpacked`);
        return raw;
      },
      { default: "packed,unpacked" },
    ),
    timeout: opt.int("deadline per variant, seconds", { default: "300", min: 5 }),
    pulsarUrl: opt.url("Pulsar web service", {
      env: "PULSAR_URL",
      default: "http://127.0.0.1:8080",
      protocols: ["http:", "https:"],
    }),
    namespace: opt.string("namespace for the bench topics", { default: "public/bench" }),
    brokerPidFile: opt.string("pid file of the broker, for its CPU time", {
      default: `${os.homedir()}/.cache/energy-pipeline/pulsar/run/pulsar.pid`,
    }),
    outDir: opt.string("where the JSON goes", { default: "bench/results" }),
  },
};

type Options = Values<typeof spec.options>;

interface VariantResult {
  variant: string;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  pulsarMessages: number;
  cpuUsPerRecord: { client: number; broker?: number };
}

async function runVariant(o: Options, variant: string, pid: number | undefined): Promise<VariantResult> {
  const topic = `persistent://${o.namespace}/bench-log-${variant}-${Date.now().toString(36)}`;
  const undecodable: string[] = [];
  const log = await createPulsarLog<ReadingsRecord>({
    name: "readings",
    topic,
    url: o.pulsarUrl.href,
    partitions: o.partitions,
    codec: readingsCodec,
    packing: variant === "packed" ? defaultPacking : false,
    // The bench writes every record itself: one the codec rejects is a bug, and fails the run.
    deadLetters: {
      put: (letter) => {
        undecodable.push(letter.detail);
      },
    },
  });
  const admin = new PulsarAdmin({ url: o.pulsarUrl.href });
  let received = 0;
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  const sub = log.subscribe("windower", async (batch) => {
    for (const m of batch) m.ack();
    received += batch.length;
    if (received >= o.records) allIn();
  });
  await Bun.sleep(1_000); // the subscription is connected before the clock starts
  const cpu = cpuMeter(pid, 1);
  const t0 = performance.now();
  const now = Date.now();
  // Publishes overlap as the bridge's do (it does not wait for one batch's acks before sending the next);
  // the log's send window (maxInFlight records) is the backpressure.
  const outstanding = new Set<Promise<void>>();
  for (let sent = 0; sent < o.records; ) {
    const n = Math.min(o.batch, o.records - sent);
    const records = Array.from({ length: n }, (_, i) => {
      const sensorId = ((sent + i) % o.sensors) + 1;
      const eventTimeMs = now + Math.floor((sent + i) / o.sensors) * 1000;
      return {
        key: String(sensorId),
        value: {
          sensorId,
          readings: [{ sensorId, eventTimeMs, value: 100 + ((sent + i) % 97), createdAtMs: now }],
        },
      };
    });
    const p = log.publish(records).finally(() => outstanding.delete(p));
    outstanding.add(p);
    if (outstanding.size >= o.concurrency) await Promise.race(outstanding);
    sent += n;
  }
  await Promise.all(outstanding);
  const timer = setTimeout(() => allIn(), o.timeout * 1000);
  await done;
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const cpuUsPerRecord = cpu.perMessage(o.records);
  await sub.stop();
  await log.close();
  const stats = (await (
    await fetch(
      `${o.pulsarUrl.href.replace(/\/$/, "")}/admin/v2/persistent/${o.namespace}/${topic.split("/").pop()}/partitioned-stats`,
    )
  ).json()) as { msgInCounter?: number };
  await admin.deleteTopic(topic).catch(() => {});
  if (undecodable.length > 0)
    throw new PipelineError(
      "internal",
      `${variant}: ${undecodable.length} records came back undecodable, e.g. ${undecodable[0]}`,
    );
  if (received < o.records)
    throw new PipelineError(
      "timeout",
      `${variant}: ${received} of ${o.records} records within ${o.timeout} s`,
    );
  return {
    variant,
    records: o.records,
    seconds: round(seconds, 1),
    recordsPerSecond: Math.round(o.records / seconds),
    pulsarMessages: stats.msgInCounter ?? -1,
    cpuUsPerRecord,
  };
}

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

async function run(o: Options): Promise<number> {
  const pid = readPidFile(o.brokerPidFile);
  await new PulsarAdmin({ url: o.pulsarUrl.href }).ensureNamespace(o.namespace);
  const machine = machineInfo();
  const results: VariantResult[] = [];
  for (const variant of o.variants ?? ["packed", "unpacked"]) {
    const r = await runVariant(o, variant, pid);
    console.error(
      `[bench pulsar-log] ${variant}: ${r.recordsPerSecond} records/s, ${r.pulsarMessages} Pulsar messages, CPU µs/record client ${r.cpuUsPerRecord.client} broker ${r.cpuUsPerRecord.broker ?? "?"}`,
    );
    results.push(r);
  }
  const load = os.loadavg()[0]!.toFixed(2);
  const file = path.join(o.outDir, `${new Date().toISOString().slice(0, 10)}-pulsar-log.json`);
  await mkdir(o.outDir, { recursive: true });
  await writeFile(
    file,
    `${JSON.stringify({ machine, loadAverage1mAfter: Number(load), options: { ...o, pulsarUrl: o.pulsarUrl.href }, results }, null, 2)}\n`,
  );
  console.error(`[bench pulsar-log] wrote ${file}`);
  return 0;
}
