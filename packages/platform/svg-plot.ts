/**
 * Small SVG charts (line and bar) for the evaluation and benchmark reports.
 *
 * Hand-written rather than a plotting package because the reports need a handful of static charts, no
 * browser, no canvas and no native dependency; the output is a deterministic string (same data, same bytes),
 * so committed plots only change when their data does.
 */
import { PipelineError } from "@energy/contracts/errors.ts";

export interface LineSeries {
  name: string;
  /** [x, y] pairs; non-finite y values break the line. */
  points: ReadonlyArray<readonly [number, number]>;
  /** CSS colour; defaults to the palette in order. */
  color?: string;
  /** Dashed stroke, e.g. for baselines. */
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
  /** Logarithmic x axis (all x must be > 0). */
  logX?: boolean;
  /** Logarithmic y axis: a point with y ≤ 0 has no place on it and breaks its line like a non-finite y. */
  logY?: boolean;
  /** Fixed y range; an end left unset follows the data with 5 % padding (none on a log axis). */
  yMin?: number;
  yMax?: number;
  /** A dot on every point, for sparse series (a one-point series is otherwise invisible). */
  markers?: boolean;
  /** Tick labels of both axes; `formatTick` by default, `compactTick` for counts and rates. */
  tickLabel?: (v: number) => string;
  /**
   * `inside` (default): top right of the plot area, which can cover curves there; `below`: under the x
   * axis label, wrapped into rows, the chart growing by their height (it never covers data).
   */
  legend?: "inside" | "below";
}

export interface BarGroup {
  label: string;
  /** One value per series name, in `seriesNames` order. */
  values: readonly number[];
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  seriesNames: readonly string[];
  groups: readonly BarGroup[];
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito). */
export const palette = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#F0E442",
];

const margin = { top: 34, right: 16, bottom: 46, left: 64 };
const legendRow = 16;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Shortest readable label for a tick value (no float noise like 0.30000000000000004). */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/** Tick label with a k or M suffix (15k, 2.5M), for counts and rates that span decades. */
export function compactTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return formatTick(v);
}

/** "Nice" tick values (1, 2, 5 × 10^k steps) covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (lo === hi) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag; // in [1, 10)
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return ticks;
}

/** The powers of ten enclosing [lo, hi] (lo > 0): a log axis spans whole decades. */
function decades(lo: number, hi: number): [number, number] {
  return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

/** Powers of ten within [lo, hi] (lo > 0), for a log axis. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    const v = 10 ** e;
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
  }
  return ticks.length >= 2 ? ticks : [lo, hi];
}

const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    // A <title> makes the chart accessible (screen readers, and biome's noSvgWithoutTitle).
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${fmt(width / 2)}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    "</svg>",
  ].join("\n");
}

function legend(
  names: readonly string[],
  colors: readonly string[],
  x: number,
  y: number,
  dashed: boolean[],
) {
  return names.map((name, i) => {
    const yy = y + i * legendRow;
    const dash = dashed[i] ? ' stroke-dasharray="5 3"' : "";
    return (
      `<line x1="${fmt(x)}" y1="${fmt(yy)}" x2="${fmt(x + 18)}" y2="${fmt(yy)}" stroke="${colors[i]}" stroke-width="2"${dash}/>` +
      `<text x="${fmt(x + 22)}" y="${fmt(yy + 4)}">${escapeXml(name)}</text>`
    );
  });
}

/**
 * A line chart with axes, ticks, axis labels and a legend (top right, inside the plot).
 *
 * @example
 * const svg = lineChart({ title: "latency", xLabel: "sensors", yLabel: "ms", logX: true,
 *   series: [{ name: "A", points: [[1, 2], [10, 3]] }] });
 * await Bun.write("plot.svg", svg);
 */
export function lineChart(options: LineChartOptions): string {
  const { title, xLabel, yLabel, series, width = 640, height = 360, logX = false, logY = false } = options;
  const placeable = ([x, y]: readonly [number, number]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  const all = series.flatMap((s) => s.points.filter(placeable));
  if (all.length === 0) {
    throw new PipelineError("validation", `line chart "${title}" has no finite points to plot`);
  }
  if (logX && all.some(([x]) => x <= 0)) {
    throw new PipelineError("validation", `line chart "${title}" has x ≤ 0 on a logarithmic axis`);
  }
  let xLo = Math.min(...all.map(([x]) => x));
  let xHi = Math.max(...all.map(([x]) => x));
  if (xLo === xHi) {
    xLo = logX ? xLo / 2 : xLo - 1;
    xHi = logX ? xHi * 2 : xHi + 1;
  }
  if (logX) [xLo, xHi] = decades(xLo, xHi);
  let yLo = options.yMin ?? Math.min(...all.map(([, y]) => y));
  let yHi = options.yMax ?? Math.max(...all.map(([, y]) => y));
  if (logY && yLo <= 0) {
    throw new PipelineError("validation", `line chart "${title}" has y ≤ 0 on a logarithmic axis`);
  }
  if (yLo === yHi) {
    yLo = logY ? yLo / 2 : yLo - (Math.abs(yLo) * 0.1 || 1);
    yHi = logY ? yHi * 2 : yHi + (Math.abs(yHi) * 0.1 || 1);
  } else if (!logY) {
    const pad = (yHi - yLo) * 0.05;
    if (options.yMin === undefined) yLo -= pad;
    if (options.yMax === undefined) yHi += pad;
  }
  if (logY) [yLo, yHi] = decades(yLo, yHi);
  const left = margin.left;
  const right = width - margin.right;
  const top = margin.top;
  const bottom = height - margin.bottom;
  const tx = (x: number) =>
    logX
      ? left + ((Math.log10(x) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo))) * (right - left)
      : left + ((x - xLo) / (xHi - xLo)) * (right - left);
  const ty = (y: number) =>
    logY
      ? bottom - ((Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * (bottom - top)
      : bottom - ((y - yLo) / (yHi - yLo)) * (bottom - top);

  const label = options.tickLabel ?? formatTick;
  const body: string[] = [];
  const xTicks = logX ? logTicks(xLo, xHi) : niceTicks(xLo, xHi, 6);
  for (const v of xTicks) {
    const x = fmt(tx(v));
    body.push(
      `<line x1="${x}" y1="${fmt(top)}" x2="${x}" y2="${fmt(bottom)}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${fmt(bottom + 14)}" text-anchor="middle">${label(v)}</text>`,
    );
  }
  for (const v of logY ? logTicks(yLo, yHi) : niceTicks(yLo, yHi, 5)) {
    const y = fmt(ty(v));
    body.push(
      `<line x1="${fmt(left)}" y1="${y}" x2="${fmt(right)}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${fmt(left - 4)}" y="${fmt(ty(v) + 4)}" text-anchor="end">${label(v)}</text>`,
    );
  }
  body.push(
    `<rect x="${fmt(left)}" y="${fmt(top)}" width="${fmt(right - left)}" height="${fmt(bottom - top)}" fill="none" stroke="#444"/>`,
    `<text x="${fmt((left + right) / 2)}" y="${fmt(height - 8)}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(14 ${fmt((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  const colors = series.map((s, i) => s.color ?? palette[i % palette.length]!);
  series.forEach((s, i) => {
    // A point that cannot be placed starts a new segment, so gaps stay visible instead of being bridged.
    const segments: string[][] = [[]];
    for (const point of s.points) {
      if (!placeable(point)) {
        if (segments.at(-1)!.length > 0) segments.push([]);
        continue;
      }
      segments.at(-1)!.push(`${fmt(tx(point[0]))},${fmt(ty(point[1]))}`);
    }
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : "";
    for (const seg of segments.filter((g) => g.length > 0)) {
      body.push(
        `<polyline fill="none" stroke="${colors[i]}" stroke-width="1.5"${dash} points="${seg.join(" ")}"><title>${escapeXml(s.name)}</title></polyline>`,
      );
      if (options.markers) {
        for (const xy of seg) {
          const [cx, cy] = xy.split(",");
          body.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${colors[i]}"/>`);
        }
      }
    }
  });
  if (options.legend === "below") {
    // Entries left to right, wrapping at the chart's width; ~6 px per character at font-size 11.
    let x = left;
    let row = 0;
    series.forEach((s, i) => {
      const w = 30 + s.name.length * 6;
      if (x + w > width - 8 && x > left) {
        x = left;
        row++;
      }
      body.push(...legend([s.name], [colors[i]!], x, height + 4 + row * legendRow, [s.dashed ?? false]));
      x += w;
    });
    return frame(width, height + 12 + (row + 1) * legendRow, title, body);
  }
  const longest = Math.max(...series.map((s) => s.name.length));
  body.push(
    ...legend(
      series.map((s) => s.name),
      colors,
      right - 30 - longest * 6,
      top + 12,
      series.map((s) => s.dashed ?? false),
    ),
  );
  return frame(width, height, title, body);
}

/**
 * A grouped bar chart (one group per label, one bar per series), y axis from zero.
 *
 * @example
 * barChart({ title: "MAE", yLabel: "W", seriesNames: ["LSTM", "persistence"],
 *   groups: [{ label: "device 2", values: [40, 55] }] });
 */
export function barChart(options: BarChartOptions): string {
  const { title, yLabel, seriesNames, groups, width = 640, height = 360 } = options;
  if (groups.length === 0) throw new PipelineError("validation", `bar chart "${title}" has no groups`);
  for (const g of groups) {
    if (g.values.length !== seriesNames.length) {
      throw new PipelineError(
        "validation",
        `bar chart "${title}" group "${g.label}" has ${g.values.length} values for ${seriesNames.length} series`,
      );
    }
  }
  const values = groups.flatMap((g) => g.values).filter(Number.isFinite);
  const yHi = Math.max(0, ...values) * 1.08 || 1;
  const yLo = Math.min(0, ...values);
  const left = margin.left;
  const right = width - margin.right;
  const top = margin.top + seriesNames.length * legendRow;
  const bottom = height - margin.bottom;
  const ty = (y: number) => bottom - ((y - yLo) / (yHi - yLo)) * (bottom - top);
  const body: string[] = [];
  for (const v of niceTicks(yLo, yHi, 5)) {
    const y = fmt(ty(v));
    body.push(
      `<line x1="${fmt(left)}" y1="${y}" x2="${fmt(right)}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${fmt(left - 4)}" y="${fmt(ty(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`,
    );
  }
  const groupWidth = (right - left) / groups.length;
  const barWidth = (groupWidth * 0.8) / seriesNames.length;
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupWidth + groupWidth * 0.1;
    g.values.forEach((v, si) => {
      if (!Number.isFinite(v)) return;
      const y = ty(Math.max(v, 0));
      const h = Math.abs(ty(v) - ty(0));
      body.push(
        `<rect x="${fmt(x0 + si * barWidth)}" y="${fmt(y)}" width="${fmt(barWidth * 0.92)}" height="${fmt(h)}" fill="${palette[si % palette.length]}"><title>${escapeXml(`${seriesNames[si]}: ${formatTick(v)}`)}</title></rect>`,
      );
    });
    body.push(
      `<text x="${fmt(left + (gi + 0.5) * groupWidth)}" y="${fmt(bottom + 14)}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  body.push(
    `<line x1="${fmt(left)}" y1="${fmt(ty(0))}" x2="${fmt(right)}" y2="${fmt(ty(0))}" stroke="#444"/>`,
    `<line x1="${fmt(left)}" y1="${fmt(top)}" x2="${fmt(left)}" y2="${fmt(bottom)}" stroke="#444"/>`,
    `<text transform="translate(14 ${fmt((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  body.push(
    ...legend(
      seriesNames,
      seriesNames.map((_, i) => palette[i % palette.length]!),
      left + 8,
      margin.top - 4,
      seriesNames.map(() => false),
    ),
  );
  return frame(width, height, title, body);
}

/**
 * Several SVG charts of equal size side by side in a grid (small multiples), as one SVG document.
 *
 * @example
 * const svg = gridOfCharts(devices.map((d) => lineChart({...})), 2, "forecasts per device");
 */
export function gridOfCharts(charts: readonly string[], columns: number, title = "charts"): string {
  if (charts.length === 0) throw new PipelineError("validation", "grid of charts needs at least one chart");
  const sizes = charts.map((svg) => {
    const m = /<svg[^>]*width="([\d.]+)"[^>]*height="([\d.]+)"/.exec(svg);
    if (!m) throw new PipelineError("validation", "grid of charts got a chart without width and height");
    return [Number(m[1]), Number(m[2])] as const;
  });
  const cellW = Math.max(...sizes.map(([w]) => w));
  const cellH = Math.max(...sizes.map(([, h]) => h));
  const cols = Math.max(1, Math.min(columns, charts.length));
  const rows = Math.ceil(charts.length / cols);
  const width = cellW * cols;
  const height = cellH * rows;
  const cells = charts.map((svg, i) => {
    const x = (i % cols) * cellW;
    const y = Math.floor(i / cols) * cellH;
    // Nested <svg> elements position each chart; the xmlns is only needed on the outer one.
    return svg.replace("<svg ", `<svg x="${x}" y="${y}" `).replace(' xmlns="http://www.w3.org/2000/svg"', "");
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${escapeXml(title)}</title>`,
    ...cells,
    "</svg>",
  ].join("\n");
}
