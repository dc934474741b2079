import { describe, expect, test } from "bun:test";
import { silent } from "@energy/testing/fixtures.ts";
import { recordLogContract } from "@energy/testing/log-contract.ts";
import { until } from "@energy/testing/until.ts";
import { createMemoryLog } from "./log.ts";

recordLogContract("memory log", {
  durable: false,
  reopenRepeatsAcked: false,
  publishWaitsForSubscribers: true,
  open: async (_topic, o) =>
    createMemoryLog<string>("contract", {
      codec: o.codec,
      deadLetters: o.deadLetters,
      maxBatch: o.maxBatch,
      retryDelayMs: o.retryDelayMs,
      highWaterMark: o.publishBound,
      logger: silent,
    }),
});

const records = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 3}`, value: from + i }));

// The default: values handed over as they are, no codec (the contract runs the codec path).
describe("memory log without a codec", () => {
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

  test("a failing handler is retried, not skipped; what it acked before failing is not handed out again", async () => {
    const log = createMemoryLog<number>("t", { retryDelayMs: 5, logger: silent });
    let failures = 0;
    const seen: number[] = [];
    const s = log.subscribe("a", async (batch) => {
      if (failures < 2) {
        failures++;
        batch[0]!.ack();
        throw new Error("store down");
      }
      for (const m of batch) seen.push(m.value);
    });
    await log.publish(records(4));
    await s.stop();
    expect(failures).toBe(2);
    expect(seen).toEqual([2, 3]);
  });

  test("a codec without a dead-letter target is refused", () => {
    const codec = { encode: (v: number) => new Uint8Array([v]), decode: (b: Uint8Array) => b[0]! };
    expect(() => createMemoryLog<number>("t", { codec })).toThrow("needs a dead-letter target");
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

  test("the high-water mark counts what `weigh` says a record weighs", async () => {
    const log = createMemoryLog<number[]>("t", { highWaterMark: 100, maxBatch: 1, weigh: (v) => v.length });
    const taken: number[] = [];
    let release: () => void = () => {};
    const s = log.subscribe("slow", async (batch) => {
      await new Promise<void>((r) => {
        release = r;
      });
      for (const m of batch) taken.push(m.value.length);
    });
    const heavy = (n: number) => [{ key: "k", value: Array.from({ length: n }, () => 0) }];
    // Two records of 60: 120 queued is over 100, although two records are far below it.
    let published = 0;
    for (const n of [60, 60])
      await Promise.race([log.publish(heavy(n)).then(() => published++), Bun.sleep(20)]);
    expect(published).toBe(1);
    // One handed out and handled: 60 remain queued, under the mark, so the waiting publish returns.
    release();
    await until("the second publish to return", () => published === 2, 2_000);
    release();
    await s.stop();
    expect(taken).toEqual([60, 60]);
  });
});
