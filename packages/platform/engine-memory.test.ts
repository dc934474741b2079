import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  allocatorPurgeIntervalEnv,
  applyEngineMemoryBudget,
  describeBudget,
  engineRamSizeEnv,
  planBudget,
} from "./engine-memory.ts";

describe("planBudget", () => {
  const purge = { [allocatorPurgeIntervalEnv]: "2000" };

  test("0, negative or NaN: budget off, but still a restart for the allocator's purge interval", () => {
    for (const mb of [0, -1, Number.NaN]) {
      expect(planBudget(mb, {})).toEqual({ outcome: { kind: "off" }, restart: purge });
      expect(planBudget(mb, purge)).toEqual({ outcome: { kind: "off" } });
    }
  });

  test("unset: restart with the budget in bytes and the purge interval, the rest of the environment kept", () => {
    expect(planBudget(256, { PATH: "/bin", [engineRamSizeEnv]: "" })).toEqual({
      outcome: { kind: "applied", bytes: 268_435_456 },
      restart: { PATH: "/bin", [engineRamSizeEnv]: "268435456", ...purge },
    });
  });

  test("already set (the restarted process): applied, no second restart", () => {
    expect(planBudget(256, { [engineRamSizeEnv]: "268435456", ...purge })).toEqual({
      outcome: { kind: "applied", bytes: 268_435_456 },
    });
  });

  test("set to something else by the operator: theirs wins, and is kept across the restart", () => {
    expect(planBudget(256, { [engineRamSizeEnv]: "1073741824", [allocatorPurgeIntervalEnv]: "100" })).toEqual(
      {
        outcome: { kind: "overridden", bytes: 1_073_741_824 },
      },
    );
    expect(planBudget(256, { [engineRamSizeEnv]: "1073741824" })).toEqual({
      outcome: { kind: "overridden", bytes: 1_073_741_824 },
      restart: { [engineRamSizeEnv]: "1073741824", ...purge },
    });
  });
});

describe("applyEngineMemoryBudget", () => {
  test("without process.execve it says so instead of restarting", () => {
    const saved = process.env[engineRamSizeEnv];
    delete process.env[engineRamSizeEnv];
    try {
      const outcome = applyEngineMemoryBudget(128, null);
      expect(outcome).toEqual({ kind: "unsupported" });
      expect(describeBudget(outcome)).toContain(engineRamSizeEnv);
    } finally {
      if (saved !== undefined) process.env[engineRamSizeEnv] = saved;
    }
  });

  test("a real process restarts in place: same pid, arguments and runtime flags, budget in its environment", async () => {
    const dir = mkdtempSync(join(tmpdir(), "engine-memory-"));
    try {
      const script = join(dir, "probe.ts");
      writeFileSync(
        script,
        `import { applyEngineMemoryBudget } from ${JSON.stringify(join(import.meta.dir, "engine-memory.ts"))};
const before = { pid: process.pid, env: process.env.${engineRamSizeEnv} ?? null, purge: process.env.${allocatorPurgeIntervalEnv} ?? null };
if (before.env === null) console.log(JSON.stringify({ phase: "first", ...before }));
const outcome = applyEngineMemoryBudget(96);
console.log(JSON.stringify({ phase: "after", pid: process.pid, outcome, purge: process.env.${allocatorPurgeIntervalEnv}, argv: process.argv.slice(2), execArgv: process.execArgv }));
`,
      );
      const env: Record<string, string | undefined> = { ...process.env };
      delete env[engineRamSizeEnv];
      delete env[allocatorPurgeIntervalEnv];
      const proc = Bun.spawn([process.execPath, "--smol", script, "--flag", "x y"], { env, stdout: "pipe" });
      const out = await new Response(proc.stdout).text();
      expect(await proc.exited).toBe(0);
      const lines = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      const [first, after] = lines;
      expect(first.phase).toBe("first");
      expect(after.pid).toBe(first.pid);
      expect(after.outcome).toEqual({ kind: "applied", bytes: 96 * 1024 * 1024 });
      expect(first.purge).toBeNull();
      expect(after.purge).toBe("2000");
      expect(after.argv).toEqual(["--flag", "x y"]);
      expect(after.execArgv).toEqual(["--smol"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
