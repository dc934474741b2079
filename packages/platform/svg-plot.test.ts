import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import {
  barChart,
  compactTick,
  escapeXml,
  formatTick,
  gridOfCharts,
  lineChart,
  niceTicks,
} from "./svg-plot.ts";

/** Every tag closed in order (a small XML well-formedness check; Bun has no DOMParser). */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(svg.replace(/<[^>]*>/g, "")).not.toMatch(/[<>]/);
}

const polylines = (svg: string) => [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1]!);

describe("lineChart", () => {
  const svg = lineChart({
    title: "Latency <p99> & p50",
    xLabel: "sensors",
    yLabel: "ms",
    series: [
      {
        name: "A streaming",
        points: [
          [0, 0],
          [10, 100],
        ],
      },
      {
        name: "B batching",
        points: [
          [0, 50],
          [5, Number.NaN],
          [10, 60],
        ],
        dashed: true,
      },
    ],
  });

  test("is well-formed SVG with the title escaped and every series named in the legend", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expectWellFormed(svg);
    expect(svg).toContain("<title>Latency &lt;p99&gt; &amp; p50</title>");
    expect(svg).toContain(">A streaming</text>");
    expect(svg).toContain(">B batching</text>");
    expect(svg).toContain('stroke-dasharray="5 3"');
  });

  test("maps the data range onto the plot area (5 % y padding) and breaks lines at NaN", () => {
    // Plot area of the default 640 × 360 chart: x 64..624, y 34..314; y range −5..105.
    const lines = polylines(svg);
    expect(lines[0]).toBe("64,301.27 624,46.73");
    // B's NaN splits it into two one-point segments instead of drawing through the gap.
    expect(lines.slice(1)).toEqual(["64,174", "624,148.55"]);
  });

  test("a log x axis puts decades at equal distances", () => {
    const log = lineChart({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      logX: true,
      series: [
        {
          name: "s",
          points: [
            [1, 0],
            [10, 1],
            [100, 2],
          ],
        },
      ],
    });
    const xs = polylines(log)[0]!
      .split(" ")
      .map((p) => Number(p.split(",")[0]));
    expect(xs).toEqual([64, 344, 624]);
    expect(log).toContain(">100</text>");
    expect(() =>
      lineChart({
        title: "t",
        xLabel: "x",
        yLabel: "y",
        logX: true,
        series: [{ name: "s", points: [[0, 1]] }],
      }),
    ).toThrow(/x ≤ 0 on a logarithmic axis/);
  });

  test("a log y axis puts decades at equal heights and breaks the line at y ≤ 0", () => {
    const log = lineChart({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      logY: true,
      series: [
        {
          name: "s",
          points: [
            [0, 1],
            [1, 10],
            [2, 0],
            [3, 100],
          ],
        },
      ],
    });
    // Plot area y 34..314 with no padding on a log axis: 1 at the bottom, 100 at the top.
    expect(polylines(log)).toEqual(["64,314 250.67,174", "624,34"]);
    expect(log).toContain(">10</text>");
    // The axis spans whole decades: a top value of 200 puts 1000 at the top.
    const wide = lineChart({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      logY: true,
      tickLabel: compactTick,
      series: [
        {
          name: "s",
          points: [
            [0, 1],
            [1, 200],
          ],
        },
      ],
    });
    expect(wide).toContain(">1k</text>");
    expect(() =>
      lineChart({
        title: "t",
        xLabel: "x",
        yLabel: "y",
        logY: true,
        yMin: 0,
        series: [{ name: "s", points: [[1, 1]] }],
      }),
    ).toThrow(/y ≤ 0 on a logarithmic axis/);
  });

  test("markers put a dot on every drawn point; a fixed yMin pads only the top", () => {
    const dotted = lineChart({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      yMin: 0,
      markers: true,
      series: [
        {
          name: "s",
          points: [
            [0, 50],
            [1, Number.NaN],
            [2, 100],
          ],
        },
      ],
    });
    expect(dotted.match(/<circle /g)?.length).toBe(2);
    // y range 0..105: 100 sits 5 % below the top of the plot area (y 34..314).
    expect(polylines(dotted)).toEqual(["64,180.67", "624,47.33"]);
  });

  test("refuses a chart with nothing to draw", () => {
    expect(() => lineChart({ title: "empty", xLabel: "x", yLabel: "y", series: [] })).toThrow(PipelineError);
  });
});

describe("barChart and gridOfCharts", () => {
  test("draws one bar per group and series, and checks the value count", () => {
    const svg = barChart({
      title: "MAE",
      yLabel: "W",
      seriesNames: ["LSTM", "persistence"],
      groups: [
        { label: "device 2", values: [40, 55] },
        { label: "device 3", values: [42, 61] },
      ],
    });
    expectWellFormed(svg);
    expect(svg.match(/<rect x=/g)?.length).toBe(4);
    expect(svg).toContain("persistence: 61");
    expect(() =>
      barChart({ title: "t", yLabel: "y", seriesNames: ["a", "b"], groups: [{ label: "g", values: [1] }] }),
    ).toThrow(/has 1 values for 2 series/);
  });

  test("lays out small multiples in a grid of equal cells", () => {
    const chart = (name: string) =>
      lineChart({
        title: name,
        xLabel: "x",
        yLabel: "y",
        width: 300,
        height: 200,
        series: [
          {
            name,
            points: [
              [0, 1],
              [1, 2],
            ],
          },
        ],
      });
    const grid = gridOfCharts([chart("one"), chart("two"), chart("three")], 2);
    expectWellFormed(grid);
    expect(grid).toContain('width="600" height="400"');
    expect(grid).toContain('<svg x="300" y="0"');
    expect(grid).toContain('<svg x="0" y="200"');
    expect(grid.match(/xmlns=/g)?.length).toBe(1);
  });
});

describe("ticks and text", () => {
  test("nice ticks step by 1, 2 or 5 × 10^k and labels carry no float noise", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-5, 105, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(537, 1731, 5)).toEqual([600, 800, 1000, 1200, 1400, 1600]);
    expect(formatTick(0.1 + 0.2)).toBe("0.3");
    expect(formatTick(2_500_000)).toBe("2.5e6");
    expect(escapeXml('a<b & "c">')).toBe("a&lt;b &amp; &quot;c&quot;&gt;");
    expect([compactTick(15_000), compactTick(2_500_000), compactTick(0.25)]).toEqual(["15k", "2.5M", "0.25"]);
  });
});
