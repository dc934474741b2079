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
 * arguments and open descriptors: `process.execve`), before it opens anything.
 */

/** The environment variable JSC reads its RAM size from, bytes. */
export const engineRamSizeEnv = "BUN_JSC_forceRAMSize";

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

/**
 * What to do for a budget of `mb` megabytes given the environment: pure, so the decision is tested
 * without restarting anything. `restart` holds the environment to re-execute with.
 */
export function planBudget(
  mb: number,
  env: Record<string, string | undefined>,
): BudgetOutcome | { kind: "restart"; bytes: number; env: Record<string, string | undefined> } {
  if (!(mb > 0)) return { kind: "off" };
  const bytes = Math.round(mb * 1024 * 1024);
  const set = env[engineRamSizeEnv];
  if (set !== undefined && set !== "") {
    const current = Number(set);
    return current === bytes ? { kind: "applied", bytes } : { kind: "overridden", bytes: current };
  }
  return { kind: "restart", bytes, env: { ...env, [engineRamSizeEnv]: String(bytes) } };
}

/**
 * Makes this process run with a `mb`-MB engine budget, re-executing it in place if needed; call it first
 * thing, before sockets, files or timers exist (they would not survive, or would leak, across the restart).
 *
 * @example
 * const outcome = applyEngineMemoryBudget(256);  // returns in the restarted process
 * logger.info(describeBudget(outcome));
 */
export function applyEngineMemoryBudget(
  mb: number,
  reExec: ReExec | null = (process as { execve?: ReExec }).execve?.bind(process) ?? null,
): BudgetOutcome {
  const plan = planBudget(mb, process.env);
  if (plan.kind !== "restart") return plan;
  if (reExec === null) return { kind: "unsupported" };
  return reExec(
    process.execPath,
    [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    plan.env,
  );
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
