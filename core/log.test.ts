import { describe, expect, test } from "bun:test";
import { silent } from "../test/fixtures.ts";
import { createMemoryLog } from "./log.ts";

const records = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 3}`, value: from + i }));

describe("memory log", () => {
  test("delivers every record to every subscription, in order, in bounded batches", async () => {
    const log = createMemoryLog<number>("t", { maxBatch: 7 });
    const a: number[] = [];
    const b: number[] = [];
    const sizes: number[] = [];
    const sa = log.subscribe("a", async (batch) => {
      sizes.push(batch.length);
      for (const m of batch) a.push(m.value);
    });
    const sb = log.subscribe("b", async (batch) => {
      for (const m of batch) b.push(m.value);
    });
    await log.publish(records(20));
    await log.publish(records(5, 20));
    await sa.stop();
    await sb.stop();
    const expected = Array.from({ length: 25 }, (_, i) => i);
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
  });

  test("a failing handler is retried, not skipped", async () => {
    const log = createMemoryLog<number>("t", { retryDelayMs: 5, logger: silent });
    let failures = 0;
    const seen: number[] = [];
    const s = log.subscribe("a", async (batch) => {
      if (failures < 2) {
        failures++;
        throw new Error("store down");
      }
      for (const m of batch) seen.push(m.value);
    });
    await log.publish(records(3));
    await s.stop();
    expect(failures).toBe(2);
    expect(seen).toEqual([0, 1, 2]);
  });

  test("publish waits while a subscriber is over the high-water mark", async () => {
    const log = createMemoryLog<number>("t", { highWaterMark: 10, maxBatch: 5 });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = log.subscribe("slow", async () => {
      await gate;
    });
    let published = false;
    const p = log.publish(records(50)).then(() => {
      published = true;
    });
    await Bun.sleep(20);
    expect(published).toBe(false);
    expect(s.backlog()).toBe(50);
    release();
    await p;
    expect(published).toBe(true);
    await s.stop();
    expect(s.backlog()).toBe(0);
  });
});
