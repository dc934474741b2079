import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opt, parseCommand, usage } from "./config.ts";

const spec = {
  name: "test",
  summary: "test",
  options: {
    password: opt.string("a secret", { env: "T_PASSWORD" }),
    port: opt.int("a port", { env: "T_PORT", default: "1", min: 1 }),
  },
};
const dir = mkdtempSync(join(tmpdir(), "config-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const values = (argv: string[], env: Record<string, string>) => {
  const r = parseCommand(spec, argv, env);
  if (r.help) throw new Error("help");
  return r.values;
};

describe("NAME_FILE: a value from a file, so secrets stay off the command line", () => {
  test("reads the file, without its trailing line break", () => {
    const file = join(dir, "password");
    writeFileSync(file, "s3cret with spaces \n");
    expect(values([], { T_PASSWORD_FILE: file }).password).toBe("s3cret with spaces ");
  });
  test("the flag still wins; the value is parsed and checked like any other", () => {
    const file = join(dir, "port");
    writeFileSync(file, "0\n");
    expect(values(["--port", "5"], { T_PORT_FILE: file }).port).toBe(5);
    expect(() => values([], { T_PORT_FILE: file })).toThrow(/T_PORT_FILE 0 is below the minimum 1/);
  });
  test("both NAME and NAME_FILE, or an unreadable file, is a config error naming it", () => {
    expect(() => values([], { T_PASSWORD: "a", T_PASSWORD_FILE: join(dir, "password") })).toThrow(
      /T_PASSWORD and T_PASSWORD_FILE are both set/,
    );
    expect(() => values([], { T_PASSWORD_FILE: join(dir, "missing") })).toThrow(
      /T_PASSWORD_FILE ".*missing" cannot be read: ENOENT/,
    );
  });
  test("--help says so", () => {
    expect(usage(spec)).toContain("NAME_FILE");
  });
});

describe("exit codes: runCommand and commandMain agree", () => {
  // Each case runs in its own process: runCommand ends it with process.exit.
  const exitOf = async (entry: "runCommand" | "commandMain", code: "config" | "storage") => {
    const script = join(dir, `${entry}-${code}.ts`);
    const config = join(import.meta.dir, "config.ts");
    const errors = join(import.meta.dir, "../contracts/errors.ts");
    const fail = `throw new PipelineError("${code}", "it failed")`;
    writeFileSync(
      script,
      `import { ${entry} } from ${JSON.stringify(config)};\n` +
        `import { PipelineError } from ${JSON.stringify(errors)};\n` +
        `const spec = { name: "t", summary: "t", options: {} };\n` +
        (entry === "runCommand"
          ? `await runCommand(spec, async () => { ${fail}; }, []);\n`
          : `process.exit(await commandMain(spec, [], async () => { ${fail}; }));\n`),
    );
    const proc = Bun.spawn(["bun", script], { stdout: "ignore", stderr: "pipe" });
    const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toBe("t: it failed\n");
    return exit;
  };

  for (const entry of ["runCommand", "commandMain"] as const) {
    test(`${entry}: a config error found while running exits 2 (usage), another typed error 1`, async () => {
      expect(await exitOf(entry, "config")).toBe(2);
      expect(await exitOf(entry, "storage")).toBe(1);
    });
  }
});
