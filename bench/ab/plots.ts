/** The report's pictures: one SVG per question a reader asks of the A-vs-B run. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { compactTick, type LineChartOptions, type LineSeries, lineChart } from "@energy/platform/svg-plot.ts";
import type { AbResults } from "./report.ts";
import type { Mode, PointResult } from "./run.ts";

const sweepOf = (r: AbResults, mode: Mode): PointResult[] =>
  r.points
    .filter((p) => p.spec.phase === "sweep" && p.spec.mode === mode)
    .sort((a, b) => a.spec.sensors - b.spec.sensors);

const xy = (ps: PointResult[], y: (p: PointResult) => number) =>
  ps.map((p) => [p.spec.sensors, y(p)] as const);

/** Writes the SVGs into `dir` as `<stem>-<name>.svg` (stem e.g. 2026-11-25-ab); returns their paths. */
export function writePlots(r: AbResults, dir: string, stem: string): string[] {
  const modes = (["A", "B"] as const).filter((m) => sweepOf(r, m).length > 0);
  const sensors = [
    ...new Set(r.points.filter((p) => p.spec.phase === "sweep").map((p) => p.spec.sensors)),
  ].sort((a, b) => a - b);
  const span = (v: number) => [[sensors[0] ?? 1, v] as const, [sensors.at(-1) ?? 1, v] as const];
  const charts: Record<string, string | undefined> = {};

  const throughput: LineSeries[] = [
    {
      name: "offered",
      points: xy(sweepOf(r, modes[0] ?? "A"), (p) => p.offered.readingsPerSecond),
      dashed: true,
    },
    ...modes.map((m) => ({
      name: `${m} achieved`,
      points: xy(sweepOf(r, m), (p) => p.achieved.readingsPerSecond),
    })),
    ...modes.flatMap((m) => {
      const b = r.baseline[m];
      return b ? [{ name: `raw broker ${m}`, points: span(b.readingsPerSecond), dashed: true }] : [];
    }),
  ];
  charts.throughput = chart({
    title: `Readings/s through the pipeline (R = ${r.plan.rate}/s per sensor)`,
    xLabel: "sensors",
    yLabel: "readings/s",
    logX: true,
    logY: true,
    series: throughput,
  });

  const limit = r.settings.allowedLatenessS * 1000 + 100;
  charts.latency = chart({
    title: r.settings.forecast
      ? "Window end → window emitted / forecast stored (exact)"
      : "Window end → window emitted (exact)",
    xLabel: "sensors",
    yLabel: "ms",
    logX: true,
    series: [
      ...modes.flatMap((m) => [
        { name: `${m} p50`, points: xy(sweepOf(r, m), (p) => p.latency.windowEndToEmittedMs.p50) },
        { name: `${m} p99`, points: xy(sweepOf(r, m), (p) => p.latency.windowEndToEmittedMs.p99) },
      ]),
      ...(r.settings.forecast
        ? modes.map((m) => ({
            name: `${m} forecast p99`,
            points: xy(sweepOf(r, m), (p) => p.latency.windowEndToForecastMs?.p99 ?? Number.NaN),
          }))
        : []),
      { name: "target p99 (lateness + 100 ms)", points: span(limit), dashed: true },
    ],
  });

  charts.cpu = chart({
    title: "CPU seconds per million readings",
    xLabel: "sensors",
    yLabel: "CPU s / M readings",
    logX: true,
    logY: true,
    series: modes.flatMap((m) => [
      { name: `core ${m}`, points: xy(sweepOf(r, m), (p) => p.processes.core.cpuSecondsPerMillionReadings) },
      { name: `edge ${m}`, points: xy(sweepOf(r, m), (p) => p.processes.edge.cpuSecondsPerMillionReadings) },
      {
        name: `broker ${m}`,
        points: xy(sweepOf(r, m), (p) => p.processes.broker.cpuSecondsPerMillionReadings),
      },
    ]),
  });

  charts.rss = chart({
    title: "RSS during the load (highest sample)",
    xLabel: "sensors",
    yLabel: "MB",
    logX: true,
    series: [
      ...modes.flatMap((m) => [
        { name: `core ${m}`, points: xy(sweepOf(r, m), (p) => p.processes.core.runPeakRssMb) },
        { name: `edge ${m}`, points: xy(sweepOf(r, m), (p) => p.processes.edge.runPeakRssMb) },
      ]),
      { name: "core target 200 MB", points: span(200), dashed: true },
    ],
  });

  const ramps = modes.flatMap((m) => {
    const s = r.saturation[m];
    return s && s.steps.length > 1 ? [{ m, s }] : [];
  });
  if (ramps.length > 0) {
    const all = ramps.flatMap(({ s }) => s.steps.map((x) => x.offered));
    charts.saturation = chart({
      title: `Saturation ramp at ${ramps[0]!.s.sensors} sensors`,
      xLabel: "offered readings/s",
      yLabel: "achieved readings/s",
      logX: true,
      logY: true,
      series: [
        {
          name: "achieved = offered",
          points: [
            [Math.min(...all), Math.min(...all)],
            [Math.max(...all), Math.max(...all)],
          ],
          dashed: true,
        },
        ...ramps.map(({ m, s }) => ({
          name: m,
          points: s.steps.map((x) => [x.offered, x.achieved] as const),
        })),
      ],
    });
  }

  return Object.entries(charts).flatMap(([name, svg]) => {
    if (svg === undefined) return [];
    const path = join(dir, `${stem}-${name}.svg`);
    writeFileSync(path, svg);
    return [path];
  });
}

/**
 * One of the report's charts: a dot on each of the few sweep points, the legend under the plot, ticks
 * as 10k and 1M, a linear y axis from zero. Points a log axis cannot place are left out; a chart left with nothing to draw (every
 * point of a failed run) is no chart rather than an error that would lose the rest of the report.
 */
function chart(o: LineChartOptions): string | undefined {
  const placeable = ([x, y]: readonly [number, number]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0);
  const series = o.series.map((s) => ({ ...s, points: s.points.filter(([x]) => !o.logX || x > 0) }));
  const ys = series.flatMap((s) => s.points.filter(placeable).map(([, y]) => y));
  if (ys.length === 0) return undefined;
  return lineChart({
    ...o,
    series,
    legend: "below",
    markers: true,
    tickLabel: compactTick,
    ...(o.logY ? {} : { yMin: Math.min(0, ...ys) }),
  });
}
