/**
 * Health of one database writer (window store, dead-letter sink): how long its oldest unwritten row has
 * waited. A writer that keeps failing, or stays behind, is "stuck": /ready says so and so do the
 * `core_store_stuck` / `core_store_oldest_pending_seconds` gauges, instead of a silent retry loop.
 */
export interface WriteHealth {
  /** Rows are waiting from `now` on, unless older ones already are. */
  pending(now?: number): void;
  /** Everything that was waiting is written; `stillPending` when newer rows arrived meanwhile. */
  caughtUp(stillPending: boolean, now?: number): void;
  failed(reason: string): void;
  oldestPendingMs(now?: number): number;
  stuck(now?: number): boolean;
  /** Why it is stuck, for logs and /ready; undefined when it is not. */
  reason(now?: number): string | undefined;
}

export function createWriteHealth(stuckAfterMs: number): WriteHealth {
  let since: number | undefined;
  let failures = 0;
  let lastError = "";
  const oldestPendingMs = (now = Date.now()) => (since === undefined ? 0 : Math.max(0, now - since));
  const stuck = (now = Date.now()) => oldestPendingMs(now) > stuckAfterMs;
  return {
    pending(now = Date.now()) {
      since ??= now;
    },
    caughtUp(stillPending, now = Date.now()) {
      since = stillPending ? now : undefined;
      failures = 0;
    },
    failed(reason) {
      failures++;
      lastError = reason;
    },
    oldestPendingMs,
    stuck,
    reason(now = Date.now()) {
      if (!stuck(now)) return undefined;
      const waited = Math.round(oldestPendingMs(now) / 1000);
      return failures > 0
        ? `oldest unwritten row waiting ${waited} s, ${failures} failed attempts, last: ${lastError}`
        : `oldest unwritten row waiting ${waited} s`;
    },
  };
}
