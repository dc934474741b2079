/**
 * The memory budget a process gives JavaScriptCore. JSC sizes its heap from the machine's RAM: while the
 * heap is under a quarter of it, each collection lets it double before the next, so on a 24-GB machine the
 * core's RSS at its peak was mostly garbage (tens of MB live after a full collection). Told 256 MB, the core
 * at 10,000 sensors (bench ab, windows only, same sitting) peaked at 154 instead of 174 MB for A and 133
 * instead of 159 MB for B on the embedded logs, 242 instead of 270 and 149 instead of 190 MB on Pulsar, and
 * 152 instead of 207 MB for B at 10 readings/s, at the same CPU (bench/RESULTS.md). Like a JVM's -Xmx or
 * Node's --max-old-space-size, but not a hard cap: above the budget the engine collects more often instead
 * of failing, so an undersized budget costs CPU, never a crash.
 *
 * JSC reads the budget (`BUN_JSC_forceRAMSize`) once, when the VM starts, and Bun has no call to change it
 * later; so a process that was started without it re-executes itself in place with it set (same pid,
 * arguments and open descriptors: `process.execve`), before it opens anything. The allocator's purge
 * interval (below) is read the same way and set by the same restart.
 */

/** The environment variable JSC reads its RAM size from, bytes. */
export const engineRamSizeEnv = "BUN_JSC_forceRAMSize";

/**
 * How often, at least, Bun's allocator (its mimalloc) looks for free pages to hand back to the OS; its
 * default is 100 ms. Its "mi-scavenger" thread was 8 % of the core's CPU for A and 15 % for B at 10,000
 * sensors (0.77 and 0.33 CPU-s per million readings), paid per second rather than per reading; at 2 s it
 * was 0.24 and 0.07 with the same RSS (bench ab, windows only, same sitting, bench/RESULTS.md). An option
 * of Bun's mimalloc, not upstream's: a Bun without it ignores the variable.
 */
export const allocatorPurgeIntervalEnv = "MIMALLOC_PURGE_HOLES_MIN_INTERVAL";
const allocatorPurgeIntervalMs = "2000";

export type BudgetOutcome =
  /** Budget 0: the engine sizes itself from the machine's RAM. */
  | { kind: "off" }
  /** This process runs with the budget. */
  | { kind: "applied"; bytes: number }
  /** The environment already sets another size (an operator's choice): that one applies. */
  | { kind: "overridden"; bytes: number }
  /** No way to restart in place (a runtime without `process.execve`): the engine's own sizing applies. */
  | { kind: "unsupported" };

export type ReExec = (file: string, args: string[], env: Record<string, string | undefined>) => never;

const isSet = (value: string | undefined): value is string => value !== undefined && value !== "";

/**
 * What a budget of `mb` megabytes means in this environment: pure, so the decision is tested without
 * restarting anything. `restart` is the environment to re-execute with when the runtime's settings (the
 * budget, the allocator's purge interval) are not in place yet; a variable an operator set is kept.
 */
export function planBudget(
  mb: number,
  env: Record<string, string | undefined>,
): { outcome: BudgetOutcome; restart?: Record<string, string | undefined> } {
  const bytes = Math.round(mb * 1024 * 1024);
  const wanted: Record<string, string> = {};
  if (mb > 0 && !isSet(env[engineRamSizeEnv])) wanted[engineRamSizeEnv] = String(bytes);
  if (!isSet(env[allocatorPurgeIntervalEnv])) wanted[allocatorPurgeIntervalEnv] = allocatorPurgeIntervalMs;
  const after = { ...env, ...wanted };
  const set = after[engineRamSizeEnv];
  const outcome: BudgetOutcome = !(mb > 0)
    ? { kind: "off" }
    : isSet(set) && Number(set) !== bytes
      ? { kind: "overridden", bytes: Number(set) }
      : { kind: "applied", bytes };
  return Object.keys(wanted).length > 0 ? { outcome, restart: after } : { outcome };
}

/**
 * Makes this process run with a `mb`-MB engine budget (0 = the machine's RAM) and the allocator's purge
 * interval, re-executing it in place if needed; call it first thing, before sockets, files or timers exist
 * (they would not survive, or would leak, across the restart).
 *
 * @example
 * const outcome = applyEngineMemoryBudget(256);  // returns in the restarted process
 * logger.info(describeBudget(outcome));
 */
export function applyEngineMemoryBudget(
  mb: number,
  reExec: ReExec | null = (process as { execve?: ReExec }).execve?.bind(process) ?? null,
): BudgetOutcome {
  const { outcome, restart } = planBudget(mb, process.env);
  if (restart === undefined) return outcome;
  if (reExec === null) return { kind: "unsupported" };
  return reExec(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], restart);
}

/** A log line for the outcome. */
export function describeBudget(outcome: BudgetOutcome): string {
  switch (outcome.kind) {
    case "off":
      return "engine memory budget: off (sized from the machine's RAM)";
    case "applied":
      return `engine memory budget: ${Math.round(outcome.bytes / 1024 / 1024)} MB`;
    case "overridden":
      return `engine memory budget: ${Math.round(outcome.bytes / 1024 / 1024)} MB from ${engineRamSizeEnv} in the environment (it wins over the configured budget)`;
    case "unsupported":
      return "engine memory budget: not applied (this runtime cannot restart itself in place); set BUN_JSC_forceRAMSize in the environment instead";
  }
}
