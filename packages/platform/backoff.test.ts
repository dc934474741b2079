import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Backoff, backoffCeiling, retry } from "./backoff.ts";

const options = fc
  .record({ initialMs: fc.integer({ min: 1, max: 10_000 }), extra: fc.integer({ min: 0, max: 600_000 }) })
  .map(({ initialMs, extra }) => ({ initialMs, maxMs: initialMs + extra }));
/** Draws of `random`, in [0, 1) like Math.random, with both ends represented. */
const draws = fc.array(
  fc.oneof(
    fc.constant(0),
    fc.constant(1 - 2 ** -53),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  ),
  {
    minLength: 1,
    maxLength: 80,
  },
);

describe("full-jitter backoff", () => {
  test("every delay lies in [0, min(maxMs, initialMs · 2^n)), and a reset starts over", () => {
    fc.assert(
      fc.property(options, draws, fc.nat({ max: 80 }), (o, values, resetAt) => {
        let i = 0;
        const backoff = new Backoff(o, { random: () => values[i++ % values.length]! });
        let n = 0;
        for (let call = 0; call < values.length + 5; call++) {
          if (call === resetAt) {
            backoff.reset();
            n = 0;
          }
          const ceiling = Math.min(o.maxMs, o.initialMs * 2 ** n);
          const delay = backoff.next();
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(ceiling);
          n++;
        }
      }),
    );
  });

  test("the window doubles from initialMs to maxMs: a draw near 1 reaches the ceiling, 0 waits not at all", () => {
    fc.assert(
      fc.property(options, (o) => {
        const high = new Backoff(o, { random: () => 1 - 2 ** -53 });
        const low = new Backoff(o, { random: () => 0 });
        for (let n = 0; n < 40; n++) {
          const ceiling = backoffCeiling(o, n);
          expect(ceiling).toBe(Math.min(o.maxMs, o.initialMs * 2 ** n));
          expect(high.next()).toBeCloseTo(ceiling, 6);
          expect(low.next()).toBe(0);
        }
      }),
    );
  });

  test("real draws spread over the whole window, not only its upper half", () => {
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 1_000 });
    const delays = Array.from({ length: 2_000 }, () => backoff.next());
    expect(delays.filter((d) => d < 500).length).toBeGreaterThan(800);
    expect(delays.filter((d) => d >= 500).length).toBeGreaterThan(800);
  });

  test("wait sleeps the delay it returns", async () => {
    const slept: number[] = [];
    const backoff = new Backoff(
      { initialMs: 100, maxMs: 1_000 },
      { random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
    );
    expect([await backoff.wait(), await backoff.wait(), await backoff.wait()]).toEqual([50, 100, 200]);
    expect(slept).toEqual([50, 100, 200]);
  });
});

describe("retry", () => {
  const clock = (slept: number[]) => ({
    random: () => 0.5,
    sleep: async (ms: number) => void slept.push(ms),
  });

  test("retries until the action succeeds, waiting the backoff between attempts", async () => {
    const slept: number[] = [];
    const seen: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        if (++calls < 4) throw new Error(`failure ${calls}`);
        return "done";
      },
      { initialMs: 10, maxMs: 30, onRetry: (_error, attempt) => seen.push(attempt) },
      clock(slept),
    );
    expect(result).toBe("done");
    expect(slept).toEqual([5, 10, 15]);
    expect(seen).toEqual([1, 2, 3]);
  });

  test("gives up after `attempts` with the last error, and at once on an error not retryable", async () => {
    const slept: number[] = [];
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error(`failure ${calls}`);
    };
    await expect(retry(failing, { initialMs: 10, maxMs: 100, attempts: 3 }, clock(slept))).rejects.toThrow(
      "failure 3",
    );
    expect(slept).toHaveLength(2);
    calls = 0;
    const fatal = retry(failing, { initialMs: 10, maxMs: 100, retryable: () => false }, clock(slept));
    await expect(fatal).rejects.toThrow("failure 1");
    expect(slept).toHaveLength(2);
  });
});
