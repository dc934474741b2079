/**
 * Producer over Pulsar's WebSocket API (`/ws/v2/producer/persistent/{tenant}/{ns}/{topic}`).
 *
 * Why WebSocket and not the binary protocol: the standalone (and any broker with
 * `webSocketServiceEnabled=true`) serves it on the web port next to the admin API, it is JSON frames over a
 * socket Bun ships natively, and the broker-side proxy is Pulsar's own Java client, so we get its routing
 * to partitions by key hash, its batching and its reconnection to bookies for free. The binary protocol
 * would need protobuf framing, CRC32C, lookups and partition metadata handled by us — weeks, not days.
 * The cost is an extra hop in the broker and base64 payloads (+33 %); bench/PULSAR.md measured it against
 * `pulsar-perf`: with our own framing (`FramedSocket`, socket.ts) this producer reaches 1-2× pulsar-perf's
 * msgs/s unbatched, and the proxy's per-message work is what is left.
 *
 * Each `send` queues one frame (written with the rest of the tick's frames) and returns a promise of the message id; callers may keep up to
 * `maxInFlight` sends outstanding (pipelining: no round trip per message), and `send` waits for a free
 * slot beyond that (backpressure). `sendTracked` is the same send without a promise: it reports to a
 * `SendTracker` the caller shares between many records (a log's whole publish), for callers that send
 * thousands of records a second and bound what they have outstanding themselves. With `batching` the broker-side producer also groups the pipelined
 * messages into one stored entry. With `packing` we batch on our side: sends with the same key go out as
 * one packed message (format and measured gain in packing.ts) that `PulsarConsumer` splits again — the WebSocket proxy's
 * per-frame cost is what limits throughput, so fewer frames is what makes it faster (bench/PULSAR.md).
 * When the socket drops, the producer reconnects with backoff and re-sends every un-acknowledged message
 * in order: delivery is at-least-once (a message whose ack was lost in the drop is stored twice).
 *
 * @example
 * const producer = await PulsarProducer.create({ topic: "persistent://public/default/readings" });
 * const id = await producer.send(new TextEncoder().encode("42.0"), { key: "sensor-7", eventTime: Date.now() });
 * await producer.close();
 * // packed: many records per frame, only for topics that PulsarConsumer reads
 * const fast = await PulsarProducer.create({ topic: "readings", packing: defaultPacking });
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { Backoff, type BackoffOptions, defaultBackoff } from "@energy/platform/backoff.ts";
import { pulsarTimeoutError } from "./errors.ts";
import { encodePacked, type PackedRecord, packedProperty, packedVersion } from "./packing.ts";
import { reopenWithBackoff } from "./reopen.ts";
import { parseServiceUrl } from "./service-url.ts";
import { FramedSocket } from "./socket.ts";
import { parseTopic, type TopicName } from "./topic.ts";

export interface ProducerOptions {
  /** Full or short topic name; a partitioned topic is fine (the broker routes by key hash). */
  topic: string;
  /** Web service URL, default `http://127.0.0.1:8080`. */
  url?: string;
  /** Sends outstanding (written or packed, not yet acknowledged) before `send` waits; default 1000. */
  maxInFlight?: number;
  /**
   * Deadline from `send` to the broker's ack, default 30 s; includes time spent reconnecting. Checked by
   * one sweep timer (every ≤ 1 s), not a timer per message, so a send may fail up to ~1 s after it.
   */
  sendTimeoutMs?: number;
  /** Deadline for each connection attempt, default 30 s (the proxy retries a not-yet-ready broker after ~12 s). */
  connectTimeoutMs?: number;
  /** Let the broker-side producer group messages into batches (fewer, larger entries). Default off. */
  batching?: { maxMessages: number; maxDelayMs: number } | false;
  /**
   * Pack sends with the same key into one Pulsar message (packing.ts): up to
   * `maxMessages` records or `maxBytes` of payload, waiting at most `maxDelayMs` for more. Many times the
   * msgs/s of one frame per message (bench/PULSAR.md), but only `PulsarConsumer` unpacks it. Default off.
   */
  packing?: PackingOptions | false;
  producerName?: string;
  /** Largest frame we write; the broker's `webSocketMaxTextFrameSize` is 1 MiB by default. */
  maxFrameBytes?: number;
  backoff?: BackoffOptions;
  token?: string;
}

export interface PackingOptions {
  /**
   * false (default): a pack holds records of one key and carries that key, so the broker routes it like its
   * records. true: one pack for every key, each record carrying its key inside the pack; the pack has no
   * key, so use it on a producer of ONE partition (the readings log routes keys to partitions itself).
   */
  mixKeys?: boolean;
  maxMessages: number;
  /** Payload bytes per packed message; its frame is ~4/3 of it (base64), so keep it under ~700 KiB. */
  maxBytes: number;
  maxDelayMs: number;
}

export interface SendOptions {
  /** Partitioning and Key_Shared key; we use the sensor id. */
  key?: string;
  properties?: Record<string, string>;
  /** Event time, epoch ms (or a Date). */
  eventTime?: number | Date;
}

/**
 * Told how the records handed to `sendTracked` with it end: each record exactly once, by `acked` or
 * `failed`, in send order per producer. A tracker is shared by many records (one per publish of a log):
 * the producer reports runs of consecutive records of one message together, so a pack of 1000 records of
 * one publish costs one call, not 1000 promises. Called from the socket's message handler or a timer, never
 * from within `sendTracked`; it must not throw.
 */
export interface SendTracker {
  /**
   * `count` records stored as Pulsar message `messageId`; for a packed message they are its records
   * `first` … `first + count - 1` (their ids are `messageId#index`), for a plain one `first` is undefined.
   */
  acked(count: number, messageId: string, first: number | undefined): void;
  /** `count` records failed with `error` (refused, timed out, or the producer failed for good). */
  failed(count: number, error: unknown): void;
}

/**
 * Consecutive records of one message sent with the same tracker. Why runs and not one entry per record:
 * a pack holds the records of a few publishes in a row, so it keeps a handful of runs, not 1000 waiters.
 */
interface Run {
  tracker: SendTracker;
  count: number;
}

/** A frame written (or waiting for a reconnect) and not yet acknowledged. */
interface Pending {
  frame: string;
  /** `performance.now()` after which the sweep fails it (and every send after it); renewed on a re-send. */
  deadline: number;
  /** Its records in order, by tracker: a plain message has one run of one. */
  runs: Run[];
  /** Records in the message (the runs' counts summed). */
  records: number;
  packed: boolean;
}

/** Records of one key collected for the next packed message. */
interface OpenPack {
  key: string | undefined;
  records: PackedRecord[];
  runs: Run[];
  bytes: number;
  deadline: number;
}

/** The tracker of one `send`: resolves its promise with the record's id. */
class SingleSend implements SendTracker {
  constructor(
    private readonly resolve: (id: string) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  acked(_count: number, messageId: string, first: number | undefined): void {
    this.resolve(first === undefined ? messageId : `${messageId}#${first}`);
  }

  failed(_count: number, error: unknown): void {
    this.reject(error);
  }
}

export interface ProducerAck {
  result: string;
  messageId?: string;
  errorMsg?: string;
  context?: string;
}

export const defaultProducer = {
  maxInFlight: 1000,
  sendTimeoutMs: 30_000,
  connectTimeoutMs: 30_000,
  maxFrameBytes: 1024 * 1024,
} as const;

/** A packing setting that suits small records: 1000 per message or 128 KiB, 5 ms at most. */
export const defaultPacking: PackingOptions = { maxMessages: 1000, maxBytes: 128 * 1024, maxDelayMs: 5 };

export class PulsarProducer {
  readonly topic: TopicName;
  /** Times the socket was re-opened after a drop. */
  reconnects = 0;

  private ws: FramedSocket | undefined;
  private readonly url: string;
  private readonly pending = new Map<string, Pending>();
  private readonly packs = new Map<string, OpenPack>();
  private packTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  /** Records sent and not yet settled, packed or not: what `maxInFlight` bounds. */
  private outstanding = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private nextContext = 1;
  private closed = false;
  private fatal: PipelineError | undefined;
  private readonly backoff: Backoff;
  private readonly packing: PackingOptions | undefined;
  private readonly opts: Required<
    Pick<ProducerOptions, "maxInFlight" | "sendTimeoutMs" | "connectTimeoutMs" | "maxFrameBytes">
  >;

  private constructor(options: ProducerOptions) {
    this.topic = parseTopic(options.topic);
    this.opts = {
      maxInFlight: options.maxInFlight ?? defaultProducer.maxInFlight,
      sendTimeoutMs: options.sendTimeoutMs ?? defaultProducer.sendTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? defaultProducer.connectTimeoutMs,
      maxFrameBytes: options.maxFrameBytes ?? defaultProducer.maxFrameBytes,
    };
    this.packing = options.packing || undefined;
    if (this.packing && Math.ceil(this.packing.maxBytes / 3) * 4 + 1024 > this.opts.maxFrameBytes) {
      throw new PipelineError(
        "config",
        `packing.maxBytes ${this.packing.maxBytes} makes frames over the ${this.opts.maxFrameBytes}-byte limit once base64-encoded`,
        { hint: `keep it under ${Math.floor(((this.opts.maxFrameBytes - 1024) * 3) / 4)}` },
      );
    }
    this.backoff = new Backoff(options.backoff ?? defaultBackoff);
    const query = new URLSearchParams({ sendTimeoutMillis: String(this.opts.sendTimeoutMs) });
    if (options.batching) {
      query.set("batchingEnabled", "true");
      query.set("batchingMaxMessages", String(options.batching.maxMessages));
      query.set("batchingMaxPublishDelay", String(options.batching.maxDelayMs));
    } else {
      query.set("batchingEnabled", "false");
    }
    if (options.producerName) query.set("producerName", options.producerName);
    if (options.token) query.set("token", options.token);
    this.url = `${parseServiceUrl(options.url).wsBase}/ws/v2/producer/${this.topic.restPath}?${query}`;
    // One sweep instead of a setTimeout per send: it keeps the per-send path free of timer allocation
    // and clearing, which matters once packing makes sends cheap (the gain alone is within the noise of
    // bench/PULSAR.md); the price is a deadline checked at most ~1 s late.
    this.sweepTimer = setInterval(
      () => this.expire(),
      Math.max(10, Math.min(1000, this.opts.sendTimeoutMs / 4)),
    );
    this.sweepTimer.unref?.();
  }

  /** Connects; rejects with a PipelineError (not-found, auth, connection, timeout) when it cannot. */
  static async create(options: ProducerOptions): Promise<PulsarProducer> {
    const producer = new PulsarProducer(options);
    try {
      producer.attach(
        await FramedSocket.open(
          producer.url,
          `open producer on ${producer.topic.full}`,
          producer.opts.connectTimeoutMs,
        ),
      );
    } catch (error) {
      clearInterval(producer.sweepTimer);
      throw error;
    }
    return producer;
  }

  /** Messages sent and not yet acknowledged (written, packed, or waiting for a reconnect). */
  get inFlight(): number {
    return this.outstanding;
  }

  /** Whether the socket is open now (false while reconnecting). */
  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Why the producer gave up reconnecting (auth refused, topic deleted); every send fails with it. */
  get failure(): PipelineError | undefined {
    return this.fatal;
  }

  /**
   * Publishes one message and resolves with its message id (base64, as the WebSocket API gives it; a
   * packed record's id is the packed message's id + `#` + its index). Waits first while `maxInFlight`
   * sends are outstanding.
   */
  async send(payload: Uint8Array | string, options: SendOptions = {}): Promise<string> {
    while (this.outstanding >= this.opts.maxInFlight && !this.closed) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    return new Promise<string>((resolve, reject) => {
      this.sendTracked(payload, new SingleSend(resolve, reject), options);
    });
  }

  /**
   * Sends one message like `send`, but reports its outcome to `tracker` instead of returning a promise, and
   * does not wait for a slot: the caller bounds what it has outstanding (`inFlight` counts these sends
   * too, so `send`s wait for them). Throws at once, with nothing sent, when the producer is closed or failed
   * for good or the payload cannot fit a frame; the tracker hears only of records this accepted.
   *
   * Why no promise: a promise per record and the closures reacting to it were most of the core's heap at
   * 10,000 readings/s (~200,000 promises live); a tracker shared by a publish costs nothing per record.
   */
  sendTracked(payload: Uint8Array | string, tracker: SendTracker, options: SendOptions = {}): void {
    this.assertOpen();
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const eventTime = options.eventTime === undefined ? undefined : new Date(options.eventTime).getTime();
    if (this.packing) {
      this.pack(bytes, options, eventTime, tracker);
      return;
    }
    // Built by hand rather than JSON.stringify of an object: the base64 payload and numeric context need
    // no escaping, and this path runs once per message.
    const context = String(this.nextContext);
    let frame = `{"payload":"${bytes.toBase64()}","context":"${context}"`;
    if (options.key !== undefined) frame += `,"key":${JSON.stringify(options.key)}`;
    if (options.properties) frame += `,"properties":${JSON.stringify(options.properties)}`;
    if (eventTime !== undefined) frame += `,"eventTime":"${new Date(eventTime).toISOString()}"`;
    frame += "}";
    this.checkFrame(frame.length, bytes.byteLength);
    this.nextContext++;
    this.outstanding++;
    this.write(context, {
      frame,
      deadline: performance.now() + this.opts.sendTimeoutMs,
      runs: [{ tracker, count: 1 }],
      records: 1,
      packed: false,
    });
  }

  /** Resolves when every message sent so far is acknowledged (or failed); packs are sent at once. */
  async flush(): Promise<void> {
    this.flushPacks();
    while (this.outstanding > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes (bounded by the send timeout), then closes the socket; later sends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.packTimer);
    this.ws?.close(1000, "producer closed");
    this.wakeAll();
  }

  private pack(
    bytes: Uint8Array,
    options: SendOptions,
    eventTime: number | undefined,
    tracker: SendTracker,
  ): void {
    const packing = this.packing!;
    // A lone record must fit a frame by itself (its base64 plus the JSON around it); packs are cut by maxBytes.
    this.checkFrame(Math.ceil(bytes.byteLength / 3) * 4 + 512, bytes.byteLength);
    const slot = packing.mixKeys || options.key === undefined ? "" : `k${options.key}`;
    let open = this.packs.get(slot);
    if (open && open.bytes + bytes.byteLength > packing.maxBytes) {
      this.flushPack(slot, open);
      open = undefined;
    }
    if (!open) {
      open = {
        key: packing.mixKeys ? undefined : options.key,
        records: [],
        runs: [],
        bytes: 0,
        deadline: performance.now() + this.opts.sendTimeoutMs,
      };
      this.packs.set(slot, open);
    }
    const record: PackedRecord = { payload: bytes };
    if (packing.mixKeys && options.key !== undefined) record.key = options.key;
    if (eventTime !== undefined) record.eventTime = eventTime;
    if (options.properties) record.properties = options.properties;
    open.records.push(record);
    open.bytes += bytes.byteLength;
    this.outstanding++;
    const last = open.runs[open.runs.length - 1];
    if (last?.tracker === tracker) last.count++;
    else open.runs.push({ tracker, count: 1 });
    if (open.records.length >= packing.maxMessages) this.flushPack(slot, open);
    else this.packTimer ??= setTimeout(() => this.flushPacks(), packing.maxDelayMs);
  }

  private flushPacks(): void {
    clearTimeout(this.packTimer);
    this.packTimer = undefined;
    for (const [slot, open] of this.packs) this.flushPack(slot, open);
  }

  private flushPack(slot: string, open: OpenPack): void {
    this.packs.delete(slot);
    const context = String(this.nextContext++);
    let frame = `{"payload":"${encodePacked(open.records).toBase64()}","context":"${context}"`;
    if (open.key !== undefined) frame += `,"key":${JSON.stringify(open.key)}`;
    frame += `,"properties":{"${packedProperty}":"${packedVersion}"}}`;
    this.write(context, {
      frame,
      deadline: open.deadline,
      runs: open.runs,
      records: open.records.length,
      packed: true,
    });
  }

  private write(context: string, entry: Pending): void {
    this.pending.set(context, entry);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(entry.frame);
  }

  private checkFrame(length: number, payloadBytes: number): void {
    if (length <= this.opts.maxFrameBytes) return;
    throw new PipelineError(
      "payload-too-large",
      `message of ${payloadBytes} bytes to ${this.topic.full} makes a ${length}-byte frame, over the ${this.opts.maxFrameBytes}-byte WebSocket frame limit`,
      {
        hint: "payloads travel base64-encoded: keep them under ~3/4 of the limit, or raise webSocketMaxTextFrameSize",
      },
    );
  }

  private assertOpen(): void {
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new PipelineError("connection", `producer on ${this.topic.full} is closed`);
  }

  private attach(ws: FramedSocket): void {
    this.ws = ws;
    ws.addEventListener("message", (event) => this.onFrame(String(event.data)));
    ws.addEventListener("close", () => {
      if (this.ws === ws && !this.closed) void this.reconnect();
    });
  }

  private onFrame(text: string): void {
    const ack = parseProducerAck(text);
    if (!ack) return;
    const entry = ack.context === undefined ? undefined : this.pending.get(ack.context);
    if (!entry || ack.context === undefined) return; // timed out already, or a duplicate ack after a re-send
    this.pending.delete(ack.context);
    // Slots are freed before the trackers hear of it, so one that sends again at once finds them free.
    this.settled(entry.records);
    if (ack.result === "ok" && ack.messageId) {
      let first = 0;
      for (const run of entry.runs) {
        run.tracker.acked(run.count, ack.messageId, entry.packed ? first : undefined);
        first += run.count;
      }
    } else fail(entry.runs, sendError(this.topic.full, ack));
  }

  /**
   * Fails the sends whose deadline passed (packs are written within `maxDelayMs`, so only written ones),
   * and with the first of them every send queued after it, as the Java client does on a send timeout.
   * Why all: a caller retries a failed send, and the retry queues behind the later sends still pending,
   * which a reconnect then delivers first; the retried (older) records of a key land after newer ones.
   * bench chaos pulsar-down-60s measured it: 2,000 in-order readings dead-lettered as late, because
   * newer readings of a sensor reached the windower first and moved its watermark past them.
   */
  private expire(): void {
    const now = performance.now();
    let expired = false;
    for (const entry of this.pending.values()) {
      if (entry.deadline <= now) {
        expired = true;
        break;
      }
    }
    if (!expired) return;
    const error = pulsarTimeoutError(`send to ${this.topic.full}`, this.opts.sendTimeoutMs);
    let failing = false;
    for (const [context, entry] of this.pending) {
      if (!failing && entry.deadline > now) continue;
      failing = true;
      this.pending.delete(context);
      this.settled(entry.records);
      fail(entry.runs, error);
    }
    // Packs still open are later still: they fail too, or they would be written after the gap.
    clearTimeout(this.packTimer);
    this.packTimer = undefined;
    for (const [slot, open] of this.packs) {
      this.packs.delete(slot);
      this.settled(open.records.length);
      fail(open.runs, error);
    }
  }

  private async reconnect(): Promise<void> {
    this.ws = undefined;
    // Connection and timeout errors are retried inside; each send keeps its own deadline meanwhile.
    const outcome = await reopenWithBackoff(
      this.backoff,
      () => this.closed,
      () => FramedSocket.open(this.url, `reopen producer on ${this.topic.full}`, this.opts.connectTimeoutMs),
    );
    if (!outcome) return;
    if ("fatal" in outcome) {
      this.failAll(outcome.fatal);
      return;
    }
    this.reconnects++;
    this.attach(outcome.socket);
    // Map iteration is insertion order, so re-sends keep the original order per key. Each re-sent frame
    // gets a full send timeout on the new connection: one that expired moments after being re-sent would
    // be retried by the caller although the broker was about to store it (a duplicate, and out of order
    // behind the newer frames re-sent with it).
    const deadline = performance.now() + this.opts.sendTimeoutMs;
    for (const entry of this.pending.values()) {
      entry.deadline = Math.max(entry.deadline, deadline);
      outcome.socket.send(entry.frame);
    }
  }

  private failAll(error: PipelineError): void {
    this.fatal = error;
    clearTimeout(this.packTimer);
    this.packTimer = undefined;
    const entries = [
      ...this.pending.values(),
      ...[...this.packs.values()].map((open) => ({ runs: open.runs, records: open.records.length })),
    ];
    this.pending.clear();
    this.packs.clear();
    for (const entry of entries) {
      this.settled(entry.records);
      fail(entry.runs, error);
    }
    this.wakeAll();
  }

  /** `n` records acknowledged or failed: frees their slots, wakes `flush` when nothing is outstanding. */
  private settled(n: number): void {
    this.outstanding -= n;
    for (let i = 0; i < n && this.slotWaiters.length > 0; i++) this.slotWaiters.shift()!();
    if (this.outstanding === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private wakeAll(): void {
    for (const wake of this.slotWaiters.splice(0)) wake();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

function fail(runs: readonly Run[], error: unknown): void {
  for (const run of runs) run.tracker.failed(run.count, error);
}

const okPrefix = '{"result":"ok","messageId":"';
const contextInfix = '","context":"';

/**
 * A producer ack frame, e.g. `{"result":"ok","messageId":"COIKEAAwAA==","context":"7","errorCode":0}`.
 * The usual ok ack (the proxy's Jackson writes its fields in this order) is read with two `indexOf`s instead
 * of `JSON.parse`, which was the largest share of our per-message CPU once writes were coalesced (socket.ts);
 * anything else (errors, another field order) goes through `JSON.parse`. Undefined for a non-JSON frame.
 */
export function parseProducerAck(text: string): ProducerAck | undefined {
  if (text.startsWith(okPrefix)) {
    const idEnd = text.indexOf('"', okPrefix.length);
    if (idEnd > 0 && text.startsWith(contextInfix, idEnd)) {
      const contextStart = idEnd + contextInfix.length;
      const contextEnd = text.indexOf('"', contextStart);
      if (contextEnd > 0) {
        return {
          result: "ok",
          messageId: text.slice(okPrefix.length, idEnd),
          context: text.slice(contextStart, contextEnd),
        };
      }
    }
  }
  try {
    return JSON.parse(text) as ProducerAck;
  } catch {
    return undefined;
  }
}

/** The WebSocket API answers a failed send with `result: "send-error:N"` and the Java client's message. */
function sendError(topic: string, ack: ProducerAck): PipelineError {
  const detail = ack.errorMsg ?? ack.result;
  if (/too ?(large|big)|MessageTooBig|exceeds/i.test(detail)) {
    return new PipelineError("payload-too-large", `send to ${topic} refused: ${detail}`, {
      hint: "the broker's maxMessageSize is 5 MiB by default",
    });
  }
  if (/time ?out/i.test(detail))
    return new PipelineError("timeout", `send to ${topic} timed out in the broker: ${detail}`);
  if (/authoriz|authenticat/i.test(detail))
    return new PipelineError("auth", `send to ${topic} refused: ${detail}`);
  return new PipelineError("internal", `send to ${topic} failed: ${detail}`);
}
