import { PipelineError } from "../../lib/errors.ts";

/**
 * Exponential backoff with full jitter for reconnects: attempt n waits a random time in
 * [0, min(maxMs, initialMs * 2^n)], so many clients restarting together do not hit the broker in step.
 *
 * @example
 * const backoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
 * await Bun.sleep(backoff.next()); ... backoff.reset();
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 5_000 };

export class Backoff {
  private attempt = 0;
  constructor(private readonly options: BackoffOptions = defaultBackoff) {}

  /** Delay before the next attempt, in ms; grows with every call until `reset`. */
  next(): number {
    const ceiling = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(this.options.initialMs / 2, Math.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * The reconnect loop of our producer and consumer: waits with backoff and calls `open` until it succeeds
 * (`{ socket }`, backoff reset), the client is closed (undefined; a socket opened meanwhile is closed), or
 * `open` fails in a way retrying cannot mend (`{ fatal }`: auth, not-found). Connection and timeout errors
 * are retried: the broker may be restarting.
 */
export async function reopenWithBackoff<S extends { close(): void }>(
  backoff: Backoff,
  isClosed: () => boolean,
  open: () => Promise<S>,
): Promise<{ socket: S } | { fatal: PipelineError } | undefined> {
  while (!isClosed()) {
    await Bun.sleep(backoff.next());
    if (isClosed()) return undefined;
    try {
      const socket = await open();
      if (isClosed()) {
        socket.close();
        return undefined;
      }
      backoff.reset();
      return { socket };
    } catch (error) {
      if (error instanceof PipelineError && (error.code === "auth" || error.code === "not-found")) {
        return { fatal: error };
      }
    }
  }
  return undefined;
}
