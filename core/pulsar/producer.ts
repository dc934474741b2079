/**
 * Producer over Pulsar's WebSocket API (`/ws/v2/producer/persistent/{tenant}/{ns}/{topic}`).
 *
 * Why WebSocket and not the binary protocol: the standalone (and any broker with
 * `webSocketServiceEnabled=true`) serves it on the web port next to the admin API, it is JSON frames over a
 * socket Bun ships natively, and the broker-side proxy is Pulsar's own Java client, so we get its routing
 * to partitions by key hash, its batching and its reconnection to bookies for free. The binary protocol
 * would need protobuf framing, CRC32C, lookups and partition metadata handled by us — weeks, not days.
 * The cost is an extra hop in the broker and base64 payloads (+33 %); bench/ measures the throughput
 * against `pulsar-perf` before we decide it is not enough.
 *
 * Each `send` writes one frame at once and returns a promise of the message id; callers may keep up to
 * `maxInFlight` sends outstanding (that pipelining is our client-side batching: no round trip per
 * message), and `send` waits for a free slot beyond that (backpressure). With `batching` the broker-side
 * producer also groups the pipelined messages into one stored entry. When the socket drops, the producer
 * reconnects with backoff and re-sends every un-acknowledged message in order: delivery is at-least-once
 * (a message whose ack was lost in the drop is stored twice).
 *
 * @example
 * const producer = await PulsarProducer.create({ topic: "persistent://public/default/readings" });
 * const id = await producer.send(new TextEncoder().encode("42.0"), { key: "sensor-7", eventTime: Date.now() });
 * await producer.close();
 */
import { PipelineError } from "../../lib/errors.ts";
import { Backoff, type BackoffOptions, defaultBackoff } from "./backoff.ts";
import { pulsarTimeoutError } from "./errors.ts";
import { parseServiceUrl } from "./service-url.ts";
import { openSocket, toBase64 } from "./socket.ts";
import { parseTopic, type TopicName } from "./topic.ts";

export interface ProducerOptions {
  /** Full or short topic name; a partitioned topic is fine (the broker routes by key hash). */
  topic: string;
  /** Web service URL, default `http://127.0.0.1:8080`. */
  url?: string;
  /** Sends outstanding (written, not yet acknowledged) before `send` waits; default 1000. */
  maxInFlight?: number;
  /** Deadline from `send` to the broker's ack, default 30 s; includes time spent reconnecting. */
  sendTimeoutMs?: number;
  /** Deadline for each connection attempt, default 30 s (the proxy retries a not-yet-ready broker after ~12 s). */
  connectTimeoutMs?: number;
  /** Let the broker-side producer group messages into batches (fewer, larger entries). Default off. */
  batching?: { maxMessages: number; maxDelayMs: number } | false;
  producerName?: string;
  /** Largest frame we write; the broker's `webSocketMaxTextFrameSize` is 1 MiB by default. */
  maxFrameBytes?: number;
  backoff?: BackoffOptions;
  token?: string;
}

export interface SendOptions {
  /** Partitioning and Key_Shared key; we use the sensor id. */
  key?: string;
  properties?: Record<string, string>;
  /** Event time, epoch ms (or a Date). */
  eventTime?: number | Date;
}

interface Pending {
  frame: string;
  resolve: (id: string) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface ProducerAck {
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

export class PulsarProducer {
  readonly topic: TopicName;
  /** Times the socket was re-opened after a drop. */
  reconnects = 0;

  private ws: WebSocket | undefined;
  private readonly url: string;
  private readonly pending = new Map<string, Pending>();
  private readonly slotWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private nextContext = 1;
  private closed = false;
  private fatal: PipelineError | undefined;
  private readonly backoff: Backoff;
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
  }

  /** Connects; rejects with a PipelineError (not-found, auth, connection, timeout) when it cannot. */
  static async create(options: ProducerOptions): Promise<PulsarProducer> {
    const producer = new PulsarProducer(options);
    producer.attach(
      await openSocket(
        producer.url,
        `open producer on ${producer.topic.full}`,
        producer.opts.connectTimeoutMs,
      ),
    );
    return producer;
  }

  /** Messages written and not yet acknowledged (or waiting for a reconnect). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Publishes one message and resolves with its message id (base64, as the WebSocket API gives it).
   * Waits first while `maxInFlight` sends are outstanding.
   */
  async send(payload: Uint8Array | string, options: SendOptions = {}): Promise<string> {
    while (this.pending.size >= this.opts.maxInFlight && !this.closed) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    this.assertOpen();
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const context = String(this.nextContext++);
    const frame = JSON.stringify({
      payload: toBase64(bytes),
      context,
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(options.properties ? { properties: options.properties } : {}),
      ...(options.eventTime === undefined ? {} : { eventTime: new Date(options.eventTime).toISOString() }),
    });
    if (frame.length > this.opts.maxFrameBytes) {
      throw new PipelineError(
        "payload-too-large",
        `message of ${bytes.byteLength} bytes to ${this.topic.full} makes a ${frame.length}-byte frame, over the ${this.opts.maxFrameBytes}-byte WebSocket frame limit`,
        {
          hint: "payloads travel base64-encoded: keep them under ~3/4 of the limit, or raise webSocketMaxTextFrameSize",
        },
      );
    }
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(context)) {
          reject(pulsarTimeoutError(`send to ${this.topic.full}`, this.opts.sendTimeoutMs));
          this.releaseSlot();
        }
      }, this.opts.sendTimeoutMs);
      this.pending.set(context, { frame, resolve, reject, timer });
      if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
    });
  }

  /** Resolves when every message sent so far is acknowledged (or failed). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes (bounded by the send timeout), then closes the socket; later sends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.ws?.close(1000, "producer closed");
    this.wakeAll();
  }

  private assertOpen(): void {
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new PipelineError("connection", `producer on ${this.topic.full} is closed`);
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    ws.addEventListener("message", (event) => this.onFrame(String(event.data)));
    ws.addEventListener("close", () => {
      if (this.ws === ws && !this.closed) void this.reconnect();
    });
  }

  private onFrame(text: string): void {
    let ack: ProducerAck;
    try {
      ack = JSON.parse(text) as ProducerAck;
    } catch {
      return;
    }
    const entry = ack.context === undefined ? undefined : this.pending.get(ack.context);
    if (!entry || ack.context === undefined) return; // timed out already, or a duplicate ack after a re-send
    this.pending.delete(ack.context);
    clearTimeout(entry.timer);
    if (ack.result === "ok" && ack.messageId) {
      entry.resolve(ack.messageId);
    } else {
      entry.reject(sendError(this.topic.full, ack));
    }
    this.releaseSlot();
  }

  private async reconnect(): Promise<void> {
    this.ws = undefined;
    while (!this.closed) {
      await Bun.sleep(this.backoff.next());
      if (this.closed) return;
      try {
        const ws = await openSocket(
          this.url,
          `reopen producer on ${this.topic.full}`,
          this.opts.connectTimeoutMs,
        );
        if (this.closed) {
          ws.close();
          return;
        }
        this.reconnects++;
        this.backoff.reset();
        this.attach(ws);
        // Map iteration is insertion order, so re-sends keep the original order per key.
        for (const entry of this.pending.values()) ws.send(entry.frame);
        return;
      } catch (error) {
        if (error instanceof PipelineError && (error.code === "auth" || error.code === "not-found")) {
          this.failAll(error);
          return;
        }
        // connection / timeout / broker still starting: keep trying; each send has its own deadline
      }
    }
  }

  private failAll(error: PipelineError): void {
    this.fatal = error;
    for (const [context, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(error);
      this.pending.delete(context);
    }
    this.wakeAll();
  }

  private releaseSlot(): void {
    this.slotWaiters.shift()?.();
    if (this.pending.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private wakeAll(): void {
    for (const wake of this.slotWaiters.splice(0)) wake();
    for (const wake of this.idleWaiters.splice(0)) wake();
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
