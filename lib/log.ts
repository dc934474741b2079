/**
 * Structured, line-oriented logging to stderr (stdout stays free for machine-readable output such as the
 * demo's final JSON summary). `LOG_LEVEL` = debug | info | warn | error, default info.
 */
type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function envLevel(): Level {
  const raw = (process.env.LOG_LEVEL ?? "info").toLowerCase();
  return raw in order ? (raw as Level) : "info";
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(component: string, level: Level = envLevel()): Logger {
  const write = (at: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[at] < order[level]) return;
    const extra = fields ? ` ${JSON.stringify(fields)}` : "";
    process.stderr.write(`${new Date().toISOString()} ${at.padEnd(5)} [${component}] ${msg}${extra}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (sub) => createLogger(`${component}/${sub}`, level),
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
