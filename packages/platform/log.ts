/**
 * Line-oriented logging to stderr (stdout stays free for machine-readable output such as the demo's final
 * JSON summary). LOG_LEVEL = debug | info | warn | error (default info); LOG_FORMAT = text (default, readable)
 * or json (one object per line: time, level, component, message, fields) for log shippers. Both are declared
 * in packages/platform/config.ts, which refuses a bad value with exit code 2 before a command starts.
 */
import { processSettings } from "./config.ts";

type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

/** JSON that never throws: bigints as strings, errors as their message, cycles and the rest as String(). */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Error) return v.message;
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[circular]";
        seen.add(v);
      }
      return v;
    });
  } catch {
    return JSON.stringify(String(value));
  }
}

/** One log line, without the newline; pure, so both formats are tested without capturing stderr. */
export function formatLogLine(
  format: LogFormat,
  entry: { time: Date; level: Level; component: string; message: string; fields?: Record<string, unknown> },
): string {
  const time = entry.time.toISOString();
  if (format === "json") {
    const fields = entry.fields ? `,"fields":${safeJson(entry.fields)}` : "";
    return `{"time":"${time}","level":"${entry.level}","component":${safeJson(entry.component)},"message":${safeJson(entry.message)}${fields}}`;
  }
  const extra = entry.fields ? ` ${safeJson(entry.fields)}` : "";
  return `${time} ${entry.level.padEnd(5)} [${entry.component}] ${entry.message}${extra}`;
}

export function createLogger(
  component: string,
  level: Level = processSettings().logLevel,
  format: LogFormat = processSettings().logFormat,
): Logger {
  const write = (at: Level, message: string, fields?: Record<string, unknown>) => {
    if (order[at] < order[level]) return;
    const line = formatLogLine(format, {
      time: new Date(),
      level: at,
      component,
      message,
      ...(fields ? { fields } : {}),
    });
    process.stderr.write(`${line}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (sub) => createLogger(`${component}/${sub}`, level, format),
  };
}

/**
 * Logs a given key at most once per `intervalMs`, counting what it suppressed in between, so a flood of
 * identical bad messages cannot drown the log (the study's consumers logged every failure).
 */
export function rateLimitedLogger(logger: Logger, intervalMs = 10_000) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, msg: string, fields?: Record<string, unknown>, now = Date.now()): void => {
    const seen = last.get(key);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    last.set(key, { at: now, suppressed: 0 });
    logger.warn(msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  };
}
