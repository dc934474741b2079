import { expect, test } from "bun:test";
import { createWriteHealth } from "./write-health.ts";

test("a writer is stuck once its oldest unwritten row waited longer than the limit, and says why", () => {
  const h = createWriteHealth(30_000);
  expect(h.stuck(0)).toBe(false);
  h.pending(1_000);
  h.pending(5_000); // a later row does not make the oldest younger
  h.failed("connection refused");
  expect(h.oldestPendingMs(20_000)).toBe(19_000);
  expect(h.stuck(31_000)).toBe(false);
  expect(h.stuck(31_001)).toBe(true);
  expect(h.reason(40_000)).toBe(
    "oldest unwritten row waiting 39 s, 1 failed attempts, last: connection refused",
  );
  h.caughtUp(false, 41_000);
  expect(h.stuck(100_000)).toBe(false);
  expect(h.oldestPendingMs(100_000)).toBe(0);
  h.pending(50_000);
  h.caughtUp(true, 60_000); // newer rows arrived meanwhile: their clock starts now
  expect(h.oldestPendingMs(70_000)).toBe(10_000);
});
