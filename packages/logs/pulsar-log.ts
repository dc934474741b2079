/**
 * `RecordLog<T>` (packages/logs/log.ts) over a real Pulsar topic, built on our WebSocket client: the durable
 * implementation used when PULSAR_URL is set.
 *
 * - publish: every record is sent with key = record key (partition by key hash, per-key order) and
 *   `publish` resolves once Pulsar has acknowledged each one, i.e. it is stored in BookKeeper.
 * - subscribe: one consumer per subscription, in pull mode (see below); the handler gets what is buffered,
 *   up to `maxBatch`, waiting at most `batchMaxDelayMs` for more after the first message. `ack()` acks that
 *   Pulsar message. A handler that throws gets the batch's un-acked records again after `retryDelayMs`,
 *   before anything later, as from the memory log: a negative ack would bring them back after newer
 *   records of their keys (per-key order) once `negativeAckRedeliveryDelayMs` passed.
 * - a record the codec cannot decode is dead-lettered (`deadLetters`, reason `undecodable`) and acked.
 * - a consumer that fails for good (auth refused, topic deleted: the client gives up reconnecting) is
 *   replaced: the subscription resubscribes with backoff, and `connections()` says why it is down meanwhile.
 * - delivery is at-least-once: a record whose ack was not sent (crash, stop before ack) comes again.
 * - with `metrics`, the `pulsar_client_*` counters (label `topic` = the log's short name) and the backlog
 *   of our subscriptions, sampled from the admin API's topic stats every `backlogSampleMs`.
 *
 * Packing (`packing`, on for the readings topic, off for the windows topic; packages/logs/topics.ts):
 * records bound for the same partition within `maxDelayMs` (or `maxMessages` / `maxBytes`) travel as one
 * Pulsar message, each record keeping its key inside the pack (format in socket.ts). Why: through the
 * WebSocket proxy every Pulsar message costs the broker ~100 µs of CPU (one frame, one JSON parse, one
 * base64 decode, one internal send per message and again per ack; bench/PULSAR.md), so one message per
 * MQTT reading capped streaming at ~3,000–7,000 sensors per 2-core machine; a pack of N records costs
 * about one message. The log routes each key to a partition itself (`partitionOf`, the same hash as
 * Pulsar's Java client, so packed and unpacked producers agree) and keeps one producer per partition,
 * since a pack of many keys has no key the broker could route by. Per-key order holds: one key → one
 * partition → one producer → one socket, packs written in send order. The consumer unpacks and gives
 * every record its own ack; the Pulsar message is acked when all its records are. A pack that comes back
 * to the same consumer (reconnect) hands out only its records not acked yet (consumer.ts). One that
 * goes to another consumer (crash, failover to another core) brings back all its records, also those
 * already acked: for the windower they are duplicates of an open window (counted once), or readings of
 * a closed window (counted late, dead-lettered; the stored row is not touched since an upsert with fewer
 * readings never replaces a window) — the same whole-batch redelivery Pulsar's own batching has without
 * batch-index acks. Only our consumer understands a pack: never pack a topic other clients read (the windows topic
 * is Avro, one window per message, readable by any Pulsar client).
 *
 * Why Failover and pull mode by default: the windower acks a readings record only once the window holding
 * it is published, so a consumer holds up to a window's worth of records un-acked (10,000 sensors × 60
 * records). In push mode the WebSocket proxy stops delivering after `receiverQueueSize` (≤ 1000) un-acked
 * messages, and on Shared / Key_Shared subscriptions the broker stops at `maxUnackedMessagesPerConsumer`
 * (50,000 in 4.0's standalone.conf): both would stall the windower until windows close by idle timeout.
 * Pull mode and Failover (no un-acked limit; one active consumer per partition, in order) avoid both;
 * scale out by partitions.
 *
 * @example
 * const windows = await createPulsarLog<WindowRecord>({
 *   name: "windows", topic: "persistent://public/default/windows", partitions: 4,
 *   codec: windowCodec, schema: { type: "AVRO", schema: windowSchemaJson },
 * });
 * await windows.publish([{ key: "7", value: w }]);
 */

import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { Backoff, defaultBackoff } from "@energy/platform/backoff.ts";
import { createLogger, type Logger } from "@energy/platform/log.ts";
import { type PulsarMetrics, zeroPulsarCounters } from "@energy/platform/metrics.ts";
import { PulsarAdmin, type SchemaDefinition } from "@energy/pulsar/admin.ts";
import {
  type ConsumerOptions,
  type DeliveredPack,
  PulsarConsumer,
  type PulsarMessage,
  type SubscriptionType,
} from "@energy/pulsar/consumer.ts";
import {
  type PackingOptions,
  type ProducerOptions,
  PulsarProducer,
  type SendTracker,
} from "@energy/pulsar/producer.ts";
import { parseTopic, partitionName } from "@energy/pulsar/topic.ts";
import {
  type AckGroup,
  type BatchHandler,
  type Codec,
  type DeadLetterTarget,
  deadLettered,
  duplicateSubscriptionError,
  GroupedMessage,
  type KeyedRecord,
  type LogMessage,
  logClosedError,
  type RecordLog,
  type Subscription,
  UndecodableRecords,
} from "./log.ts";
import { SendWindow } from "./send-window.ts";

export type { Codec } from "./log.ts";

export interface PulsarLogOptions<T> {
  /** Log name, for logs and errors. */
  name: string;
  /** Full topic name; created as a partitioned topic with `partitions` partitions if missing. */
  topic: string;
  /** Web service URL, default `http://127.0.0.1:8080`. */
  url?: string;
  partitions: number;
  codec: Codec<T>;
  /** Where records the codec cannot decode go (reason `undecodable`); they are acked once put there. */
  deadLetters: DeadLetterTarget;
  /** Registered in Pulsar's schema registry at start (idempotent when unchanged). */
  schema?: SchemaDefinition;
  /** Default Failover (see module doc). */
  subscriptionType?: SubscriptionType;
  /** Where a new subscription starts; default Earliest, so records published before it are not skipped. */
  initialPosition?: "Earliest" | "Latest";
  /** Most messages per handler call, default 1000. */
  maxBatch?: number;
  /** Wait for more messages after the first of a batch, ms, default 5. */
  batchMaxDelayMs?: number;
  /** Sends outstanding across all publishes before `publish` waits (backpressure), default 1000. */
  maxInFlight?: number;
  /** Messages granted to a consumer at a time (pull mode), ≤ 1000, default 1000. */
  receiverQueueSize?: number;
  /** Delay before a batch whose handler threw is handed out again, ms, default 500 (as the memory log). */
  retryDelayMs?: number;
  /**
   * Pack records bound for the same partition into one Pulsar message (see the module doc); default off.
   * Only for topics nobody but this log reads.
   */
  packing?: Omit<PackingOptions, "mixKeys"> | false;
  /** Extra producer settings (batching, send timeout, …). */
  producer?: Omit<ProducerOptions, "topic" | "url" | "maxInFlight" | "token" | "packing">;
  /**
   * Extra consumer settings (ack timeout, transport, …); its `backoff` also paces resubscribing after a
   * consumer failed for good. Pulsar's own dead-letter topic is not offered: undecodable records go to
   * `deadLetters` with the pipeline's other dead letters, and a failing handler is retried in place.
   */
  consumer?: Omit<
    ConsumerOptions,
    | "topic"
    | "url"
    | "subscription"
    | "subscriptionType"
    | "initialPosition"
    | "token"
    | "pullMode"
    | "negativeAckRedeliveryDelayMs"
    | "maxRedeliverCount"
    | "deadLetterTopic"
  >;
  /** Pause before closing a consumer so the broker-side client flushes acks it groups (100 ms), default 300. */
  ackFlushMs?: number;
  token?: string;
  logger?: Logger;
  /** The `pulsar_client_*` catalogue (packages/platform/metrics.ts); counted under `topic` = `name`. */
  metrics?: PulsarMetrics;
  /** How often the subscriptions' backlog is read from the admin API for the metrics, default 5 s. */
  backlogSampleMs?: number;
}

export const defaultPulsarLog = {
  subscriptionType: "Failover" as SubscriptionType,
  maxBatch: 1000,
  batchMaxDelayMs: 5,
  maxInFlight: 1000,
  receiverQueueSize: 1000,
  retryDelayMs: 500,
  ackFlushMs: 300,
  backlogSampleMs: 5_000,
} as const;

/** Creates the topic (and schema) if needed, connects the producer, and returns the log. */
export async function createPulsarLog<T>(options: PulsarLogOptions<T>): Promise<RecordLog<T>> {
  const logger = options.logger ?? createLogger(`log:${options.name}`);
  const admin = new PulsarAdmin({
    ...(options.url ? { url: options.url } : {}),
    ...(options.token ? { token: options.token } : {}),
  });
  const topic = (await admin.ensurePartitionedTopic(options.topic, options.partitions)).full;
  if (options.schema) await admin.uploadSchema(topic, options.schema);
  const maxInFlight = options.maxInFlight ?? defaultPulsarLog.maxInFlight;
  const connect = (target: string, packing: PackingOptions | undefined) =>
    PulsarProducer.create({
      ...options.producer,
      topic: target,
      maxInFlight,
      ...(packing ? { packing } : {}),
      ...(options.url ? { url: options.url } : {}),
      ...(options.token ? { token: options.token } : {}),
    });
  const packing = options.packing ? { ...options.packing, mixKeys: true } : undefined;
  const producers: PulsarProducer[] = [];
  try {
    if (packing) {
      for (let i = 0; i < options.partitions; i++)
        producers.push(await connect(partitionName(parseTopic(topic), i).full, packing));
    } else producers.push(await connect(topic, undefined));
  } catch (error) {
    await Promise.all(producers.map((p) => p.close()));
    throw error;
  }
  return new PulsarLog(options, topic, producers, maxInFlight, logger, admin);
}

/**
 * The partition Pulsar's Java client (and so the WebSocket proxy's producer) picks for a key with its
 * default `JavaStringHash` scheme: `String.hashCode()` (UTF-16 code units, 32-bit wrap), sign bit cleared,
 * modulo the partition count. Checked against the broker's own routing in log.test.ts.
 *
 * @example
 * partitionOf("7", 4) // 3: "7".hashCode() = 55
 */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
  return (hash & 0x7fffffff) % partitions;
}

class PulsarLog<T> implements RecordLog<T> {
  readonly name: string;
  readonly durable = true;
  private readonly subscriptions = new Set<PulsarSubscription<T>>();
  private readonly window: SendWindow;
  /** Publishes issue their sends one after another, so records keep call order per key. */
  private submitting: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly sampler: ReturnType<typeof setInterval> | undefined;
  private sampling = false;
  /** Producer reconnects already counted in the metric (the client keeps a running total). */
  private countedReconnects = 0;

  constructor(
    private readonly options: PulsarLogOptions<T>,
    private readonly topic: string,
    /** One on the partitioned topic (the broker routes by key), or one per partition when packing. */
    private readonly producers: readonly PulsarProducer[],
    maxInFlight: number,
    private readonly logger: Logger,
    private readonly admin: PulsarAdmin,
  ) {
    this.name = options.name;
    this.window = new SendWindow(maxInFlight);
    if (options.metrics) {
      zeroPulsarCounters(options.metrics, this.name);
      this.sampler = setInterval(
        () => void this.sample(),
        options.backlogSampleMs ?? defaultPulsarLog.backlogSampleMs,
      );
    }
  }

  /**
   * Costs O(1) promises and closures per call, not per record (one `PublishBatch`, the chain link below,
   * and a window wait per chunk of slots): at 10,000 readings/s the per-record promises, closures and
   * derived promises of a send each were most of the core's heap (~200,000 promises live, bench ab).
   */
  async publish(records: readonly KeyedRecord<T>[]): Promise<void> {
    if (this.closed) throw logClosedError(this.name);
    // Encode everything first: a record the codec rejects fails the publish before anything is sent.
    const payloads = records.map((r) => this.options.codec.encode(r.value));
    if (records.length === 0) return;
    const batch = new PublishBatch(this.window, this.options.metrics, this.name);
    const submit = this.submitting.then(() => this.submit(records, payloads, batch));
    // A link that cannot reject: a publish failing here must not fail every later one.
    this.submitting = submit.catch(() => {});
    await submit;
    // Settle every send before failing: a publish that rejects while some of its sends are still queued
    // in a producer gets retried by its caller (the bridge) behind them, i.e. the same records twice and
    // older records of a key after newer ones (bench chaos pulsar-down-60s: 2,000 in-order readings late).
    await batch.settled;
  }

  /**
   * Hands a publish's records to the producers as window slots allow, in order. Runs for one publish at a
   * time (the `submitting` chain), so records keep call order per key across publishes. Once a send of
   * this publish failed, the rest are not sent: the caller retries the whole publish, and a later record
   * stored now would precede the retried earlier ones of its key (per-key order). Never rejects: a failure
   * is the batch's.
   */
  private async submit(
    records: readonly KeyedRecord<T>[],
    payloads: readonly Uint8Array[],
    batch: PublishBatch,
  ): Promise<void> {
    const producers = this.producers;
    let i = 0;
    while (i < records.length && batch.failure === undefined) {
      const granted = this.window.take(records.length - i);
      const slots = typeof granted === "number" ? granted : await granted;
      if (batch.failure !== undefined) {
        this.window.release(slots);
        break;
      }
      const end = i + slots;
      for (; i < end; i++) {
        const key = records[i]!.key;
        const producer =
          producers.length === 1 ? producers[0]! : producers[partitionOf(key, producers.length)]!;
        try {
          producer.sendTracked(payloads[i]!, batch, { key });
        } catch (error) {
          // Closed, failed for good, or a record too large for a frame: nothing of it was sent.
          batch.refused(error);
          this.window.release(end - i);
          break;
        }
        batch.sent++;
      }
    }
    batch.submitted();
  }

  subscribe(subscription: string, handler: BatchHandler<T>): Subscription {
    if (this.closed) throw logClosedError(this.name);
    for (const live of this.subscriptions)
      if (live.name === subscription) throw duplicateSubscriptionError(this.name, subscription);
    const s = new PulsarSubscription<T>(this.options, this.topic, subscription, handler, this.logger, () =>
      this.subscriptions.delete(s),
    );
    this.subscriptions.add(s);
    return s;
  }

  ready(): boolean {
    return !this.closed && this.producersOpen() && [...this.subscriptions].every((s) => s.status() === true);
  }

  connections(): Record<string, true | string> {
    const failure = this.producers.find((p) => p.failure)?.failure;
    const states: Record<string, true | string> = {
      producer: this.closed
        ? `log ${this.name} is closed`
        : failure
          ? `producer of ${this.topic} failed for good (${failure.message}); restart once fixed`
          : this.producersOpen() || `producer of ${this.topic} is reconnecting`,
    };
    for (const s of this.subscriptions) states[`consumer ${s.name}`] = s.status();
    return states;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sampler);
    // Counted now: a stopped subscription leaves the set.
    this.countReconnects();
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await Promise.all(this.producers.map((p) => p.close()));
  }

  private producersOpen(): boolean {
    return this.producers.every((p) => p.connected);
  }

  private countReconnects(): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    const total = this.producers.reduce((n, p) => n + p.reconnects, 0);
    const delta = total - this.countedReconnects;
    this.countedReconnects = total;
    if (delta > 0) metrics.reconnects.inc({ topic: this.name }, delta);
    for (const s of this.subscriptions) s.countReconnects(metrics);
  }

  /**
   * Samples the metrics kept as running totals by the client (reconnects) and the backlog, which only the
   * broker knows: the messages of our subscriptions not yet acknowledged, delivered or not.
   */
  private async sample(): Promise<void> {
    const metrics = this.options.metrics;
    if (!metrics || this.sampling || this.closed) return;
    this.sampling = true;
    try {
      this.countReconnects();
      let backlog = 0;
      for (const s of this.subscriptions)
        backlog += await this.admin.getSubscriptionBacklog(this.topic, s.name);
      // Set only after every read succeeded: a failed sample keeps the last known value.
      if (this.subscriptions.size > 0) metrics.backlog.set({ topic: this.name }, backlog);
    } catch (error) {
      this.logger.debug(`cannot sample the backlog of ${this.topic}`, { error: errorMessage(error) });
    } finally {
      this.sampling = false;
    }
  }
}

/**
 * One subscription's consumer loop: receive a batch, run the handler (again, after a failure), and replace
 * the consumer when it fails for good.
 */
class PulsarSubscription<T> implements Subscription {
  private consumer: PulsarConsumer | undefined;
  private stopped = false;
  private collected = 0;
  private consumerClosed = false;
  private lateAcks = 0;
  /** Reconnects of the consumers replaced so far, plus one per resubscription. */
  private retiredReconnects = 0;
  private countedReconnects = 0;
  /** Why there is no consumer now, for /ready. */
  private down = "subscribing";
  private readonly undecodable: UndecodableRecords;
  private readonly backoff: Backoff;
  private readonly loop: Promise<void>;
  /**
   * What ends a wait at `pause()` (in `receive()`, a backoff) without closing the consumer: one per wait,
   * dropped when the wait ends. Not a race with one long-lived "paused" promise: each `Promise.race` adds a
   * reaction to it that keeps the race's result (a message, and the whole pack its payload is a view of)
   * until the pause, i.e. one message per batch for the life of the process.
   */
  private readonly pauseWakers = new Set<() => void>();

  constructor(
    private readonly options: PulsarLogOptions<T>,
    private readonly topic: string,
    readonly name: string,
    private readonly handler: BatchHandler<T>,
    private readonly logger: Logger,
    private readonly onStopped: () => void,
  ) {
    this.undecodable = new UndecodableRecords(options.name, name, options.deadLetters, logger);
    this.backoff = new Backoff(options.consumer?.backoff ?? defaultBackoff);
    this.loop = this.run();
  }

  countReconnects(metrics: PulsarMetrics): void {
    const total = this.retiredReconnects + (this.consumer?.reconnects ?? 0);
    if (total > this.countedReconnects)
      metrics.reconnects.inc({ topic: this.options.name }, total - this.countedReconnects);
    this.countedReconnects = total;
  }

  /** True while the consumer is connected, else why not. */
  status(): true | string {
    if (this.consumer?.connected) return true;
    if (this.consumer) return `consumer ${this.name} of ${this.topic} is reconnecting`;
    return this.down;
  }

  backlog(): number {
    return (this.consumer?.buffered ?? 0) + this.collected;
  }

  /**
   * Finishes the batch in hand and hands out no more; the consumer stays open so the handler's owner can
   * still ack (the windower publishes its windows, then acks their records). Messages the consumer had
   * buffered are never acked and go back to the subscription when it closes.
   */
  async pause(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      for (const wake of this.pauseWakers) wake();
      this.pauseWakers.clear();
    }
    await this.loop;
  }

  /** Pauses, then closes the consumer: what is not acked goes back to the subscription. */
  async stop(): Promise<void> {
    await this.pause();
    await Bun.sleep(this.options.ackFlushMs ?? defaultPulsarLog.ackFlushMs);
    await this.consumer?.close();
    this.consumerClosed = true;
    this.onStopped();
  }

  private async connect(): Promise<PulsarConsumer | undefined> {
    while (!this.stopped) {
      try {
        return await PulsarConsumer.subscribe({
          ...this.options.consumer,
          topic: this.topic,
          subscription: this.name,
          subscriptionType: this.options.subscriptionType ?? defaultPulsarLog.subscriptionType,
          initialPosition: this.options.initialPosition ?? "Earliest",
          pullMode: true,
          receiverQueueSize: this.options.receiverQueueSize ?? defaultPulsarLog.receiverQueueSize,
          ...(this.options.url ? { url: this.options.url } : {}),
          ...(this.options.token ? { token: this.options.token } : {}),
        });
      } catch (error) {
        const delay = Math.round(this.backoff.next());
        this.down = `cannot subscribe ${this.name} to ${this.topic} (${errorMessage(error)}); retrying in ${delay} ms`;
        this.logger.warn(`cannot subscribe ${this.name} to ${this.topic}; retrying in ${delay} ms`, {
          error: errorMessage(error),
        });
        await this.orPause(Bun.sleep(delay));
      }
    }
    return undefined;
  }

  /**
   * Subscribes and consumes until paused. A consumer that fails for good (the client stopped reconnecting:
   * auth refused, topic deleted) is replaced after a backoff rather than ending the subscription while the
   * process goes on: the memory log never stops handing out records either, and /ready names the failure
   * until a new consumer is connected.
   */
  private async run(): Promise<void> {
    while (!this.stopped) {
      const consumer = await this.connect();
      if (!consumer) return;
      if (this.stopped) {
        await consumer.close();
        return;
      }
      this.consumer = consumer;
      const failure = await this.consume(consumer);
      if (!failure) return;
      this.consumer = undefined;
      this.retiredReconnects += consumer.reconnects + 1;
      await consumer.close();
      const delay = Math.round(this.backoff.next());
      const error = errorMessage(failure.error);
      this.down = `consumer ${this.name} of ${this.topic} failed (${error}); resubscribing in ${delay} ms`;
      this.logger.error(`consumer ${this.name} of ${this.topic} failed; resubscribing in ${delay} ms`, {
        error,
      });
      await this.orPause(Bun.sleep(delay));
    }
  }

  /** `wait`'s outcome, or undefined once paused (at once when paused already). */
  private orPause<V>(wait: Promise<V>): Promise<V | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise<V | undefined>((resolve, reject) => {
      const wake = () => resolve(undefined);
      this.pauseWakers.add(wake);
      wait.then(
        (value) => {
          this.pauseWakers.delete(wake);
          resolve(value);
        },
        (error) => {
          this.pauseWakers.delete(wake);
          reject(error);
        },
      );
    });
  }

  /** Hands out batches until paused (undefined) or the consumer fails (its error). */
  private async consume(consumer: PulsarConsumer): Promise<{ error: unknown } | undefined> {
    const maxBatch = this.options.maxBatch ?? defaultPulsarLog.maxBatch;
    const delayMs = this.options.batchMaxDelayMs ?? defaultPulsarLog.batchMaxDelayMs;
    while (!this.stopped) {
      const raw: PulsarMessage[] = [];
      try {
        const receiving = consumer.receive();
        // Lost to a pause, it rejects when the consumer closes (or yields a message nobody acks, which the
        // broker redelivers): either way nothing to handle here.
        receiving.catch(() => {});
        const first = await this.orPause(receiving);
        if (!first) return undefined;
        raw.push(first);
        const deadline = Date.now() + delayMs;
        while (raw.length < maxBatch && !this.stopped) {
          if (consumer.buffered > 0) raw.push(await consumer.receive());
          else if (Date.now() < deadline) raw.push(await consumer.receive(deadline - Date.now()));
          else break;
          this.collected = raw.length;
        }
      } catch (error) {
        // timeout: the batch is complete. Anything else means the consumer is closed: by stop(), or for
        // good (auth, topic deleted); what it held un-acked goes back to the subscription.
        if (!(error instanceof PipelineError && error.code === "timeout")) {
          this.collected = 0;
          return this.stopped ? undefined : { error };
        }
      }
      this.collected = 0;
      if (this.stopped || raw.length === 0) return undefined;
      this.options.metrics?.received.inc({ topic: this.options.name }, raw.length);
      await this.deliver(consumer, raw);
      // A consumer that delivers is healthy: the next failure starts the backoff afresh.
      this.backoff.reset();
    }
    return undefined;
  }

  /** One record acked for the first time (by the ack groups of `deliver`). */
  countAck(): void {
    if (this.consumerClosed && this.lateAcks++ === 0) {
      // The WebSocket consumer cannot ack once closed: these records come back to the subscription.
      this.logger.warn(`ack after ${this.name} stopped: the record will be redelivered`);
    }
    this.options.metrics?.acked.inc({ topic: this.options.name });
  }

  private async deliver(consumer: PulsarConsumer, raw: PulsarMessage[]): Promise<void> {
    let batch: LogMessage<T>[] = [];
    // One ack group per pack of the batch (its records ack through the consumer's bitset of the pack) and
    // one for the batch's plain messages: what a record's ack keeps alive is its group, never the message
    // (its payload is a view of the whole pack's bytes).
    // No closure is made here: one would hold this async function's whole scope (in JSC every local of an
    // async function lives in its scope object: `raw`, `batch`, every payload and value) for as long as any
    // record of the batch waits for its ack, i.e. a window (measured: ~700 B a record).
    let group: PackAcks | undefined;
    let plain: MessageAcks | undefined;
    for (const m of raw) {
      const value = this.undecodable.decode(this.options.codec, m.key, m.payload);
      if (value === deadLettered) {
        consumer.ack(m);
        continue;
      }
      const key = m.key ?? "";
      if (m.pack && m.index !== undefined) {
        if (group?.pack !== m.pack) group = new PackAcks(consumer, m.pack, this);
        batch.push(new GroupedMessage(key, value, group, m.index));
      } else {
        plain ??= new MessageAcks(consumer, raw.length, this);
        batch.push(new GroupedMessage(key, value, plain, plain.add(m.id)));
      }
    }
    const retryDelayMs = this.options.retryDelayMs ?? defaultPulsarLog.retryDelayMs;
    while (batch.length > 0) {
      try {
        await this.handler(batch);
        return;
      } catch (error) {
        // Retried here, not negatively acked: nothing later of these keys is handed out meanwhile. Records
        // acked before the throw are done. A pause ends the retries: the consumer returns what is not acked
        // to the subscription when it closes.
        batch = batch.filter((m) => !m.acks.acked(m.ackIndex));
        if (batch.length === 0 || this.stopped) return;
        this.logger.warn(
          `handler of ${this.name} failed; retrying ${batch.length} records in ${retryDelayMs} ms`,
          { error: errorMessage(error) },
        );
        await this.orPause(Bun.sleep(retryDelayMs));
        if (this.stopped) return;
      }
    }
  }
}

/** Where the ack groups count first acks (the subscription: metrics, acks after its consumer closed). */
interface AckCounter {
  countAck(): void;
}

/** The records of one pack in a batch: acked through the consumer, which keeps the pack's bitset. */
class PackAcks implements AckGroup {
  constructor(
    private readonly consumer: PulsarConsumer,
    readonly pack: DeliveredPack,
    private readonly counter: AckCounter,
  ) {}

  ack(index: number): void {
    if (this.consumer.ackRecord(this.pack, index)) this.counter.countAck();
  }

  acked(index: number): boolean {
    return this.pack.isAcked(index);
  }
}

/** The plain (unpacked) messages of one batch, by their ids. */
class MessageAcks implements AckGroup {
  private readonly ids: string[] = [];
  private readonly done: Uint8Array;

  constructor(
    private readonly consumer: PulsarConsumer,
    capacity: number,
    private readonly counter: AckCounter,
  ) {
    this.done = new Uint8Array(capacity);
  }

  /** Adds a message; its index in the group. */
  add(id: string): number {
    return this.ids.push(id) - 1;
  }

  ack(index: number): void {
    if (this.done[index] !== 0) return;
    this.done[index] = 1;
    this.consumer.ack(this.ids[index]!);
    this.counter.countAck();
  }

  acked(index: number): boolean {
    return this.done[index] === 1;
  }
}

/**
 * One publish's records in flight, told by the producers how they end (`SendTracker`): it frees their
 * window slots, counts the metrics, and settles `settled` once every record sent is acknowledged or failed
 * and nothing more will be sent. One object and one promise per publish, whatever its size.
 */
class PublishBatch implements SendTracker {
  /** The first error of a send of this publish; the publish rejects with it. */
  failure: { error: unknown } | undefined;
  /** Records handed to a producer; each ends in `acked` or `failed`. */
  sent = 0;
  private ended = 0;
  private done = false;
  readonly settled: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly window: SendWindow,
    private readonly metrics: PulsarMetrics | undefined,
    private readonly topic: string,
  ) {
    this.settled = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  acked(count: number): void {
    this.ended += count;
    this.window.release(count);
    this.metrics?.published.inc({ topic: this.topic }, count);
    this.settle();
  }

  failed(count: number, error: unknown): void {
    this.failure ??= { error };
    this.ended += count;
    this.window.release(count);
    this.metrics?.publishErrors.inc({ topic: this.topic }, count);
    this.settle();
  }

  /** A record `sendTracked` threw for: never sent (not in `sent`), its slot is the submitter's to free. */
  refused(error: unknown): void {
    this.failure ??= { error };
    this.metrics?.publishErrors.inc({ topic: this.topic });
  }

  /** Nothing more of this publish will be sent. */
  submitted(): void {
    this.done = true;
    this.settle();
  }

  private settle(): void {
    if (!this.done || this.ended < this.sent) return;
    if (this.failure) this.reject(this.failure.error);
    else this.resolve();
  }
}
