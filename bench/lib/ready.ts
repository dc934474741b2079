/** Waiting for a process the benchmarks started to answer /ready. */
import { PipelineError } from "@energy/contracts/errors.ts";

/**
 * Resolves once `http://127.0.0.1:<port>/ready` answers 200; throws if the process exits first (its code
 * in the message) or after `timeoutMs`.
 */
export async function waitReady(
  port: number,
  process: { readonly exited: Promise<number> },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | undefined;
  void process.exited.then((code) => (exited = code));
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new PipelineError("internal", `the core exited with code ${exited} before it was ready`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(100);
  }
  throw new PipelineError("timeout", `the core was not ready within ${timeoutMs} ms`);
}
