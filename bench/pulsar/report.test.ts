import { describe, expect, test } from "bun:test";
import type { BenchRun } from "./measure.ts";
import { markdownTable, ratios } from "./report.ts";

const run = (r: Partial<BenchRun> & Pick<BenchRun, "tool" | "kind" | "mode">): BenchRun => ({
  topic: "t",
  messages: 1000,
  ...r,
});

describe("bench pulsar helpers", () => {
  test("ratios pair each of our runs with pulsar-perf's of the same kind; packed is compared with batched", () => {
    const runs = [
      run({ tool: "ours", kind: "produce", mode: "unbatched", msgsPerSec: 5000 }),
      run({ tool: "pulsar-perf", kind: "produce", mode: "unbatched", msgsPerSec: 10_000 }),
      run({ tool: "ours", kind: "produce", mode: "batched", error: "timed out" }),
      run({ tool: "pulsar-perf", kind: "produce", mode: "batched", msgsPerSec: 40_000 }),
      run({ tool: "ours", kind: "produce", mode: "packed", msgsPerSec: 80_000 }),
    ];
    expect(ratios(runs)).toEqual([
      { test: "produce, unbatched", oursOverPerf: 0.5 },
      { test: "produce, packed (ours) vs batched (perf)", oursOverPerf: 2 },
    ]);
    const table = markdownTable(runs).split("\n");
    expect(table).toHaveLength(2 + 3);
    expect(table[2]).toContain("| 5,000 | 10,000 | 50 % |");
    expect(table[3]).toContain("| failed | 40,000 | – |");
  });
});
