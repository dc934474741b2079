import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { expectPipelineError } from "@energy/testing/errors.ts";
import { processSettings } from "./config.ts";
import { formatLogLine } from "./log.ts";

const repo = join(import.meta.dir, "../..");
const time = new Date("2026-01-02T03:04:05.678Z");

async function run(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(["bun", ...args], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

describe("LOG_LEVEL and LOG_FORMAT", () => {
  test("a bad value is a config error naming it; the defaults are info and text", async () => {
    expect(processSettings({})).toEqual({ logLevel: "info", logFormat: "text" });
    expect(processSettings({ LOG_LEVEL: "debug", LOG_FORMAT: "json" })).toEqual({
      logLevel: "debug",
      logFormat: "json",
    });
    for (const [name, value] of [
      ["LOG_LEVEL", "verbose"],
      ["LOG_LEVEL", "INFO"],
      ["LOG_FORMAT", "logfmt"],
      ["LOG_LEVEL", "info\u0000"],
    ] as const) {
      const error = await expectPipelineError(() => processSettings({ [name]: value }), "config");
      expect(error.message).toContain(`${name} "${value}"`);
    }
  });

  test("every command exits 2 on LOG_LEVEL=verbose, naming it, before doing anything", async () => {
    for (const command of [
      ["apps/edge.ts", "--http-port", "0"],
      ["apps/core.ts", "--http-port", "0"],
      ["apps/demo.ts", "--http-port", "0"],
      ["apps/ml.ts", "train"],
    ]) {
      const { stderr, code } = await run(command, { LOG_LEVEL: "verbose" });
      expect({ command, code, stderr }).toEqual({
        command,
        code: 2,
        stderr: expect.stringContaining('LOG_LEVEL "verbose" is not one of debug, info, warn, error'),
      });
    }
  }, 60_000);

  test("--help lists them", async () => {
    const { stdout } = await run(["apps/edge.ts", "--help"], {});
    expect(stdout).toContain("[env LOG_LEVEL, default info]");
    expect(stdout).toContain("[env LOG_FORMAT, default text]");
  });
});

describe("log lines", () => {
  test("json: one object per line with time, level, component, message and fields", () => {
    const line = formatLogLine("json", {
      time,
      level: "warn",
      component: "core/bridge",
      message: 'bad "message"\nwith a newline and \u0007 a bell',
      fields: { sensor: 7, error: new Error("boom"), big: 2n ** 70n, nan: Number.NaN },
    });
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({
      time: "2026-01-02T03:04:05.678Z",
      level: "warn",
      component: "core/bridge",
      message: 'bad "message"\nwith a newline and \u0007 a bell',
      fields: { sensor: 7, error: "boom", big: "1180591620717411303424", nan: null },
    });
  });

  test("json without fields has no fields key; a cyclic field does not throw", () => {
    expect(
      Object.keys(JSON.parse(formatLogLine("json", { time, level: "info", component: "x", message: "m" }))),
    ).toEqual(["time", "level", "component", "message"]);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const parsed = JSON.parse(
      formatLogLine("json", { time, level: "info", component: "x", message: "m", fields: cyclic }),
    );
    expect(parsed.fields).toEqual({ a: 1, self: "[circular]" });
  });

  test("text stays the readable default", () => {
    expect(
      formatLogLine("text", { time, level: "info", component: "edge", message: "hi", fields: { n: 1 } }),
    ).toBe('2026-01-02T03:04:05.678Z info  [edge] hi {"n":1}');
  });

  test("LOG_FORMAT=json makes a real logger write JSON lines to stderr", async () => {
    const { stderr, code } = await run(
      [
        "-e",
        'import { createLogger } from "./packages/platform/log.ts"; createLogger("demo").child("edge").info("ready", { sensors: 5 });',
      ],
      { LOG_FORMAT: "json", LOG_LEVEL: "info" },
    );
    expect(code).toBe(0);
    const lines = stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: "info",
      component: "demo/edge",
      message: "ready",
      fields: { sensors: 5 },
    });
  });
});
