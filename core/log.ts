/**
 * The log between stages (readings log, windows log): publish keyed records, consume them in batches,
 * acknowledge what is done. Two implementations behind this interface, as aedes does with persistence:
 * `createMemoryLog` (embedded default, in this module) and the Pulsar log (core/pulsar/), used when
 * PULSAR_URL is set.
 */
import { errorMessage } from "../lib/errors.ts";
import { createLogger, type Logger } from "../lib/log.ts";

export interface KeyedRecord<T> {
  readonly key: string;
  readonly value: T;
}

export interface LogMessage<T> extends KeyedRecord<T> {
  /** Marks the record as processed; unacknowledged records of a durable log are redelivered after a crash. */
  ack(): void;
}

export type BatchHandler<T> = (batch: readonly LogMessage<T>[]) => Promise<void>;

export interface Subscription {
  /**
   * Stops handing out batches and resolves once the batch in hand is handled; acks still reach the log
   * until `stop()`, so a consumer can finish its work (publish, then ack) before its consumer is closed.
   * A durable log redelivers what it had not handed out; the in-process log hands out what it holds first.
   */
  pause(): Promise<void>;
  /** Pauses, then closes: what is not acked goes back to a durable log's subscription. */
  stop(): Promise<void>;
  /** Records waiting for the handler. */
  backlog(): number;
}

export interface RecordLog<T> {
  readonly name: string;
  /** Whether unacknowledged records survive this process (and are redelivered to the next one). */
  readonly durable: boolean;
  /** Resolves once the records are accepted by the log (durably, for a durable log). */
  publish(records: readonly KeyedRecord<T>[]): Promise<void>;
  subscribe(subscription: string, handler: BatchHandler<T>): Subscription;
  ready(): boolean;
  /**
   * Readiness of each connection behind the log (`producer`, `consumer {subscription}`), for /ready;
   * absent where there are none (the in-process log).
   */
  connections?(): Record<string, boolean>;
  close(): Promise<void>;
}

export interface MemoryLogOptions {
  /** Most records handed to a handler at once. */
  maxBatch?: number;
  /** publish() waits while a subscription has more than this many records queued (backpressure). */
  highWaterMark?: number;
  /** Delay before a failed handler batch is retried (the memory log never drops a record). */
  retryDelayMs?: number;
  logger?: Logger;
}

interface MemorySubscription<T> {
  queue: KeyedRecord<T>[];
  head: number;
  running: boolean;
  stopped: boolean;
  idle: Promise<void>;
  handler: BatchHandler<T>;
}

/**
 * In-process log for the embedded default. Not durable: a crash loses what is queued, which is why
 * production uses Pulsar. Records reach every subscription (one per named subscription), in publish order.
 */
export function createMemoryLog<T>(name: string, options: MemoryLogOptions = {}): RecordLog<T> {
  const maxBatch = options.maxBatch ?? 5_000;
  const highWaterMark = options.highWaterMark ?? 200_000;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const logger = options.logger ?? createLogger(`log:${name}`);
  const subscriptions = new Map<string, MemorySubscription<T>>();
  let waiters: Array<() => void> = [];
  let closed = false;

  const pending = (s: MemorySubscription<T>) => s.queue.length - s.head;
  const wakeWriters = () => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };

  async function drain(s: MemorySubscription<T>): Promise<void> {
    s.running = true;
    while (!s.stopped && pending(s) > 0) {
      const slice = s.queue.slice(s.head, s.head + maxBatch);
      const batch = slice.map((r) => ({ key: r.key, value: r.value, ack: () => {} }));
      try {
        await s.handler(batch);
        s.head += slice.length;
        // Compact now and then rather than shifting per record (shift is O(n)).
        if (s.head > 10_000 && s.head * 2 > s.queue.length) {
          s.queue = s.queue.slice(s.head);
          s.head = 0;
        }
        wakeWriters();
      } catch (error) {
        logger.warn(`handler failed; retrying the batch in ${retryDelayMs} ms`, {
          error: errorMessage(error),
        });
        await Bun.sleep(retryDelayMs);
      }
    }
    s.running = false;
  }

  const kick = (s: MemorySubscription<T>) => {
    if (!s.running && !s.stopped && pending(s) > 0) s.idle = drain(s);
  };

  return {
    name,
    durable: false,
    async publish(records) {
      if (closed) throw new Error(`log ${name} is closed`);
      for (const s of subscriptions.values()) {
        for (const r of records) s.queue.push(r);
        queueMicrotask(() => kick(s));
      }
      while ([...subscriptions.values()].some((s) => !s.stopped && pending(s) > highWaterMark)) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    subscribe(subscription, handler) {
      if (subscriptions.has(subscription)) throw new Error(`subscription ${subscription} on ${name} exists`);
      const s: MemorySubscription<T> = {
        queue: [],
        head: 0,
        running: false,
        stopped: false,
        idle: Promise.resolve(),
        handler,
      };
      subscriptions.set(subscription, s);
      const pause = async () => {
        // Let the queued records through first: nothing else holds them, and stopping must not lose what
        // was published.
        while (!s.stopped && pending(s) > 0 && !closed) {
          kick(s);
          await s.idle;
          if (pending(s) > 0) await Bun.sleep(1);
        }
        s.stopped = true;
        await s.idle;
      };
      return {
        backlog: () => pending(s),
        pause,
        async stop() {
          await pause();
          subscriptions.delete(subscription);
          wakeWriters();
        },
      };
    },
    ready: () => !closed,
    async close() {
      closed = true;
      for (const s of subscriptions.values()) s.stopped = true;
      await Promise.all([...subscriptions.values()].map((s) => s.idle));
      wakeWriters();
    },
  };
}
