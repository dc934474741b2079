/**
 * A small pool of MQTT connections shared by many sensors, with a bounded queue in front of each.
 *
 * Why not lean on mqtt.js alone: its offline queue grows without bound while disconnected and it retries at a
 * fixed period. Here a full queue drops the message and counts it (an edge device has little memory and the
 * operator must see the loss), in-flight publishes per connection are capped (QoS 1 acks pace the sender), and
 * reconnects back off exponentially with jitter so 10,000 emulated sensors do not hammer a restarting broker.
 */

import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";
import { Backoff } from "@energy/platform/backoff.ts";
import { type Logger, rateLimitedLogger } from "@energy/platform/log.ts";
import type { MqttTls } from "@energy/platform/mqtt-tls.ts";
import mqtt, { type MqttClient } from "mqtt";

export type QoS = 0 | 1 | 2;

export interface PublisherOptions {
  url: string;
  qos: QoS;
  username?: string | undefined;
  password?: string | undefined;
  /** CA / client certificate for mqtts:// (packages/platform/mqtt-tls.ts). */
  tls?: MqttTls | undefined;
  clientIdPrefix: string;
  connections: number;
  /** Messages that may wait across all connections before new ones are dropped. */
  queueLimit: number;
  /** Publishes awaiting their ack (or socket write, for QoS 0) per connection. */
  maxInFlight: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  /** Called once when the broker refuses us for a reason retrying cannot fix (bad credentials). */
  onFatal: (error: PipelineError) => void;
}

export interface PublisherStats {
  messagesSent: number;
  readingsSent: number;
  bytesSent: number;
  /** Publishes that failed (callback error), e.g. QoS 0 messages lost when a connection closed. */
  errors: number;
  /** Messages refused because the queue was full. */
  dropped: number;
  droppedReadings: number;
  queued: number;
  inFlight: number;
  connections: number;
  connected: number;
  reconnects: number;
  connectionErrors: number;
}

// v3.1.1 CONNACK 4/5 and v5 134/135: bad user name or password / not authorised.
const authCodes = new Set([4, 5, 134, 135]);

interface Pending {
  topic: string;
  payload: Buffer;
  readings: number;
}

class Connection {
  readonly client: MqttClient;
  readonly queue: Pending[] = [];
  head = 0;
  inFlight = 0;
  readonly backoff: Backoff;
  everConnected = false;
  reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly index: number,
    readonly pool: MqttPublisher,
  ) {
    const o = pool.options;
    // Full jitter spreads the reconnects of a whole pool (and of every edge) that lost the same broker.
    this.backoff = new Backoff({ initialMs: o.backoffInitialMs, maxMs: o.backoffMaxMs });
    this.client = mqtt.connect(o.url, {
      clientId: `${o.clientIdPrefix}-${process.pid}-${index}`,
      username: o.username,
      password: o.password,
      ...o.tls,
      clean: true,
      // Reconnecting is ours (exponential backoff); mqtt.js only knows a fixed period.
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      queueQoSZero: false,
    });
    this.client.on("connect", () => {
      const first = !this.everConnected;
      if (!first) pool.counters.reconnects++;
      this.backoff.reset();
      this.everConnected = true;
      pool.onConnected(this, first);
      this.pump();
    });
    this.client.on("error", (error) => pool.onConnectionError(this, error));
    this.client.on("close", () => this.scheduleReconnect());
  }

  get backlog(): number {
    return this.queue.length - this.head;
  }

  scheduleReconnect(): void {
    if (this.pool.closing || this.pool.fatal || this.reconnectTimer) return;
    const delay = Math.round(this.backoff.next());
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.pool.closing || this.pool.fatal) return;
      // Passing the stores keeps unacknowledged QoS 1/2 publishes, which mqtt.js resends after CONNACK.
      this.client.reconnect({
        incomingStore: this.client.incomingStore,
        outgoingStore: this.client.outgoingStore,
      });
    }, delay);
  }

  enqueue(p: Pending): boolean {
    if (this.backlog === 0 && this.canSend()) {
      this.send(p);
      return true;
    }
    if (this.backlog >= this.pool.perConnectionQueueLimit) return false;
    this.queue.push(p);
    return true;
  }

  canSend(): boolean {
    return (
      this.client.connected && !this.client.disconnecting && this.inFlight < this.pool.options.maxInFlight
    );
  }

  pump(): void {
    while (this.backlog > 0 && this.canSend()) {
      const p = this.queue[this.head]!;
      this.queue[this.head] = undefined as unknown as Pending;
      this.head++;
      this.send(p);
    }
    // Compact now and then instead of shift(), which is O(n) per message on a long queue.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  send(p: Pending): void {
    this.inFlight++;
    this.client.publish(p.topic, p.payload, { qos: this.pool.options.qos }, (error) => {
      this.inFlight--;
      this.pool.onPublished(p, error);
      this.pump();
    });
  }
}

/**
 * @example
 * const pub = new MqttPublisher({ url: "mqtt://127.0.0.1:1883", qos: 1, connections: 4, ... });
 * pub.publish(sensorId, "sensors/7/reading", JSON.stringify(msg), 1);
 * await pub.drain(5_000); await pub.close();
 */
export class MqttPublisher {
  readonly counters = {
    messagesSent: 0,
    readingsSent: 0,
    bytesSent: 0,
    errors: 0,
    dropped: 0,
    droppedReadings: 0,
    reconnects: 0,
    connectionErrors: 0,
  };
  readonly perConnectionQueueLimit: number;
  /** Resolves once every connection has connected at least once. */
  readonly ready: Promise<void>;
  closing = false;
  fatal: PipelineError | undefined;
  private readonly connections: Connection[];
  private readonly warn: ReturnType<typeof rateLimitedLogger>;
  private unconnected: number;
  private resolveReady: () => void = () => {};

  constructor(readonly options: PublisherOptions) {
    this.perConnectionQueueLimit = Math.max(1, Math.ceil(options.queueLimit / options.connections));
    this.warn = rateLimitedLogger(options.logger, 5_000);
    this.unconnected = options.connections;
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    this.connections = Array.from({ length: options.connections }, (_, i) => new Connection(i, this));
  }

  /**
   * Queues a message on the connection `key` maps to (a sensor keeps one connection, so its messages stay
   * in order). Returns false, and counts the drop, when that connection's queue is full.
   */
  publish(key: number, topic: string, payload: string, readings: number): boolean {
    const conn = this.connections[key % this.connections.length]!;
    const p: Pending = { topic, payload: Buffer.from(payload), readings };
    if (conn.enqueue(p)) return true;
    this.counters.dropped++;
    this.counters.droppedReadings += readings;
    this.warn("dropped", "offline queue full, dropping messages", {
      connection: conn.index,
      connected: conn.client.connected,
      dropped: this.counters.dropped,
    });
    return false;
  }

  /** Messages queued or awaiting their ack. */
  get backlog(): number {
    let n = 0;
    for (const c of this.connections) n += c.backlog + c.inFlight;
    return n;
  }

  stats(): PublisherStats {
    let queued = 0;
    let inFlight = 0;
    let connected = 0;
    for (const c of this.connections) {
      queued += c.backlog;
      inFlight += c.inFlight;
      if (c.client.connected) connected++;
    }
    return { ...this.counters, queued, inFlight, connections: this.connections.length, connected };
  }

  /** Waits until nothing is queued or in flight; false when `timeoutMs` passed first. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.backlog > 0) {
      if (Date.now() >= deadline || this.fatal) return false;
      await Bun.sleep(5);
    }
    return true;
  }

  /** Disconnects every connection (DISCONNECT when possible, forced after `timeoutMs`). */
  async close(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.connections.map(async (c) => {
        clearTimeout(c.reconnectTimer);
        const graceful = c.client.endAsync(false);
        const timer = Bun.sleep(timeoutMs).then(() => "timeout" as const);
        if ((await Promise.race([graceful.then(() => "ok" as const), timer])) === "timeout") {
          await c.client.endAsync(true);
        }
      }),
    );
  }

  onConnected(conn: Connection, first: boolean): void {
    this.options.logger.debug(first ? "connected" : "reconnected", { connection: conn.index });
    if (first && --this.unconnected === 0) this.resolveReady();
  }

  onConnectionError(conn: Connection, error: Error): void {
    this.counters.connectionErrors++;
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === "number" && authCodes.has(code) && !this.fatal) {
      this.fatal = new PipelineError(
        "auth",
        `MQTT broker ${this.options.url} refused the credentials: ${error.message}`,
        {
          hint: "check --mqtt-username/--mqtt-password (MQTT_USERNAME/MQTT_PASSWORD)",
          cause: error,
        },
      );
      this.options.onFatal(this.fatal);
      return;
    }
    this.warn(`conn-${conn.index}`, "MQTT connection error, will retry with backoff", {
      connection: conn.index,
      url: this.options.url,
      error: errorMessage(error),
    });
  }

  onPublished(p: Pending, error: Error | undefined): void {
    if (error) {
      this.counters.errors++;
      this.warn("publish", "publish failed", { error: errorMessage(error) });
      return;
    }
    this.counters.messagesSent++;
    this.counters.readingsSent += p.readings;
    this.counters.bytesSent += p.payload.length;
  }
}
