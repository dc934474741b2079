/**
 * The one contract of `RecordLog` (packages/logs/log.ts), as a suite every implementation runs, the way
 * aedes-persistence's abstract tests serve every aedes persistence: the memory log's test file
 * (packages/logs/log.test.ts) and the Pulsar log's (packages/logs/pulsar-log.test.ts) each call `recordLogContract` with a
 * harness that opens their log. Same tests, same assertions, so both logs throw the same errors and
 * dead-letter the same way.
 *
 * Where the logs legitimately differ, the harness declares it (`durable`, `reopenRepeatsAcked`,
 * `publishWaitsForSubscribers`, `breakConsumers`), and each declared difference is a test of its own that asserts the declared
 * behaviour: a log without a capability is checked to lack it, never silently skipped.
 *
 * @example
 * recordLogContract("memory log", {
 *   durable: false,
 *   reopenRepeatsAcked: false,
 *   publishWaitsForSubscribers: true,
 *   open: async (_topic, o) => createMemoryLog("contract", { ...o, highWaterMark: o.publishBound }),
 * });
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { DeadLetter } from "@energy/contracts/records.ts";
import type {
  AckGroup,
  Codec,
  DeadLetterTarget,
  LogMessage,
  RecordLog,
  Subscription,
} from "@energy/logs/log.ts";
import { expectPipelineError } from "./errors.ts";
import { until } from "./until.ts";

/** What a log under test is given; a harness maps these onto its own options. */
export interface ContractLogOptions {
  /** Records travel as bytes through this codec (the memory log takes its `codec` option). */
  codec: Codec<string>;
  deadLetters: DeadLetterTarget;
  /** Most records per handler call. */
  maxBatch: number;
  /** Delay before a failed batch is handed out again, ms. */
  retryDelayMs: number;
  /** Records a slow subscription may have queued before `publish` waits, where publish waits at all. */
  publishBound: number;
}

export interface RecordLogHarness {
  /** Un-acked records survive a stop and a reopen (and the log says so in `durable`). */
  durable: boolean;
  /**
   * A reopen may bring back acked records with the un-acked ones (the packed Pulsar log: a pack goes back
   * whole to a new consumer): at-least-once, not exactly the un-acked ones.
   */
  reopenRepeatsAcked: boolean;
  /**
   * `publish` waits while a subscription is `publishBound` records behind (the memory log holds records
   * for its subscriptions); false where the broker stores them whatever the subscriptions' pace.
   */
  publishWaitsForSubscribers: boolean;
  /** Opens a log on `topic`; opening the same topic again reaches the same records where `durable`. */
  open(topic: string, options: ContractLogOptions): Promise<RecordLog<string>>;
  /**
   * Ends every consumer connection of the logs opened so far and refuses new consumers for `ms` as the
   * broker refuses a consumer it does not authorize, so a consumer fails for good. Absent for a log
   * without connections (`connections` absent too).
   */
  breakConsumers?(ms: number): void;
  /** After the suite: remove what `open` created. */
  cleanup?(): Promise<void>;
}

/** A record value the contract codec encodes but refuses to decode: stands for a foreign producer's bytes. */
export const undecodablePrefix = "undecodable:";
/** A record value the contract codec refuses to encode. */
export const unencodablePrefix = "unencodable:";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Text codec of the contract's string records, refusing the two prefixes above. */
export const contractCodec: Codec<string> = {
  encode(value) {
    if (value.startsWith(unencodablePrefix))
      throw new PipelineError("validation", `contract codec: ${JSON.stringify(value)} is not encodable`);
    return encoder.encode(value);
  },
  decode(bytes) {
    const value = decoder.decode(bytes);
    if (value.startsWith(undecodablePrefix))
      throw new PipelineError("validation", `contract codec: ${JSON.stringify(value)} is not decodable`);
    return value;
  },
};

/** A dead-letter target that keeps what it is given, for assertions. */
export function collectDeadLetters(): DeadLetterTarget & { readonly letters: DeadLetter[] } {
  const letters: DeadLetter[] = [];
  return { letters, put: (letter) => void letters.push(letter) };
}

const records = (key: string, values: readonly string[]) => values.map((value) => ({ key, value }));

/** Registers the contract's tests for one implementation. */
export function recordLogContract(name: string, harness: RecordLogHarness): void {
  describe(`RecordLog contract: ${name}`, () => {
    const opened: RecordLog<string>[] = [];
    let topics = 0;
    const open = async (topic: string, options: Partial<ContractLogOptions> = {}) => {
      const log = await harness.open(topic, {
        codec: contractCodec,
        deadLetters: collectDeadLetters(),
        maxBatch: 50,
        retryDelayMs: 50,
        publishBound: 20,
        ...options,
      });
      opened.push(log);
      return log;
    };
    /** A topic no other test of this run uses. */
    const freshTopic = (what: string) => `${what}-${++topics}`;
    /** Subscribes and waits for the subscription to be connected (a durable log's consumer subscribes asynchronously). */
    const subscribe = async (
      log: RecordLog<string>,
      subscription: string,
      handler: (batch: readonly LogMessage<string>[]) => Promise<void>,
    ): Promise<Subscription> => {
      const s = log.subscribe(subscription, handler);
      await until(`subscription ${subscription} to connect`, () => log.ready());
      return s;
    };

    afterEach(async () => {
      for (const log of opened.splice(0)) await log.close();
    });
    afterAll(async () => {
      await harness.cleanup?.();
    });

    test("every record reaches every subscription once, in publish order per key, in batches of at most maxBatch", async () => {
      const log = await open(freshTopic("order"), { maxBatch: 7 });
      const got = { a: new Map<string, string[]>(), b: new Map<string, string[]>() };
      let largest = 0;
      let total = 0;
      for (const sub of ["a", "b"] as const) {
        await subscribe(log, sub, async (batch) => {
          largest = Math.max(largest, batch.length);
          for (const m of batch) {
            got[sub].set(m.key, [...(got[sub].get(m.key) ?? []), m.value]);
            total++;
            m.ack();
          }
        });
      }
      const keys = ["k0", "k1", "k2", "k3"];
      const sent = new Map(keys.map((k) => [k, [] as string[]]));
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 12 }, (_, i) => {
          const key = keys[(round + i) % keys.length]!;
          const value = `${key}#${sent.get(key)!.length}`;
          sent.get(key)!.push(value);
          return { key, value };
        });
        await log.publish(batch);
      }
      await until("120 deliveries", () => total >= 120);
      await Bun.sleep(200); // a duplicate would show by now
      expect(total).toBe(120);
      expect(got.a).toEqual(sent);
      expect(got.b).toEqual(sent);
      expect(largest).toBeLessThanOrEqual(7);
    }, 30_000);

    test("a handler that throws gets its batch again, less what it acked, before anything later of its keys", async () => {
      const log = await open(freshTopic("retry"));
      const calls: string[][] = [];
      const done: string[] = [];
      await subscribe(log, "s", async (batch) => {
        calls.push(batch.map((m) => m.value));
        if (calls.length === 1) {
          batch[0]!.ack(); // its work was done before the failure
          throw new Error("downstream is down");
        }
        for (const m of batch) {
          done.push(m.value);
          m.ack();
        }
      });
      await log.publish(records("k", ["v0", "v1", "v2", "v3"]));
      await until("the first call", () => calls.length >= 1);
      await log.publish(records("k", ["v4", "v5"]));
      const failed = calls[0]!;
      await until("every record", () => done.length + 1 >= 6);
      await Bun.sleep(200);
      // The acked one is not handed out again; the rest come first, then the later records, in order.
      expect(failed[0]).toBe("v0");
      expect(calls[1]!.slice(0, failed.length - 1)).toEqual(failed.slice(1));
      expect(done).toEqual(["v1", "v2", "v3", "v4", "v5"]);
    }, 30_000);

    test("a record the codec cannot decode is dead-lettered once per subscription and never reaches a handler", async () => {
      const deadLetters = collectDeadLetters();
      const log = await open(freshTopic("undecodable"), { deadLetters });
      const seen = { a: [] as string[], b: [] as string[] };
      for (const sub of ["a", "b"] as const)
        await subscribe(log, sub, async (batch) => {
          for (const m of batch) {
            seen[sub].push(m.value);
            m.ack();
          }
        });
      const poison = `${undecodablePrefix}written by someone else`;
      await log.publish(records("k", ["before", poison, "after"]));
      await until("both subscriptions", () => seen.a.length >= 2 && seen.b.length >= 2);
      await until("two dead letters", () => deadLetters.letters.length >= 2);
      await Bun.sleep(200);
      expect(seen).toEqual({ a: ["before", "after"], b: ["before", "after"] });
      expect(deadLetters.letters.map((l) => l.source).sort()).toEqual([
        `log/${log.name}/a`,
        `log/${log.name}/b`,
      ]);
      for (const letter of deadLetters.letters) {
        expect(letter.reason).toBe("undecodable");
        expect(new TextDecoder().decode(letter.raw)).toBe(poison);
        expect(letter.detail).toContain('key "k"');
        expect(letter.detail).toContain("not decodable");
      }
    }, 30_000);

    test("a value the codec cannot encode fails the whole publish: nothing of it is delivered", async () => {
      const log = await open(freshTopic("unencodable"));
      const seen: string[] = [];
      await subscribe(log, "s", async (batch) => {
        for (const m of batch) {
          seen.push(m.value);
          m.ack();
        }
      });
      await expectPipelineError(log.publish(records("k", ["a", `${unencodablePrefix}x`, "b"])), "validation");
      await log.publish(records("k", ["c"]));
      await until("c", () => seen.length >= 1);
      await Bun.sleep(200);
      expect(seen).toEqual(["c"]);
    }, 30_000);

    test("after pause() no batch is handed out, and the records in hand can still be acked", async () => {
      const log = await open(freshTopic("pause"));
      const held: LogMessage<string>[] = [];
      const sub = await subscribe(log, "s", async (batch) => {
        held.push(...batch);
      });
      await log.publish(records("k", ["a", "b", "c"]));
      await until("three records", () => held.length >= 3);
      await sub.pause();
      // Not waited for: the memory log makes publish wait while the paused subscription holds records.
      void log.publish(records("k", ["d"])).catch(() => {});
      await Bun.sleep(300);
      expect(held.map((m) => m.value)).toEqual(["a", "b", "c"]);
      for (const m of held) expect(() => m.ack()).not.toThrow();
      await sub.stop();
    }, 30_000);

    const reopened = !harness.durable
      ? "are gone after a stop and a reopen (not durable)"
      : harness.reopenRepeatsAcked
        ? "come back after a stop and a reopen, maybe with acked ones (durable, at-least-once)"
        : "come back after a stop and a reopen, the acked ones not (durable)";
    test(`un-acked records ${reopened}; acks through the compact handle (acks, ackIndex) count`, async () => {
      const topic = freshTopic("reopen");
      const first = await open(topic);
      expect(first.durable).toBe(harness.durable);
      const seen: string[] = [];
      // As the windower does: only the compact ack handle is kept, and the acks come after the batch.
      const handles: Array<{ value: string; acks: AckGroup; index: number }> = [];
      const sub = await subscribe(first, "s", async (batch) => {
        for (const m of batch) {
          seen.push(m.value);
          handles.push({ value: m.value, acks: m.acks, index: m.ackIndex });
        }
      });
      const values = ["v0", "v1", "v2", "v3", "v4", "v5"];
      await first.publish(records("k", values));
      await until("the first delivery", () => seen.length >= values.length);
      await sub.pause();
      for (const h of handles) {
        if (Number(h.value.slice(1)) % 2 !== 0) continue;
        h.acks.ack(h.index);
        h.acks.ack(h.index); // again: a no-op
      }
      expect(handles.map((h) => h.acks.acked(h.index))).toEqual(values.map((_, i) => i % 2 === 0));
      await sub.stop();
      await first.close();

      const again = await open(topic);
      const back: string[] = [];
      await subscribe(again, "s", async (batch) => {
        for (const m of batch) {
          back.push(m.value);
          m.ack();
        }
      });
      const unacked = ["v1", "v3", "v5"];
      if (harness.durable) await until("the redelivery", () => unacked.every((v) => back.includes(v)));
      await Bun.sleep(harness.durable ? 1_000 : 300); // acked records must not come back (or may)
      if (!harness.durable) expect(back).toEqual([]);
      else if (!harness.reopenRepeatsAcked) expect(back).toEqual(unacked);
      else {
        // Every un-acked record, in order, possibly among acked ones, each once.
        expect(back.filter((v) => unacked.includes(v))).toEqual(unacked);
        expect(back).toEqual(values.filter((v) => back.includes(v)));
      }
    }, 40_000);

    test(harness.publishWaitsForSubscribers
      ? "publish waits while a subscription is publishBound records behind (backpressure)"
      : "publish does not wait for a slow subscription: the log stores the records", async () => {
      const log = await open(freshTopic("backpressure"), { maxBatch: 5, publishBound: 10 });
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let handled = 0;
      const sub = await subscribe(log, "slow", async (batch) => {
        await gate;
        for (const m of batch) m.ack();
        handled += batch.length;
      });
      let published = false;
      const publishing = log
        .publish(
          records(
            "k",
            Array.from({ length: 50 }, (_, i) => `v${i}`),
          ),
        )
        .then(() => {
          published = true;
        });
      if (harness.publishWaitsForSubscribers) {
        await Bun.sleep(200);
        expect(published).toBe(false);
        expect(sub.backlog()).toBeGreaterThan(10);
      } else {
        await until("the publish", () => published);
        expect(handled).toBe(0);
      }
      release();
      await publishing;
      await until("all 50 records", () => handled >= 50);
      expect(published).toBe(true);
    }, 30_000);

    test("one live subscription per name: a second is refused until the first is stopped", async () => {
      const log = await open(freshTopic("duplicate"));
      const first = await subscribe(log, "s", async (batch) => {
        for (const m of batch) m.ack();
      });
      const refusal = await expectPipelineError(() => log.subscribe("s", async () => {}), "internal");
      expect(refusal.message).toContain("subscription s");
      await first.stop();
      const second = log.subscribe("s", async () => {});
      await second.stop();
    }, 30_000);

    test("close(): not ready, publish and subscribe refuse with the same typed error, close again is a no-op", async () => {
      const log = await open(freshTopic("close"));
      let handled = 0;
      await subscribe(log, "s", async (batch) => {
        for (const m of batch) m.ack();
        handled += batch.length;
      });
      await log.publish(records("k", ["a", "b"]));
      await until("two records", () => handled >= 2);
      await log.close();
      expect(log.ready()).toBe(false);
      const published = await expectPipelineError(log.publish(records("k", ["c"])), "connection");
      expect(published.message).toContain(`log ${log.name} is closed`);
      const subscribed = await expectPipelineError(() => log.subscribe("t", async () => {}), "connection");
      expect(subscribed.message).toBe(published.message);
      await log.close();
      await Bun.sleep(100);
      expect(handled).toBe(2);
    }, 30_000);

    if (harness.breakConsumers) {
      const breakConsumers = harness.breakConsumers.bind(harness);
      test("a consumer that fails for good is replaced: /ready says why meanwhile, and nothing is lost", async () => {
        const log = await open(freshTopic("resubscribe"));
        const seen: string[] = [];
        await subscribe(log, "s", async (batch) => {
          for (const m of batch) {
            seen.push(m.value);
            m.ack();
          }
        });
        await log.publish(records("k", ["before"]));
        await until("the first record", () => seen.length >= 1);
        breakConsumers(2_000);
        // Every state /ready showed for the consumer while it was down.
        const reasons = new Set<string>();
        const watch = setInterval(() => {
          const state = log.connections?.()["consumer s"];
          if (typeof state === "string") reasons.add(state);
        }, 5);
        try {
          await until("the consumer to be reported down", () => !log.ready());
          await log.publish(records("k", ["during"]));
          await until("the consumer to fail for good", () =>
            [...reasons].some((r) => /failed|cannot subscribe/.test(r)),
          );
          await until("the resubscribed consumer", () => log.ready(), 20_000);
        } finally {
          clearInterval(watch);
        }
        await log.publish(records("k", ["after"]));
        await until("every record", () => seen.includes("during") && seen.includes("after"), 20_000);
        expect(seen).toEqual(["before", "during", "after"]);
        // Each names the subscription it is about.
        for (const reason of reasons) expect(reason).toMatch(/\bs\b/);
      }, 60_000);
    } else {
      test("has no connections: no per-connection readiness, ready() until closed", async () => {
        const log = await open(freshTopic("connections"));
        expect(log.connections).toBeUndefined();
        expect(log.ready()).toBe(true);
        await log.close();
        expect(log.ready()).toBe(false);
      });
    }
  });
}
