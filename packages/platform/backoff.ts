/**
 * Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter"): the delay before retry n
 * (n = 0, 1, …) is uniform in [0, min(maxMs, initialMs · 2^n)). Clients that lost the same server at the same
 * moment spread their retries over the whole window instead of arriving together, which a deterministic or
 * half-jittered schedule does not do; the price is that a retry may come at once, which is why the window
 * still grows with every failure.
 *
 * `random` and `sleep` are injectable so a test can check the schedule without waiting for it.
 *
 * @example
 * const backoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
 * await backoff.wait(); ... backoff.reset(); // after a success
 *
 * await retry(() => upload(), { initialMs: 250, maxMs: 8_000, attempts: 6 });
 */
import type { Random } from "./random.ts";

export interface BackoffOptions {
  /** Upper bound of the first delay, ms; each failure doubles it. */
  initialMs: number;
  /** Largest upper bound, ms. */
  maxMs: number;
}

/** What a backoff draws its delays from and waits with; tests pass their own. */
export interface BackoffClock {
  random?: Random;
  sleep?: (ms: number) => Promise<unknown>;
}

/** Reconnect schedule of long-lived clients (Pulsar producers, consumers, subscriptions). */
export const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 5_000 };

/** Past 2^30 the ceiling is maxMs for any sane option, and 2^n would lose precision. */
const maxExponent = 30;

/** The ceiling of the delay before retry `attempt` (0-based): min(maxMs, initialMs · 2^attempt). */
export function backoffCeiling(options: BackoffOptions, attempt: number): number {
  return Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, maxExponent));
}

/** A full-jitter delay before retry `attempt` (0-based), in [0, backoffCeiling). */
export function fullJitter(options: BackoffOptions, attempt: number, random: Random = Math.random): number {
  return random() * backoffCeiling(options, attempt);
}

/** The schedule of one client: each `next` widens the window until `reset` (after a success). */
export class Backoff {
  private attempt = 0;
  private readonly random: Random;
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(
    private readonly options: BackoffOptions = defaultBackoff,
    clock: BackoffClock = {},
  ) {
    this.random = clock.random ?? Math.random;
    this.sleep = clock.sleep ?? Bun.sleep;
  }

  /** Delay before the next attempt, in ms; the window grows with every call until `reset`. */
  next(): number {
    const delay = fullJitter(this.options, this.attempt, this.random);
    this.attempt = Math.min(this.attempt + 1, maxExponent);
    return delay;
  }

  /** Sleeps the next delay; resolves with it (for a log line). */
  async wait(): Promise<number> {
    const delay = this.next();
    await this.sleep(delay);
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }
}

export interface RetryOptions extends BackoffOptions {
  /** Attempts in all, the first included; unbounded when absent. */
  attempts?: number;
  /** Whether an error is worth another attempt; every error is when absent. */
  retryable?: (error: unknown) => boolean;
  /** Called before each wait with the error and the attempt (1-based) that failed. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `action` until it resolves, waiting a full-jitter backoff after each failure; rethrows the error of
 * the last attempt, or at once an error `retryable` refuses.
 */
export async function retry<T>(
  action: () => Promise<T>,
  options: RetryOptions,
  clock: BackoffClock = {},
): Promise<T> {
  const backoff = new Backoff(options, clock);
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (options.retryable && !options.retryable(error)) throw error;
      if (options.attempts !== undefined && attempt >= options.attempts) throw error;
      const delay = backoff.next();
      options.onRetry?.(error, attempt, delay);
      await (clock.sleep ?? Bun.sleep)(delay);
    }
  }
}
