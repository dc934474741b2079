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
