/**
 * The log between stages (readings log, windows log): publish keyed records, consume them in batches,
 * acknowledge what is done. Two implementations behind this interface, as aedes does with persistence:
 * `createMemoryLog` (embedded default, in this module) and the Pulsar log (packages/pulsar/), used when
 * PULSAR_URL is set. Both pass the one contract suite (packages/testing/log-contract.ts); what they promise alike:
 *
 * - per-key order: a subscription gets the records of one key in publish order (the memory log keeps the
 *   global order too, which nobody may rely on);
 * - a handler that throws gets the same batch again after `retryDelayMs`, less the records it acked
 *   before throwing, and nothing later is handed out meanwhile (so per-key order holds across failures);
 * - a record the codec cannot decode never reaches a handler: it is put to the dead-letter sink (reason
 *   `undecodable`, its bytes kept) and acked, since it would fail the same way every time;
 * - a subscription never ends by itself: a broken connection is resubscribed with backoff and
 *   `connections()` says why it is down meanwhile (/ready), until `stop()` or `close()`;
 * - use after `close()` throws `logClosedError` (a `connection` PipelineError), a second live subscription
 *   of one name `duplicateSubscriptionError` (`internal`); `close()` twice is a no-op.
 *
 * Where they differ, `durable` says so: un-acked records of a durable log survive the process and a stop
 * and are redelivered to the subscription's next consumer; the memory log forgets them (and so hands out
 * what it holds before `pause()` resolves, and makes `publish` wait for slow subscriptions instead).
 */
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import type { DeadLetter } from "@energy/contracts/records.ts";
import { createLogger, type Logger } from "@energy/platform/log.ts";

export interface KeyedRecord<T> {
  readonly key: string;
  readonly value: T;
}

/**
 * The acks of many records at once (a Pulsar pack, a handed-out batch): record `index` is acked with
 * `ack(index)`. What a consumer that acks long after the batch (the windower, a window later) keeps
 * instead of the message: one reference and one number per record, no closure or object.
 */
export interface AckGroup {
  /** Marks record `index` as processed; again is a no-op. */
  ack(index: number): void;
  /** Whether record `index` is acked. */
  acked(index: number): boolean;
}

export interface LogMessage<T> extends KeyedRecord<T> {
  /** Marks the record as processed; unacknowledged records of a durable log are redelivered after a crash. */
  ack(): void;
  /** `ack()` as (group, index): `acks.ack(ackIndex)` does the same without keeping the message. */
  readonly acks: AckGroup;
  readonly ackIndex: number;
}

/** A record whose ack is record `ackIndex` of an ack group: the one message type every log hands out. */
export class GroupedMessage<T> implements LogMessage<T> {
  constructor(
    readonly key: string,
    readonly value: T,
    readonly acks: AckGroup,
    readonly ackIndex: number,
  ) {}

  ack(): void {
    this.acks.ack(this.ackIndex);
  }
}

/** The acks of a batch by index, kept in memory (the memory log, scripted test logs). */
export class BatchAcks implements AckGroup {
  private readonly done: Uint8Array;

  constructor(
    size: number,
    /** Called on each record's first ack. */
    private readonly onAck?: (index: number) => void,
  ) {
    this.done = new Uint8Array(size);
  }

  ack(index: number): void {
    if (this.done[index] !== 0) return;
    this.done[index] = 1;
    this.onAck?.(index);
  }

  acked(index: number): boolean {
    return this.done[index] === 1;
  }
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

/** Bytes ↔ values of one log (`windowCodec` in packages/contracts/window-schema.ts, `readingsCodec`). */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/**
 * Where a log puts the records it cannot decode: the pipeline's dead-letter sink (`DeadLetterSink` in
 * core/dead-letters.ts, stored with the other dead letters), wrapped by its owner to count them.
 */
export interface DeadLetterTarget {
  put(letter: DeadLetter): void;
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
   * Readiness of each connection behind the log (`producer`, `consumer {subscription}`), for /ready: true,
   * or why it is down. Absent where there are none (the in-process log).
   */
  connections?(): Record<string, true | string>;
  close(): Promise<void>;
}

/** Publishing to or subscribing on a closed log: the same error from every implementation. */
export function logClosedError(name: string): PipelineError {
  return new PipelineError("connection", `log ${name} is closed`, {
    hint: "the log was closed (shutdown); open a new one",
  });
}

/** A second live subscription of one name on one log: a wiring bug, the same error everywhere. */
export function duplicateSubscriptionError(name: string, subscription: string): PipelineError {
  return new PipelineError("internal", `subscription ${subscription} on log ${name} exists`, {
    hint: "stop it first, or give the second consumer its own subscription name",
  });
}

/** Returned by `UndecodableRecords.decode` for a record it dead-lettered. */
export const deadLettered: unique symbol = Symbol("dead-lettered");

/**
 * One subscription's decoding: a record the codec rejects becomes a dead letter (reason `undecodable`,
 * source `log/{log}/{subscription}`, its bytes kept) instead of reaching the handler. Shared by every log
 * so the letters look the same whichever log carried the record. Logged once, then every 1000th.
 */
export class UndecodableRecords {
  private count = 0;

  constructor(
    private readonly log: string,
    private readonly subscription: string,
    private readonly target: DeadLetterTarget,
    private readonly logger: Logger,
  ) {}

  decode<T>(codec: Codec<T>, key: string | undefined, bytes: Uint8Array): T | typeof deadLettered {
    try {
      return codec.decode(bytes);
    } catch (error) {
      const detail = `key ${key === undefined ? "(none)" : JSON.stringify(key)}: ${errorMessage(error)}`;
      this.target.put({
        source: `log/${this.log}/${this.subscription}`,
        reason: "undecodable",
        detail,
        raw: bytes,
        receivedAtMs: Date.now(),
      });
      if (this.count++ % 1000 === 0)
        this.logger.error(
          `dead-lettered ${this.count === 1 ? "an undecodable record" : `${this.count} undecodable records`} of ${this.log} (subscription ${this.subscription})`,
          { key, bytes: bytes.byteLength, error: errorMessage(error) },
        );
      return deadLettered;
    }
  }
}

export interface MemoryLogOptions<T = unknown> {
  /** Most records handed to a handler at once. */
  maxBatch?: number;
  /** publish() waits while a subscription has more than this many records queued (backpressure), by `weigh`. */
  highWaterMark?: number;
  /**
   * What one record counts for against `highWaterMark` (default 1). The core's readings log counts
   * readings: memory goes with them, and a batch message's record holds 60 (a minute's burst of 10,000
   * sensors' batches was 600,000 readings queued at once under a bound of 200,000 records; issue 15).
   */
  weigh?: (value: T) => number;
  /** Delay before a failed handler batch is retried (the memory log never drops a record). */
  retryDelayMs?: number;
  logger?: Logger;
  /**
   * Keep records as the codec's bytes, encoded at publish and decoded per subscription, as a Pulsar topic
   * does (tests that want the wire form; the contract suite). Off by default: values are handed over as
   * they are, which is what the embedded core wants.
   */
  codec?: Codec<T>;
  /** Where records the codec cannot decode go (required with `codec`). */
  deadLetters?: DeadLetterTarget;
}

interface MemorySubscription<S> {
  queue: KeyedRecord<S>[];
  /** `weigh` of each record of `queue`, and their sum from `head` on. */
  weights: number[];
  queued: number;
  head: number;
  running: boolean;
  stopped: boolean;
  idle: Promise<void>;
  /** Starts draining unless it runs already. */
  kick: () => void;
}

/**
 * In-process log for the embedded default. Not durable: a crash loses what is queued, which is why
 * production uses Pulsar. Records reach every subscription (one per named subscription), in publish order.
 */
export function createMemoryLog<T>(name: string, options: MemoryLogOptions<T> = {}): RecordLog<T> {
  const logger = options.logger ?? createLogger(`log:${name}`);
  const { codec, deadLetters } = options;
  if (!codec)
    return memoryLog<T, T>(
      name,
      options,
      logger,
      (records) => records,
      () => (r) => r.value,
    );
  if (!deadLetters)
    throw new PipelineError("internal", `memory log ${name}: a codec needs a dead-letter target`, {
      hint: "pass deadLetters, where records the codec cannot decode go",
    });
  return memoryLog<T, Uint8Array>(
    name,
    options,
    logger,
    (records) => records.map((r) => ({ key: r.key, value: codec.encode(r.value) })),
    (subscription) => {
      const undecodable = new UndecodableRecords(name, subscription, deadLetters, logger);
      return (r) => undecodable.decode(codec, r.key, r.value);
    },
  );
}

/** The memory log queueing each record as `S`: the record itself, or its codec's bytes. */
function memoryLog<T, S>(
  name: string,
  options: MemoryLogOptions<T>,
  logger: Logger,
  /** What is queued for `records`: the records themselves, or their encoded copies. */
  store: (records: readonly KeyedRecord<T>[]) => readonly KeyedRecord<S>[],
  /** One subscription's way back from what is queued to the value (or a dead letter). */
  decoderFor: (subscription: string) => (r: KeyedRecord<S>) => T | typeof deadLettered,
): RecordLog<T> {
  const maxBatch = options.maxBatch ?? 5_000;
  const highWaterMark = options.highWaterMark ?? 200_000;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const weigh = options.weigh ?? (() => 1);
  const subscriptions = new Map<string, MemorySubscription<S>>();
  let waiters: Array<() => void> = [];
  let closed = false;

  const pending = (s: MemorySubscription<S>) => s.queue.length - s.head;
  const wakeWriters = () => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };

  /** The batch for `slice`, and which of its records were acked (a retry leaves those out). */
  const toBatch = (
    slice: readonly KeyedRecord<S>[],
    decode: (r: KeyedRecord<S>) => T | typeof deadLettered,
  ) => {
    const acked = new BatchAcks(slice.length);
    const batch: LogMessage<T>[] = [];
    for (let i = 0; i < slice.length; i++) {
      const r = slice[i]!;
      const value = decode(r);
      if (value === deadLettered) {
        acked.ack(i);
        continue;
      }
      batch.push(new GroupedMessage(r.key, value, acked, i));
    }
    return { batch, acked };
  };

  async function drain(
    s: MemorySubscription<S>,
    handler: BatchHandler<T>,
    decode: (r: KeyedRecord<S>) => T | typeof deadLettered,
  ) {
    s.running = true;
    while (!s.stopped && pending(s) > 0) {
      const slice = s.queue.slice(s.head, s.head + maxBatch);
      const { batch, acked } = toBatch(slice, decode);
      try {
        if (batch.length > 0) await handler(batch);
        for (let i = s.head; i < s.head + slice.length; i++) s.queued -= s.weights[i]!;
        s.head += slice.length;
        // Compact once at least half is handed out rather than shifting per record (shift is O(n)); still
        // amortised O(1) a record, and handed-out records are not kept alive meanwhile. Waiting for 10,000
        // of them kept a second of a 10,000-sensor stream reachable, so each record outlived the young
        // collections and piled up until a full one (bench ab, issue 15).
        if (s.head * 2 > s.queue.length) {
          s.queue = s.queue.slice(s.head);
          s.weights = s.weights.slice(s.head);
          s.head = 0;
        }
        wakeWriters();
      } catch (error) {
        // The retry leaves out what the handler acked before it threw (a durable log would not redeliver
        // those either). Only on failure: splicing the queue is O(n).
        const kept = slice.filter((_, i) => !acked.acked(i));
        if (kept.length < slice.length) {
          const weights = s.weights.slice(s.head, s.head + slice.length);
          for (let i = 0; i < weights.length; i++) if (acked.acked(i)) s.queued -= weights[i]!;
          s.queue.splice(s.head, slice.length, ...kept);
          s.weights.splice(s.head, slice.length, ...weights.filter((_, i) => !acked.acked(i)));
          wakeWriters();
        }
        logger.warn(`handler failed; retrying the batch in ${retryDelayMs} ms`, {
          error: errorMessage(error),
        });
        await Bun.sleep(retryDelayMs);
      }
    }
    s.running = false;
  }

  return {
    name,
    durable: false,
    async publish(records) {
      if (closed) throw logClosedError(name);
      // Encoded before anything is queued: a record the codec rejects fails the whole publish.
      const stored = store(records);
      const weights = records.map((r) => weigh(r.value));
      const weight = weights.reduce((sum, w) => sum + w, 0);
      for (const s of subscriptions.values()) {
        for (const r of stored) s.queue.push(r);
        for (const w of weights) s.weights.push(w);
        s.queued += weight;
        queueMicrotask(s.kick);
      }
      while ([...subscriptions.values()].some((s) => !s.stopped && s.queued > highWaterMark)) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    subscribe(subscription, handler) {
      if (closed) throw logClosedError(name);
      if (subscriptions.has(subscription)) throw duplicateSubscriptionError(name, subscription);
      const s: MemorySubscription<S> = {
        queue: [],
        weights: [],
        queued: 0,
        head: 0,
        running: false,
        stopped: false,
        idle: Promise.resolve(),
        kick: () => {},
      };
      const decode = decoderFor(subscription);
      const kick = () => {
        if (!s.running && !s.stopped && pending(s) > 0) s.idle = drain(s, handler, decode);
      };
      s.kick = kick;
      subscriptions.set(subscription, s);
      const pause = async () => {
        // Let the queued records through first: nothing else holds them, and stopping must not lose what
        // was published.
        while (!s.stopped && pending(s) > 0 && !closed) {
          kick();
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
          if (subscriptions.get(subscription) === s) subscriptions.delete(subscription);
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
