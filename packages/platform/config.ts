/**
 * Command-line and environment configuration, validated up front.
 *
 * Each option is declared once (flag, env var, default, parser, help text); `parseCommand` returns a fully
 * typed object or throws a `PipelineError("config")` that names the bad value. Flags win over env vars,
 * env vars over defaults. Any env var NAME may also be given as NAME_FILE, the path of a file holding the
 * value (a compose or Kubernetes secret), so a password need not be on the command line, visible in `ps`.
 * Written here rather than taken from a library because we want the env-var
 * fallback, the typed result and the generated `--help` in one declaration.
 */
import { readFileSync } from "node:fs";
import { PipelineError } from "@energy/contracts/errors.ts";

export interface Option<T, HasDefault extends boolean = boolean> {
  /** Type-level only: whether the option always has a value (a default, or a boolean flag). */
  readonly __hasDefault?: HasDefault;
  readonly description: string;
  readonly env?: string;
  /** Raw default, parsed like user input; `undefined` means the option is optional and may stay unset. */
  readonly default?: string;
  /** Boolean options take no value on the command line (`--batch`), and accept true/false/1/0 from env. */
  readonly boolean?: boolean;
  readonly short?: string;
  readonly parse: (raw: string, label: string) => T;
}

type Parsed<O> = O extends Option<infer T> ? T : never;
type Def<O> = O extends { default: string } ? true : false;
export type Values<S extends Record<string, Option<unknown>>> = {
  [K in keyof S]: S[K] extends Option<unknown, true> ? Parsed<S[K]> : Parsed<S[K]> | undefined;
};

export interface CommandSpec<S extends Record<string, Option<unknown>>> {
  readonly name: string;
  readonly summary: string;
  readonly options: S;
  readonly examples?: readonly string[];
}

const fail = (message: string, hint?: string): never => {
  throw new PipelineError("config", message, hint ? { hint } : {});
};

type NumOpts = { env?: string; default?: string; min?: number; max?: number; short?: string };

/** Builders for the option kinds we use. */
export const opt = {
  string<const O extends { env?: string; default?: string; short?: string }>(
    description: string,
    o: O = {} as O,
  ): Option<string, Def<O>> {
    return { description, ...o, parse: (raw) => raw };
  },
  int<const O extends NumOpts>(description: string, o: O = {} as O): Option<number, Def<O>> {
    return {
      description,
      ...o,
      parse: (raw, label) => {
        const n = Number(raw.replaceAll("_", ""));
        if (!Number.isInteger(n)) fail(`${label} "${raw}" is not an integer`);
        if (o.min !== undefined && n < o.min) fail(`${label} ${n} is below the minimum ${o.min}`);
        if (o.max !== undefined && n > o.max) fail(`${label} ${n} is above the maximum ${o.max}`);
        return n;
      },
    };
  },
  number<const O extends NumOpts>(description: string, o: O = {} as O): Option<number, Def<O>> {
    return {
      description,
      ...o,
      parse: (raw, label) => {
        const n = Number(raw);
        if (raw.trim() === "" || !Number.isFinite(n)) fail(`${label} "${raw}" is not a finite number`);
        if (o.min !== undefined && n < o.min) fail(`${label} ${n} is below the minimum ${o.min}`);
        if (o.max !== undefined && n > o.max) fail(`${label} ${n} is above the maximum ${o.max}`);
        return n;
      },
    };
  },
  boolean(description: string, o: { env?: string; short?: string } = {}): Option<boolean, true> {
    return {
      description,
      ...o,
      boolean: true,
      parse: (raw, label) => {
        const v = raw.toLowerCase();
        if (["1", "true", "yes", "on"].includes(v)) return true;
        if (["0", "false", "no", "off", ""].includes(v)) return false;
        return fail(`${label} "${raw}" is not a boolean`, "use true or false");
      },
    };
  },
  url<const O extends { env?: string; default?: string; protocols: readonly string[]; short?: string }>(
    description: string,
    o: O,
  ): Option<URL, Def<O>> {
    return {
      description,
      ...o,
      parse: (raw, label) => {
        let u: URL;
        try {
          u = new URL(raw);
        } catch {
          return fail(`${label} "${raw}" is not a URL`, `expected ${o.protocols.join(" or ")}//host:port`);
        }
        if (!o.protocols.includes(u.protocol)) {
          fail(`${label} "${raw}" is not a ${o.protocols.join(" or ")} URL`);
        }
        return u;
      },
    };
  },
  choice<const C extends string, const O extends { env?: string; default?: C; short?: string }>(
    description: string,
    choices: readonly C[],
    o: O = {} as O,
  ): Option<C, Def<O>> {
    return {
      description: `${description} (${choices.join(" | ")})`,
      ...o,
      parse: (raw, label) => {
        if (!(choices as readonly string[]).includes(raw))
          fail(`${label} "${raw}" is not one of ${choices.join(", ")}`);
        return raw as C;
      },
    };
  },
  /** Comma-separated list, each item parsed by `item`. */
  list<T>(
    description: string,
    item: (raw: string, label: string) => T,
    o: { env?: string; default?: string } = {},
  ) {
    const option: Option<T[]> = {
      description,
      ...o,
      parse: (raw, label) =>
        raw
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
          .map((s) => item(s, label)),
    };
    return option;
  },
};

/**
 * Settings of every process, read from the environment only, where they are used (packages/platform/log.ts, packages/platform/http.ts),
 * but declared and checked here like any option: `runCommand` and `commandMain` refuse a bad value with
 * exit code 2 before the command starts, and `--help` lists them.
 */
export const processOptions = {
  logLevel: opt.choice("least severe log level written to stderr", ["debug", "info", "warn", "error"], {
    env: "LOG_LEVEL",
    default: "info",
  }),
  // text on a terminal and off one alike: output piped to `tee` or a file stays readable, and a log shipper
  // asks for json explicitly.
  logFormat: opt.choice(
    "log line format: text (readable) or json (one object per line: time, level, component, message, fields)",
    ["text", "json"],
    { env: "LOG_FORMAT", default: "text" },
  ),
};

export type ProcessSettings = Values<typeof processOptions>;

/** The process settings from `env`; throws PipelineError("config") naming a bad value. */
export function processSettings(env: Record<string, string | undefined> = process.env): ProcessSettings {
  const parsed = parseCommand({ name: "environment", summary: "", options: processOptions }, [], env);
  if (parsed.help) throw new Error("unreachable: no arguments were given");
  return parsed.values;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The usage text printed by `--help`. */
export function usage<S extends Record<string, Option<unknown>>>(spec: CommandSpec<S>): string {
  const rows = Object.entries(spec.options).map(([key, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${kebab(key)}${o.boolean ? "" : " <value>"}`;
    const meta = [o.env ? `env ${o.env}` : "", o.default !== undefined ? `default ${o.default}` : ""]
      .filter(Boolean)
      .join(", ");
    return { flag, text: meta ? `${o.description} [${meta}]` : o.description };
  });
  rows.push({ flag: "-h, --help", text: "show this help and exit" });
  const width = Math.max(...rows.map((r) => r.flag.length)) + 2;
  const lines = [`Usage: ${spec.name} [options]`, "", spec.summary, "", "Options:"];
  for (const r of rows) lines.push(`  ${r.flag.padEnd(width)}${r.text}`);
  const declared = new Set(Object.values(spec.options).map((o) => o.env));
  const common = Object.values(processOptions).flatMap((o) =>
    o.env && !declared.has(o.env) ? [{ ...o, env: o.env }] : [],
  );
  if (common.length > 0) {
    const envWidth = Math.max(...common.map((o) => o.env.length)) + 2;
    lines.push("", "Environment (every command):");
    for (const o of common)
      lines.push(`  ${o.env.padEnd(envWidth)}${o.description} [env ${o.env}, default ${o.default}]`);
  }
  if (Object.values(spec.options).some((o) => o.env))
    lines.push(
      "",
      "Every env var NAME may instead be given as NAME_FILE, the path of a file holding the value (e.g. a",
      "secret: MQTT_PASSWORD_FILE=/run/secrets/mqtt_password), which keeps it off the command line.",
    );
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  return `${lines.join("\n")}\n`;
}

export type ParseResult<S extends Record<string, Option<unknown>>> =
  | { help: true }
  | { help: false; values: Values<S> };

/** Parses argv (without the runtime and script) and env into typed values. Throws PipelineError("config"). */
export function parseCommand<S extends Record<string, Option<unknown>>>(
  spec: CommandSpec<S>,
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): ParseResult<S> {
  const byFlag = new Map<string, string>();
  for (const [key, o] of Object.entries(spec.options)) {
    byFlag.set(`--${kebab(key)}`, key);
    if (o.short) byFlag.set(`-${o.short}`, key);
  }
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") return { help: true };
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(name) ?? (name.startsWith("--no-") ? byFlag.get(`--${name.slice(5)}`) : undefined);
    if (!key) {
      return fail(`unknown argument "${arg}" for ${spec.name}`, `run ${spec.name} --help`);
    }
    const o = spec.options[key]!;
    if (o.boolean) {
      raw.set(key, name.startsWith("--no-") ? "false" : eq > 0 ? arg.slice(eq + 1) : "true");
    } else if (eq > 0) {
      raw.set(key, arg.slice(eq + 1));
    } else {
      const next = argv[++i];
      if (next === undefined) fail(`${name} needs a value`, `run ${spec.name} --help`);
      raw.set(key, next!);
    }
  }
  const values: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(spec.options)) {
    const fromFlag = raw.get(key);
    const fileVar = o.env ? `${o.env}_FILE` : undefined;
    let fromEnv = o.env ? env[o.env] : undefined;
    let envLabel = o.env;
    const file = fileVar ? env[fileVar] : undefined;
    if (file !== undefined && file !== "") {
      if (fromEnv !== undefined && fromEnv !== "")
        fail(`${o.env} and ${fileVar} are both set`, "set only one of them");
      fromEnv = readSecretFile(file, fileVar!);
      envLabel = fileVar;
    }
    const label =
      fromFlag !== undefined
        ? `--${kebab(key)}`
        : fromEnv !== undefined && fromEnv !== ""
          ? envLabel!
          : `--${kebab(key)}`;
    const text = fromFlag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : o.default);
    if (text === undefined) values[key] = o.boolean ? false : undefined;
    else values[key] = o.parse(text, label);
  }
  return { help: false, values: values as Values<S> };
}

/** A NAME_FILE's value: the file's text without its trailing line break (editors and `echo` add one). */
function readSecretFile(path: string, label: string): string {
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    return fail(
      `${label} "${path}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      "give the path of a readable file holding the value",
    );
  }
}

/**
 * Entry point helper for every CLI: parses, prints `--help`, reports config errors on stderr with exit
 * code 2 (no stack trace: the message says what to fix), and runs `main`. A typed error `main` throws is
 * printed the same way and exits 2 when it is a `config` error, 1 otherwise (as `commandMain`).
 */
export async function runCommand<S extends Record<string, Option<unknown>>>(
  spec: CommandSpec<S>,
  main: (values: Values<S>) => Promise<void> | void,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  const parsed = parseOrReport(spec, argv);
  if ("exitCode" in parsed) {
    if (parsed.exitCode !== 0) process.exit(parsed.exitCode);
    return;
  }
  try {
    await main(parsed.values);
  } catch (error) {
    if (error instanceof PipelineError) {
      process.stderr.write(`${spec.name}: ${error.message}\n`);
      process.exit(exitCodeOf(error));
    }
    throw error;
  }
}

/**
 * The values of argv and env, or the exit code when there is nothing to run: 0 after printing the usage
 * for `--help`, 2 after printing the message of a bad option (no stack trace: it says what to fix).
 */
function parseOrReport<S extends Record<string, Option<unknown>>>(
  spec: CommandSpec<S>,
  argv: readonly string[],
): { values: Values<S> } | { exitCode: 0 | 2 } {
  let parsed: ParseResult<S>;
  try {
    parsed = parseCommand(spec, argv);
    if (!parsed.help) processSettings();
  } catch (error) {
    if (!(error instanceof PipelineError)) throw error;
    process.stderr.write(`${spec.name}: ${error.message}\n`);
    return { exitCode: 2 };
  }
  if (parsed.help) {
    process.stdout.write(usage(spec));
    return { exitCode: 0 };
  }
  return { values: parsed.values };
}

/**
 * Exit code for a typed error a command's run threw, the same for `runCommand` and `commandMain`: 2 for a
 * `config` error (a bad combination of options found while running: usage, like a bad value), else 1.
 */
function exitCodeOf(error: PipelineError): 1 | 2 {
  return error.code === "config" ? 2 : 1;
}

/**
 * `main(argv)` of a subcommand module (`bun run bench pulsar`, `bun run ml evaluate`): `--help` prints the
 * usage (0), a bad option prints its message (2), otherwise `run` decides the exit code. An error it throws
 * is printed and exits 2 when it is a `config` error (a bad combination of options found while running), 1
 * otherwise: a typed one with its message only (it says what to do), anything else with its stack (a bug).
 */
export async function commandMain<S extends Record<string, Option<unknown>>>(
  spec: CommandSpec<S>,
  argv: readonly string[],
  run: (values: Values<S>) => Promise<number>,
): Promise<number> {
  const parsed = parseOrReport(spec, argv);
  if ("exitCode" in parsed) return parsed.exitCode;
  try {
    return await run(parsed.values);
  } catch (error) {
    const text = error instanceof PipelineError ? error.message : ((error as Error)?.stack ?? String(error));
    process.stderr.write(`${spec.name}: ${text}\n`);
    return error instanceof PipelineError ? exitCodeOf(error) : 1;
  }
}
