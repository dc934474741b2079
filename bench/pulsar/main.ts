/**
 * `bun run bench pulsar`: our TypeScript Pulsar client (WebSocket API) against Pulsar's own `pulsar-perf`
 * (Java client, binary protocol on 6650), side by side in one run, on the same standalone, fresh topics.
 *
 * Measured, in this order, so each pair meets the broker in the same state:
 * 1. produce, per mode: our `PulsarProducer`, then `pulsar-perf produce`. Modes: `unbatched`, `batched`
 *    (the broker-side WebSocket producer batches / pulsar-perf batches, both 1 ms or 1000 messages) and
 *    `packed` (our client-side packing, many records per WebSocket frame; no pulsar-perf run of its own:
 *    it is compared with pulsar-perf's batched figure, the nearest thing). msgs/s from connected to the
 *    last ack; latency from the moment a message is due (before waiting for an in-flight slot, as
 *    pulsar-perf stamps it before its blocking `sendAsync`) to its ack.
 * 2. consume: our `PulsarConsumer` and `pulsar-perf consume` as two subscriptions on one pre-filled topic
 *    (the one our batched producer wrote: identical entries for both), acking every message; then ours
 *    on the packed topic.
 * Both clients get the same in-flight window (`-o` / `maxInFlight`) and receiver queue (1000). Each test
 * also records CPU µs per message of the client process and of the broker JVM (which runs the WebSocket
 * proxy), the figure to look at on a shared machine where msgs/s swings with other load.
 *
 * Modules: options.ts (flags), ours.ts and perf.ts (the two clients' tests), report.ts (Markdown),
 * admin.ts (Pulsar REST calls); this one orders the tests and writes the results.
 *
 * @example
 * bun run bench pulsar --quick
 * bun run bench pulsar --messages 200000 --modes unbatched --in-flight 5000
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { commandMain } from "@energy/platform/config.ts";
import { PulsarAdmin } from "@energy/pulsar/admin.ts";
import { type MachineInfo, machineInfo } from "../lib/machine.ts";
import { readPidFile } from "../lib/procstat.ts";
import { brokerVersion, setRetention } from "./admin.ts";
import type { BenchRun, MeasureContext } from "./measure.ts";
import { allModes, type Mode, type Options, spec } from "./options.ts";
import { measureOurConsumer, measureOurProducer } from "./ours.ts";
import { measurePerfConsumer, measurePerfProducer } from "./perf.ts";
import { describeRun, markdownTable, ratios, updateDoc } from "./report.ts";

const progress = (text: string) => process.stderr.write(`[bench pulsar] ${text}\n`);

export function main(argv: string[]): Promise<number> {
  return commandMain(spec, argv, run);
}

/** What one run measures: resolved from the options and presets. */
interface Plan {
  messages: number;
  size: number;
  modes: Mode[];
  skipPerf: boolean;
}

async function run(o: Options): Promise<number> {
  const plan: Plan = {
    messages: o.messages ?? (o.quick ? 20_000 : 100_000),
    size: o.size,
    modes: allModes.filter((m) => (o.modes ?? allModes).includes(m)),
    skipPerf: o.skipPerf,
  };
  if (plan.modes.length === 0) throw new PipelineError("config", "--modes names no mode");
  const url = o.pulsarUrl.origin;
  const ctx: MeasureContext = {
    url,
    brokerPid: readPidFile(o.brokerPidFile),
    inFlight: o.inFlight,
    timeoutMs: (o.quick ? Math.min(o.timeout, 30) : o.timeout) * 1000,
    perf: { home: o.pulsarHome, javaHome: o.javaHome, broker: o.brokerUrl.href, web: url },
  };
  const admin = new PulsarAdmin({ url, timeoutMs: 10_000 });
  await admin.listClusters(); // a connection PipelineError here names the URL and how to start Pulsar
  await admin.ensureNamespace(o.namespace);
  await setRetention(url, o.namespace);
  const pulsarVersion = await brokerVersion(url);
  const startedAt = new Date();
  const machine = machineInfo();
  progress(
    `Pulsar ${pulsarVersion} at ${url}; ${plan.messages} × ${o.size} B, in-flight ${o.inFlight}, modes ${plan.modes.join(",")}, load ${machine.loadAverage1m}`,
  );

  const topics = freshTopics(admin, o.namespace);
  let runs: BenchRun[];
  try {
    runs = await measureAll(ctx, plan, topics.fresh);
  } finally {
    await topics.deleteAll();
  }

  const result = {
    date: startedAt.toISOString(),
    preset: o.quick ? "quick" : "default",
    options: {
      messages: plan.messages,
      size: o.size,
      inFlight: o.inFlight,
      modes: plan.modes,
      timeoutMs: ctx.timeoutMs,
    },
    machine: { ...machine, loadAverage1mAfter: machineInfo().loadAverage1m },
    pulsar: { version: pulsarVersion, webUrl: url, brokerUrl: o.brokerUrl.href, namespace: o.namespace },
    runs,
    ratios: ratios(runs),
  };
  await writeResults(o, result);
  return runs.some((r) => r.error) ? 1 : 0;
}

/** Topics of this run alone, created on demand and deleted at the end (best effort). */
function freshTopics(admin: PulsarAdmin, namespace: string) {
  const id = Date.now().toString(36);
  const created: string[] = [];
  return {
    fresh: async (name: string): Promise<string> => {
      const topic = `persistent://${namespace}/bench-${id}-${name}`;
      await admin.ensureTopic(topic);
      created.push(topic);
      return topic;
    },
    deleteAll: async (): Promise<void> => {
      for (const topic of created) {
        await admin
          .deleteTopic(topic)
          .catch((error) => progress(`could not delete ${topic}: ${errorMessage(error)}`));
      }
    },
  };
}

/** Every test in the order the module comment gives, each reported as it ends. */
async function measureAll(
  ctx: MeasureContext,
  plan: Plan,
  fresh: (name: string) => Promise<string>,
): Promise<BenchRun[]> {
  const { messages, modes } = plan;
  const payload = crypto.getRandomValues(new Uint8Array(plan.size));
  const runs: BenchRun[] = [];
  const record = (r: BenchRun) => {
    runs.push(r);
    progress(describeRun(r));
  };
  // Warms the broker's WebSocket proxy path and Bun's JIT, so the first measured test does not pay it.
  progress("warm-up: 5,000 messages through our producer (not measured)");
  await measureOurProducer(ctx, await fresh("warmup"), Math.min(5_000, messages), payload, "batched");
  const filled = new Map<Mode, string>();
  for (const mode of modes) {
    const ours = await fresh(`ours-${mode}`);
    progress(`ours produce ${mode} → ${ours}`);
    const r = await measureOurProducer(ctx, ours, messages, payload, mode);
    record(r);
    if (!r.error) filled.set(mode, ours);
    if (!plan.skipPerf && mode !== "packed") {
      const theirs = await fresh(`perf-${mode}`);
      progress(`pulsar-perf produce ${mode} → ${theirs}`);
      record(await measurePerfProducer(ctx, theirs, messages, plan.size, mode));
    }
  }
  // pulsar-perf reads a topic with Pulsar's own messages (not our packed ones): the batched topic if
  // there is one, so both consumers read identical entries through two subscriptions.
  const shared = (["batched", "unbatched"] as const).find((m) => filled.has(m));
  if (shared) {
    const topic = filled.get(shared)!;
    progress(`ours consume ← ${topic}`);
    record(await measureOurConsumer(ctx, topic, messages, shared));
    if (!plan.skipPerf) {
      progress(`pulsar-perf consume ← ${topic}`);
      record(await measurePerfConsumer(ctx, topic, messages, shared));
    }
  }
  const packed = filled.get("packed");
  if (packed) {
    progress(`ours consume ← ${packed}`);
    record(await measureOurConsumer(ctx, packed, messages, "packed"));
  }
  return runs;
}

interface Result {
  date: string;
  preset: string;
  options: { messages: number; size: number; inFlight: number };
  machine: MachineInfo & { loadAverage1mAfter: number };
  pulsar: { version: string };
  runs: BenchRun[];
}

/** The JSON file, the table on stdout and, for a full run with pulsar-perf, the table in PULSAR.md. */
async function writeResults(o: Options, result: Result): Promise<void> {
  const day = result.date.slice(0, 10);
  const variant = o.quick ? "-quick" : "";
  const file = path.join(o.outDir, `${day}-pulsar${variant}.json`);
  await mkdir(o.outDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  const table = markdownTable(result.runs);
  const m = result.machine;
  const { messages, size, inFlight } = result.options;
  const caption =
    `${result.date.slice(0, 16).replace("T", " ")} UTC, ${result.preset} preset, ${messages} × ${size} B per test, ` +
    `in-flight ${inFlight}; ${m.cpuModel}, ${m.cores} cores, load ${m.loadAverage1m} → ${m.loadAverage1mAfter}; ` +
    `Bun ${m.bun}, Pulsar ${result.pulsar.version} standalone`;
  process.stdout.write(`\n${caption}\n\n${table}\n`);
  progress(`wrote ${file}`);
  if (o.doc === "always" || (o.doc === "auto" && !o.quick && !o.skipPerf)) {
    await updateDoc("bench/PULSAR.md", `_${caption} (${path.basename(file)})._\n\n${table}`);
    progress("updated the table in bench/PULSAR.md");
  }
}
