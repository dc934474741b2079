/**
 * Minimal SVG line charts for benchmark reports: no dependency, deterministic output (diff-able), readable
 * on GitHub. Same call shape as a general `lineChart({ title, xLabel, yLabel, series })`.
 *
 * @example
 * const svg = lineChart({ title: "Throughput", xLabel: "sensors", yLabel: "readings/s", logX: true,
 *   series: [{ name: "A", points: [[10, 10], [1000, 990]] }] });
 */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Dashed line, e.g. for a reference level such as the raw broker rate. */
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Short tick label: 1k, 2.5M, 0.05. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return "0";
  return `${+v.toPrecision(3)}`;
}

/** About `count` round ticks (1, 2, 5 × 10^k steps) covering [min, max]. */
export function linearTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function logTicks(min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
  return out;
}

/** An SVG document of the series as lines with point markers, axes, grid and a legend. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 400;
  // The legend sits under the x axis, four entries a row; the bottom margin grows with its rows.
  const perRow = 4;
  const legendRows = Math.max(1, Math.ceil(o.series.length / perRow));
  const m = { left: 70, right: 20, top: 40, bottom: 52 + legendRows * 16 };
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map(([x]) => x).filter((x) => !o.logX || x > 0);
  const ys = pts.map(([, y]) => y).filter((y) => !o.logY || y > 0);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  if (o.logY) y0 = Math.min(...ys);
  if (!Number.isFinite(x0)) [x0, x1] = [0, 1];
  if (!Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (x0 === x1) [x0, x1] = o.logX ? [x0 / 2, x1 * 2] : [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = o.logY ? [y0 / 2, y1 * 2] : [y0, y1 + 1];
  const xTicks = o.logX ? logTicks(x0, x1) : linearTicks(x0, x1);
  const yTicks = o.logY ? logTicks(y0, y1) : linearTicks(y0, y1 * 1.05);
  if (o.logX) [x0, x1] = [xTicks[0]!, xTicks.at(-1)!];
  if (o.logY) [y0, y1] = [yTicks[0]!, yTicks.at(-1)!];
  else y1 = Math.max(y1 * 1.05, yTicks.at(-1)!);
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number) =>
    m.left +
    (o.logX ? (Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (x - x0) / (x1 - x0)) *
      pw;
  const sy = (y: number) =>
    m.top +
    ph -
    (o.logY ? (Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) : (y - y0) / (y1 - y0)) *
      ph;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ];
  for (const t of xTicks) {
    if (t < x0 || t > x1) continue;
    out.push(
      `<line x1="${f(sx(t))}" y1="${m.top}" x2="${f(sx(t))}" y2="${m.top + ph}" stroke="#e5e5e5"/>`,
      `<text x="${f(sx(t))}" y="${m.top + ph + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    if (t < y0 || t > y1) continue;
    out.push(
      `<line x1="${m.left}" y1="${f(sy(t))}" x2="${m.left + pw}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${m.top + ph + 36}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = palette[i % palette.length]!;
    const valid = s.points.filter(
      ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0),
    );
    if (valid.length > 1) {
      const d = valid.map(([x, y], j) => `${j === 0 ? "M" : "L"}${f(sx(x))},${f(sy(y))}`).join(" ");
      out.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      );
    }
    for (const [x, y] of valid)
      out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3.5" fill="${color}"/>`);
    const lx = m.left + (i % perRow) * (pw / perRow);
    const ly = m.top + ph + 56 + Math.floor(i / perRow) * 16;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${lx + 28}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
