/** `bun run bench ab` options; presets that depend on --quick stay unset here and are resolved in `resolvePlan`. */

import { PipelineError } from "@energy/contracts/errors.ts";
import { type CommandSpec, type Option, opt, type Values } from "@energy/platform/config.ts";
import { databaseUrlOption, pulsarUrlOption } from "@energy/platform/options.ts";

const positiveInt = (raw: string, label: string): number => {
  const n = Number(raw.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new PipelineError("config", `${label} item "${raw}" is not an integer between 1 and 100000`);
  }
  return n;
};
const positiveNumber = (raw: string, label: string): number => {
  const n = Number(raw);
  // The generator's limit: readings closer than 1 ms would share an event time (edge/sources/generator.ts).
  if (!Number.isFinite(n) || n <= 0 || n > 1000) {
    throw new PipelineError("config", `${label} item "${raw}" is not a rate in (0, 1000] readings/s`);
  }
  return n;
};
const mode = (raw: string, label: string): "A" | "B" => {
  const m = raw.toUpperCase();
  if (m !== "A" && m !== "B") throw new PipelineError("config", `${label} item "${raw}" is not A or B`);
  return m;
};

export const abCommand = {
  name: "bun run bench ab",
  summary:
    "Architecture A (streaming sensors) vs B (smart batching sensors) through the full pipeline: our own\n" +
    "Mosquitto on a free loopback port, a raw broker baseline, then for each mode and sweep point a fresh core\n" +
    "and an edge process in real time; writes bench/results/<date>-ab.json, SVG plots and bench/RESULTS.md.\n" +
    "Full run: about 25 minutes; --quick: under 5.",
  options: {
    quick: opt.boolean("preset: sensors 10,1000, D 20 s, short ramp (under 5 minutes)"),
    sensors: opt.list("sweep points, sensors (full default 10,100,1000,10000)", positiveInt),
    rate: opt.number("readings per second per sensor in the sweep", { default: "1", min: 0.001, max: 1000 }),
    duration: opt.number("seconds each sweep point sends (full default 90, quick 20)", { min: 5, max: 3600 }),
    modes: opt.list("architectures to run", mode, { default: "A,B" }),
    rampRatesA: opt.list(
      "saturation ramp for A at the largest S: readings/s per sensor (full default 2,4,8; quick 4,16)",
      positiveNumber,
    ),
    rampRatesB: opt.list(
      "saturation ramp for B at the largest S; A's rates too, so CPU per reading compares at equal rates (full default 2,4,8,25,100; quick 4,16,100)",
      positiveNumber,
    ),
    rampDuration: opt.number("seconds each ramp step sends (full default 30, quick 15)", {
      min: 5,
      max: 600,
    }),
    skipRamp: opt.boolean("skip the saturation ramp"),
    windowsOnly: opt.boolean(
      "run the core with --no-forecast (windows only, no in-process forecaster); files are named <date>-ab-windows-only.*",
    ),
    baselineMessages: opt.int(
      "messages of the raw broker baseline for A (B sends a quarter as many batches)",
      {
        min: 1000,
        max: 10_000_000,
      },
    ),
    allowedLateness: opt.number("core allowed lateness, seconds", { default: "5", min: 0, max: 60 }),
    idleTimeout: opt.number(
      "core idle timeout, seconds (full default 10 = the core's; quick 3, to shorten each point's drain)",
      { min: 0.5, max: 60 },
    ),
    coreMemoryMb: opt.int(
      "the core's --memory-budget, MB: the memory its JavaScript engine sizes its heap for; 0 = the machine's RAM; unset = the core's default (CORE_MEMORY_MB)",
      { min: 0, max: 1_048_576 },
    ),
    lead: opt.number("seconds into each run at which a minute boundary falls (event time)", {
      default: "8",
      min: 1,
      max: 50,
    }),
    fromJson: opt.string(
      "re-render RESULTS.md and the plots from this results JSON without running anything (e.g. after editing the analysis)",
    ),
    out: opt.string("directory of the JSON results and SVG plots", { default: "bench/results" }),
    report: opt.string("Markdown report to write", { default: "bench/RESULTS.md" }),
    pulsarUrl: pulsarUrlOption(
      "Pulsar web service; set = the core's logs on Pulsar (a namespace per point), else embedded",
    ),
    databaseUrl: databaseUrlOption(
      "PostgreSQL server (a scratch database per point); unset = embedded PGlite",
    ),
  },
  examples: [
    "bun run bench ab --quick",
    "bun run bench ab                                   # full sweep 10..10,000 sensors",
    "PULSAR_URL=http://127.0.0.1:8080 bun run bench ab --quick",
    "bun run bench ab --sensors 100 --duration 30 --modes A --skip-ramp",
  ],
} satisfies CommandSpec<Record<string, Option<unknown>>>;

export type AbOptions = Values<typeof abCommand.options>;

export interface Plan {
  quick: boolean;
  sensors: number[];
  rate: number;
  durationS: number;
  modes: ("A" | "B")[];
  ramp: { A: number[]; B: number[]; durationS: number } | undefined;
  baselineMessages: number;
  idleTimeoutS: number;
}

/** The run's plan: explicit options win, then the --quick or full preset. */
export function resolvePlan(o: AbOptions): Plan {
  const q = o.quick;
  const sensors = [...new Set(o.sensors ?? (q ? [10, 1000] : [10, 100, 1000, 10_000]))].sort((a, b) => a - b);
  return {
    quick: q,
    sensors,
    rate: o.rate,
    durationS: o.duration ?? (q ? 20 : 90),
    modes: [...new Set(o.modes)],
    ramp: o.skipRamp
      ? undefined
      : {
          A: o.rampRatesA ?? (q ? [4, 16] : [2, 4, 8]),
          B: o.rampRatesB ?? (q ? [4, 16, 100] : [2, 4, 8, 25, 100]),
          durationS: o.rampDuration ?? (q ? 15 : 30),
        },
    baselineMessages: o.baselineMessages ?? (q ? 100_000 : 300_000),
    // The idle timeout closes each sensor's last window after the edge stops, so it adds to every point's
    // drain; --quick shortens it. It is processing time: an event-loop stall longer than it closes every
    // sensor's windows early and turns the queued readings late (seen at 10,000 sensors with 3 s).
    idleTimeoutS: o.idleTimeout ?? (q ? 3 : 10),
  };
}
