/**
 * Consumer over Pulsar's WebSocket API (`/ws/v2/consumer/persistent/{tenant}/{ns}/{topic}/{subscription}`),
 * as an async iterator or with `receive()`.
 *
 * What the WebSocket API offers, and what we build on it (checked against the 4.0.8 broker's
 * `org.apache.pulsar.websocket.ConsumerHandler`):
 * - ack is `{"messageId"}`, negative ack `{"type":"negativeAcknowledge","messageId"}`; both are
 *   fire-and-forget (no reply frame). There is **no cumulative ack** frame: `ackCumulative` here acks every
 *   message this consumer delivered up to the given one, one frame each (Exclusive / Failover only, like
 *   Pulsar's own rule).
 * - flow control: in push mode the broker-side proxy stops delivering once `receiverQueueSize` (capped at
 *   1000 by the proxy) messages are un-acked; with `pullMode` it delivers only what we grant with
 *   `{"type":"permit","permitMessages":n}`, and we grant as the application takes messages, so a slow
 *   consumer holds at most one queue of messages in memory, and about `maxBufferedRecords` records of
 *   packed messages (permits.ts).
 * - partitioned topics: the proxy subscribes to every partition (Java multi-topic consumer) and keeps a
 *   cache from our id strings to its ids so acks reach the right partition.
 * - packed messages (`PulsarProducer` with `packing`, format in packing.ts) are split into their records,
 *   with ids `{packed message id}#{index}` and a compact handle (`pack`, `index`; `ackRecord`) that a
 *   consumer holding many records un-acked keeps instead (one `DeliveredPack` with a bitset per packed
 *   message, nothing per record); the packed message is acked once every record of it is acked,
 *   and one negative ack sends the whole of it back (all its records are redelivered, as with Pulsar's own
 *   batches without batch-index acks). In pull mode a packed message takes one permit, like any message.
 * - on a dropped socket we reconnect with backoff and drop messages not yet handed out: the broker
 *   redelivers everything un-acked, so nothing is lost (at-least-once; the application may see a message
 *   again). Acks made while disconnected are sent after the reconnect.
 *
 * @example
 * const consumer = await PulsarConsumer.subscribe({ topic: "readings", subscription: "windower", subscriptionType: "Key_Shared" });
 * for await (const msg of consumer) { handle(msg); consumer.ack(msg); }
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { Backoff, type BackoffOptions, defaultBackoff } from "@energy/platform/backoff.ts";
import { pulsarTimeoutError } from "./errors.ts";
import { decodePacked, type PackedRecord, packedProperty } from "./packing.ts";
import { PermitWindow } from "./permits.ts";
import { reopenWithBackoff } from "./reopen.ts";
import { parseServiceUrl } from "./service-url.ts";
import { FramedSocket } from "./socket.ts";
import { parseTopic, type TopicName } from "./topic.ts";

export type SubscriptionType = "Exclusive" | "Shared" | "Failover" | "Key_Shared";

export interface ConsumerOptions {
  topic: string;
  subscription: string;
  /** Default Exclusive (Pulsar's default). */
  subscriptionType?: SubscriptionType;
  /** Where a new subscription starts; default Latest (Pulsar's default). */
  initialPosition?: "Earliest" | "Latest";
  /** Web service URL, default `http://127.0.0.1:8080`. */
  url?: string;
  /** Messages delivered ahead of acks (push) or per grant (pull); the proxy caps it at 1000. Default 1000. */
  receiverQueueSize?: number;
  /** Deliver only what we ask for with permits (see module doc). Default false. */
  pullMode?: boolean;
  /**
   * Pull mode: about how many records (of packed messages; a plain message is one) may be buffered or on
   * the way (permits.ts). Default 100,000: a whole queue of the packs a live 10,000-sensor stream makes
   * (~12-100 records), as before, while a backlog of full packs (1000 records) comes 100 at a time, not 1000.
   */
  maxBufferedRecords?: number;
  /**
   * Pull mode: about how many payload bytes may be buffered or on the way (permits.ts). Default 16 MiB:
   * by records alone, a backlog of packs of large records (B's batches, ~14 KB at 10 readings/s) could
   * bring 1000 full packs of 128 KiB into memory at once.
   */
  maxBufferedBytes?: number;
  consumerName?: string;
  /** Redeliver a message not acked within this time; default never. */
  ackTimeoutMs?: number;
  /** Delay before a negatively acked message comes back; Pulsar's default is 60 s, ours 1 s. */
  negativeAckRedeliveryDelayMs?: number;
  /** After this many redeliveries a message goes to `deadLetterTopic` (default `{topic}-{subscription}-DLQ`). */
  maxRedeliverCount?: number;
  deadLetterTopic?: string;
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  token?: string;
}

export interface PulsarMessage {
  /** Opaque id (base64 of Pulsar's serialized MessageId), for ack / negativeAck. */
  readonly id: string;
  readonly payload: Uint8Array;
  readonly key: string | undefined;
  readonly properties: Readonly<Record<string, string>>;
  /** Broker publish time, epoch ms. */
  readonly publishTime: number;
  /** Producer-set event time, epoch ms; undefined when it set none. */
  readonly eventTime: number | undefined;
  /** How often the broker delivered it before (after nacks, ack timeouts, consumer loss). */
  readonly redeliveryCount: number;
  /**
   * For a record of a packed message: the pack and the record's index in it, a compact way to ack it later
   * (`ackRecord(pack, index)`) without keeping this message. Undefined for a plain message.
   */
  readonly pack?: DeliveredPack | undefined;
  readonly index?: number | undefined;
}

/**
 * One packed message this consumer delivered, shared by all its records: the pack's ack state in a bitset
 * instead of a string id, a Set entry and an object per record (at 10,000 sensors the windower holds
 * ~650,000 records un-acked for a window's length; per-record bookkeeping cost ~1 GB, issue 15).
 */
export class DeliveredPack {
  /** Records acked, a bit each. */
  private readonly bits: Uint8Array;
  /** Records not acked yet. */
  remaining: number;
  /** Whether this consumer holds it now: delivered, neither fully acked nor sent back (nack, reconnect). */
  live = false;

  constructor(
    readonly id: string,
    readonly size: number,
  ) {
    this.bits = new Uint8Array((size + 7) >>> 3);
    this.remaining = size;
  }

  isAcked(index: number): boolean {
    return ((this.bits[index >>> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  /** Marks one record acked; false when it was already, or is not a record of this pack. */
  mark(index: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.size || this.isAcked(index)) return false;
    this.bits[index >>> 3]! |= 1 << (index & 7);
    this.remaining--;
    return true;
  }
}

const noProperties: Readonly<Record<string, string>> = Object.freeze({});

/** A record of a packed message; its string id is made only when asked for (nothing keeps one per record). */
class PackedRecordMessage implements PulsarMessage {
  constructor(
    readonly pack: DeliveredPack,
    readonly index: number,
    readonly payload: Uint8Array,
    readonly key: string | undefined,
    readonly properties: Readonly<Record<string, string>>,
    readonly publishTime: number,
    readonly eventTime: number | undefined,
    readonly redeliveryCount: number,
    /** The last record of its pack handed out: taking it consumes the pack's permit (pull mode). */
    readonly returnsPermit: boolean,
  ) {}

  get id(): string {
    return `${this.pack.id}#${this.index}`;
  }
}

interface WireMessage {
  messageId: string;
  payload: string;
  properties?: Record<string, string>;
  publishTime: string;
  eventTime?: string;
  key?: string;
  redeliveryCount?: number;
}

/**
 * The bytes of a frame's base64 payload. `Uint8Array.fromBase64` measured 2-3× the speed of Buffer's
 * decoding for 100 B-1 KiB payloads (0.07 vs 0.23 µs at 100 B) and about equal at 128 KiB; it throws on
 * what is not strict base64, which the proxy never sends, and Buffer's lenient decoding keeps such a frame
 * deliverable (as before) instead of throwing inside the socket's read callback.
 */
function payloadBytes(base64: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(base64);
  } catch {
    return new Uint8Array(Buffer.from(base64, "base64"));
  }
}

/** A record id (`{packed message id}#{index}`) split; undefined for a plain id (base64 has no `#`). */
function splitRecordId(id: string): { packId: string; index: number } | undefined {
  const hash = id.lastIndexOf("#");
  return hash < 0 ? undefined : { packId: id.slice(0, hash), index: Number(id.slice(hash + 1)) };
}

/** Packs whose acked records are remembered while they come back (~one window's worth of packs). */
const maxReturningPacks = 100_000;

export const defaultConsumer = {
  subscriptionType: "Exclusive" as SubscriptionType,
  receiverQueueSize: 1000,
  maxBufferedRecords: 100_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  negativeAckRedeliveryDelayMs: 1000,
  connectTimeoutMs: 30_000,
} as const;

export class PulsarConsumer implements AsyncIterable<PulsarMessage> {
  readonly topic: TopicName;
  readonly subscription: string;
  readonly subscriptionType: SubscriptionType;
  /** Times the socket was re-opened after a drop. */
  reconnects = 0;

  private ws: FramedSocket | undefined;
  private readonly url: string;
  private readonly buffer: PulsarMessage[] = [];
  /** Payload bytes of `buffer`. */
  private bufferedBytes = 0;
  private readonly receivers: Array<{ resolve: (m: PulsarMessage | undefined) => void }> = [];
  /**
   * Delivered and not yet acked, in delivery order (what `ackCumulative` walks): a plain message by its id
   * (value null), a packed one by its id with its pack (one entry for all its records).
   */
  private readonly outstanding = new Map<string, DeliveredPack | null>();
  /**
   * Packs sent back whole (negative ack, reconnect), with the records acked so far: the broker only knows
   * whole messages, so without this a redelivered pack would hand its acked records out again (for the
   * windower: readings of windows already published, i.e. false `late` ones); acks of its records made
   * meanwhile are kept here too. Bounded; a new consumer (another process) starts empty and gets the whole pack.
   */
  private readonly returning = new Map<string, DeliveredPack>();
  /** Frames (acks, nacks) written while disconnected, sent after the reconnect. */
  private readonly outbox: string[] = [];
  private readonly endOfTopicWaiters: Array<(end: boolean) => void> = [];
  private readonly receiverQueueSize: number;
  private readonly pullMode: boolean;
  private readonly connectTimeoutMs: number;
  private readonly backoff: Backoff;
  /** Pull mode only. */
  private readonly permits: PermitWindow | undefined;
  private closed = false;
  private fatal: PipelineError | undefined;

  private constructor(options: ConsumerOptions) {
    this.topic = parseTopic(options.topic);
    this.subscription = options.subscription;
    if (!/^[A-Za-z0-9_.=:-]+$/.test(options.subscription)) {
      throw new PipelineError(
        "config",
        `subscription "${options.subscription}" has characters Pulsar paths do not allow`,
        {
          hint: "use letters, digits and _ . = : -",
        },
      );
    }
    this.subscriptionType = options.subscriptionType ?? defaultConsumer.subscriptionType;
    this.receiverQueueSize = Math.min(
      1000,
      Math.max(1, options.receiverQueueSize ?? defaultConsumer.receiverQueueSize),
    );
    this.pullMode = options.pullMode ?? false;
    if (this.pullMode)
      this.permits = new PermitWindow(
        this.receiverQueueSize,
        Math.max(1, options.maxBufferedRecords ?? defaultConsumer.maxBufferedRecords),
        undefined,
        Math.max(1, options.maxBufferedBytes ?? defaultConsumer.maxBufferedBytes),
      );
    this.connectTimeoutMs = options.connectTimeoutMs ?? defaultConsumer.connectTimeoutMs;
    this.backoff = new Backoff(options.backoff ?? defaultBackoff);
    const query = new URLSearchParams({
      subscriptionType: this.subscriptionType,
      receiverQueueSize: String(this.receiverQueueSize),
      negativeAckRedeliveryDelay: String(
        options.negativeAckRedeliveryDelayMs ?? defaultConsumer.negativeAckRedeliveryDelayMs,
      ),
    });
    if (options.initialPosition) query.set("subscriptionInitialPosition", options.initialPosition);
    if (this.pullMode) query.set("pullMode", "true");
    if (options.consumerName) query.set("consumerName", options.consumerName);
    if (options.ackTimeoutMs) query.set("ackTimeoutMillis", String(options.ackTimeoutMs));
    if (options.maxRedeliverCount !== undefined)
      query.set("maxRedeliverCount", String(options.maxRedeliverCount));
    if (options.deadLetterTopic) query.set("deadLetterTopic", options.deadLetterTopic);
    if (options.token) query.set("token", options.token);
    this.url = `${parseServiceUrl(options.url).wsBase}/ws/v2/consumer/${this.topic.restPath}/${encodeURIComponent(this.subscription)}?${query}`;
  }

  /**
   * Subscribes; rejects with a PipelineError: not-found (namespace missing), auth, connection, timeout,
   * or internal (e.g. a second consumer on an Exclusive subscription).
   */
  static async subscribe(options: ConsumerOptions): Promise<PulsarConsumer> {
    const consumer = new PulsarConsumer(options);
    consumer.attach(
      await FramedSocket.open(consumer.url, consumer.doing("subscribe"), consumer.connectTimeoutMs),
    );
    return consumer;
  }

  /** Whether the socket is open now (false while reconnecting). */
  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Messages received from the broker and not yet handed to the application. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Payload bytes of those messages. */
  get bufferedPayloadBytes(): number {
    return this.bufferedBytes;
  }

  /** The next message; rejects with a timeout PipelineError after `timeoutMs` when given. */
  async receive(timeoutMs?: number): Promise<PulsarMessage> {
    const next = this.buffer.shift();
    if (next) {
      this.bufferedBytes -= next.payload.byteLength;
      return this.handOut(next);
    }
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new PipelineError("connection", `${this.doing("receive")}: consumer is closed`);
    const waiter: { resolve: (m: PulsarMessage | undefined) => void } = { resolve: () => {} };
    const message = await new Promise<PulsarMessage | undefined>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              const index = this.receivers.indexOf(waiter);
              if (index >= 0) this.receivers.splice(index, 1);
              reject(pulsarTimeoutError(this.doing("receive"), timeoutMs));
            }, timeoutMs);
      waiter.resolve = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.receivers.push(waiter);
    });
    if (!message)
      throw this.fatal ?? new PipelineError("connection", `${this.doing("receive")}: consumer is closed`);
    return this.handOut(message);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PulsarMessage> {
    while (!this.closed || this.buffer.length > 0) {
      try {
        yield await this.receive();
      } catch (error) {
        if (this.closed && !this.fatal) return;
        throw error;
      }
    }
  }

  /** Acknowledges one message (fire-and-forget on the WebSocket API). */
  ack(message: PulsarMessage | string): void {
    const record = this.recordOf(message);
    if (record) {
      this.ackRecord(record.pack, record.index);
      return;
    }
    const id = typeof message === "string" ? message : message.id;
    if (splitRecordId(id)) return; // a record of a pack this consumer no longer knows: it comes back whole
    this.outstanding.delete(id);
    this.write(JSON.stringify({ messageId: id }));
  }

  /**
   * Acknowledges record `index` of a packed message (`PulsarMessage.pack` / `.index`); the Pulsar message is
   * acked once all its records are. An ack of a pack sent back meanwhile (negative ack, reconnect) is kept
   * for when it returns. True when the record was not acked before.
   */
  ackRecord(pack: DeliveredPack, index: number): boolean {
    let target = pack;
    if (!pack.live) {
      // a pack forgotten while it was away and delivered again as a new one: the ack is the new one's
      const current = this.outstanding.get(pack.id);
      if (current && current !== pack) {
        pack.mark(index);
        target = current;
      }
    }
    if (!target.mark(index)) return false;
    if (target.live && target.remaining === 0) {
      target.live = false;
      this.outstanding.delete(target.id);
      this.write(JSON.stringify({ messageId: target.id }));
    }
    return true;
  }

  /** Asks the broker to redeliver this message after the negative-ack delay. */
  negativeAck(message: PulsarMessage | string): void {
    const record = this.recordOf(message);
    if (record) {
      const pack = record.pack;
      if (!pack.live) return;
      // all its records come back: acks of the ones still held are kept with it (`returning`), and the ones
      // acked already are not handed out again
      pack.live = false;
      this.outstanding.delete(pack.id);
      this.remember(pack);
      this.write(JSON.stringify({ type: "negativeAcknowledge", messageId: pack.id }));
      return;
    }
    const id = typeof message === "string" ? message : message.id;
    if (splitRecordId(id)) return;
    this.outstanding.delete(id);
    this.write(JSON.stringify({ type: "negativeAcknowledge", messageId: id }));
  }

  /**
   * Acknowledges this message and every earlier one this consumer delivered (emulated, see module doc).
   * Only for Exclusive and Failover subscriptions, where delivery order is the topic's order.
   */
  ackCumulative(message: PulsarMessage | string): void {
    if (this.subscriptionType !== "Exclusive" && this.subscriptionType !== "Failover") {
      throw new PipelineError(
        "config",
        `cumulative ack on a ${this.subscriptionType} subscription ${this.subscription}`,
        {
          hint: "Pulsar allows it only on Exclusive and Failover subscriptions; ack messages one by one",
        },
      );
    }
    const record = this.recordOf(message);
    const id = record ? record.pack.id : typeof message === "string" ? message : message.id;
    if (record ? !record.pack.live || record.pack.isAcked(record.index) : !this.outstanding.has(id)) return;
    for (const [pendingId, pack] of this.outstanding) {
      if (pack === null) this.ack(pendingId);
      else {
        const last = pack === record?.pack ? record.index : pack.size - 1;
        for (let i = 0; i <= last; i++) if (!pack.isAcked(i)) this.ackRecord(pack, i);
      }
      if (pendingId === id) break;
    }
  }

  /** The pack and index of a packed record, from its message or its id; undefined for a plain message. */
  private recordOf(message: PulsarMessage | string): { pack: DeliveredPack; index: number } | undefined {
    if (typeof message !== "string" && message.pack && message.index !== undefined)
      return { pack: message.pack, index: message.index };
    const split = splitRecordId(typeof message === "string" ? message : message.id);
    if (!split) return undefined;
    const pack = this.outstanding.get(split.packId) ?? this.returning.get(split.packId);
    return pack ? { pack, index: split.index } : undefined;
  }

  /** Asks whether the topic is terminated and fully consumed (`{"type":"isEndOfTopic"}`). */
  async isEndOfTopic(timeoutMs = 10_000): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(pulsarTimeoutError(this.doing("ask end of topic"), timeoutMs)),
        timeoutMs,
      );
      this.endOfTopicWaiters.push((end) => {
        clearTimeout(timer);
        resolve(end);
      });
      this.write(JSON.stringify({ type: "isEndOfTopic" }));
    });
  }

  /** Deletes the subscription (the broker closes the socket) and closes this consumer. */
  async unsubscribe(): Promise<void> {
    this.write(JSON.stringify({ type: "unsubscribe" }));
    await Bun.sleep(100);
    await this.close();
  }

  /** Closes the socket; un-acked messages go back to the subscription. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ws?.close(1000, "consumer closed");
    for (const waiter of this.receivers.splice(0)) waiter.resolve(undefined);
  }

  private doing(what: string): string {
    return `${what} ${this.topic.full} subscription ${this.subscription}`;
  }

  private handOut(message: PulsarMessage): PulsarMessage {
    if (!this.permits) return message;
    if (!(message instanceof PackedRecordMessage) || message.returnsPermit) this.permits.taken();
    this.grantPermits();
    return message;
  }

  /** Grants the broker what the permit window allows now (pull mode). */
  private grantPermits(): void {
    const n = this.permits?.grant(this.buffer.length, this.bufferedBytes) ?? 0;
    if (n > 0) this.write(JSON.stringify({ type: "permit", permitMessages: n }));
  }

  private remember(pack: DeliveredPack): void {
    this.returning.set(pack.id, pack);
    // oldest first (insertion order); a pack forgotten here only comes back whole, as from a new consumer
    for (const oldest of this.returning.keys()) {
      if (this.returning.size <= maxReturningPacks) break;
      this.returning.delete(oldest);
    }
  }

  private write(frame: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
    else if (!this.closed) this.outbox.push(frame);
  }

  private attach(ws: FramedSocket): void {
    this.ws = ws;
    ws.addEventListener("message", (event) => this.onFrame(String(event.data)));
    ws.addEventListener("close", () => {
      if (this.ws === ws && !this.closed) void this.reconnect();
    });
    for (const frame of this.outbox.splice(0)) ws.send(frame);
    if (this.permits) {
      this.permits.reset();
      this.grantPermits();
    }
  }

  private onFrame(text: string): void {
    let frame: WireMessage & { endOfTopic?: boolean };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame.endOfTopic === "boolean") {
      this.endOfTopicWaiters.shift()?.(frame.endOfTopic);
      return;
    }
    if (typeof frame.messageId !== "string") return;
    const properties = frame.properties ?? {};
    const publishTime = Date.parse(frame.publishTime);
    const redeliveryCount = frame.redeliveryCount ?? 0;
    if (properties[packedProperty] !== undefined) {
      this.onPacked(frame, publishTime, redeliveryCount);
      return;
    }
    const payload = payloadBytes(frame.payload ?? "");
    this.permits?.arrived(1, payload.byteLength);
    this.deliver({
      id: frame.messageId,
      payload,
      key: frame.key,
      properties,
      publishTime,
      eventTime: frame.eventTime ? Date.parse(frame.eventTime) : undefined,
      redeliveryCount,
    });
  }

  private onPacked(frame: WireMessage, publishTime: number, redeliveryCount: number): void {
    let records: PackedRecord[];
    const payload = payloadBytes(frame.payload ?? "");
    try {
      records = decodePacked(payload);
    } catch {
      // Not ours after all (or damaged): hand it out whole rather than lose it.
      this.permits?.arrived(1, payload.byteLength);
      this.deliver({
        id: frame.messageId,
        payload,
        key: frame.key,
        properties: frame.properties ?? {},
        publishTime,
        eventTime: undefined,
        redeliveryCount,
      });
      return;
    }
    this.permits?.arrived(records.length, payload.byteLength);
    // The same pack again (sent back, or redelivered while held): only its records not acked yet go out.
    let pack = this.outstanding.get(frame.messageId) ?? this.returning.get(frame.messageId);
    this.returning.delete(frame.messageId);
    if (!pack || pack.size !== records.length) pack = new DeliveredPack(frame.messageId, records.length);
    if (pack.remaining <= 0) {
      pack.live = false;
      this.outstanding.delete(pack.id);
      this.write(JSON.stringify({ messageId: frame.messageId }));
      this.permits?.taken();
      this.grantPermits();
      return;
    }
    pack.live = true;
    this.outstanding.set(pack.id, pack);
    let last = records.length - 1;
    while (pack.isAcked(last)) last--;
    for (let i = 0; i < records.length; i++) {
      if (pack.isAcked(i)) continue;
      const r = records[i]!;
      this.handOver(
        new PackedRecordMessage(
          pack,
          i,
          r.payload,
          r.key ?? frame.key,
          r.properties ?? noProperties,
          publishTime,
          r.eventTime,
          redeliveryCount,
          i === last,
        ),
      );
    }
  }

  private deliver(message: PulsarMessage): void {
    this.outstanding.set(message.id, null);
    this.handOver(message);
  }

  private handOver(message: PulsarMessage): void {
    const waiter = this.receivers.shift();
    if (waiter) waiter.resolve(message);
    else {
      this.buffer.push(message);
      this.bufferedBytes += message.payload.byteLength;
    }
  }

  private async reconnect(): Promise<void> {
    this.ws = undefined;
    // the broker redelivers these to whichever consumer gets them next: handing them out too would duplicate
    this.buffer.length = 0;
    this.bufferedBytes = 0;
    for (const pack of this.outstanding.values()) {
      if (!pack) continue;
      pack.live = false;
      this.remember(pack);
    }
    this.outstanding.clear();
    const outcome = await reopenWithBackoff(
      this.backoff,
      () => this.closed,
      () => FramedSocket.open(this.url, this.doing("resubscribe"), this.connectTimeoutMs),
    );
    if (!outcome) return;
    if ("fatal" in outcome) {
      this.fatal = outcome.fatal;
      this.closed = true;
      for (const waiter of this.receivers.splice(0)) waiter.resolve(undefined);
      return;
    }
    this.reconnects++;
    this.attach(outcome.socket);
  }
}
