/**
 * Runs many emulated sensors in one process: one scheduler tick drives every sensor's stream (no per-sensor
 * timers), readings go out as StreamingMessages (architecture A) or per-interval BatchMessages (B) over a
 * small MQTT connection pool.
 *
 * Time: the sensors' event clock advances `speed` times faster than wall time from the first reading's time
 * (speed 60 replays an hour per minute); speed 0 advances it as fast as the broker acknowledges, holding the
 * producer back while the queue is half full instead of dropping.
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import {
  type BatchMessage,
  defaultTopicPrefix,
  type StreamingMessage,
  sensorTopic,
} from "@energy/contracts/records.ts";
import { createLogger, type Logger } from "@energy/platform/log.ts";
import type { MqttTls } from "@energy/platform/mqtt-tls.ts";
import { type BatcherOptions, SensorBatcher } from "./batcher.ts";
import { MqttPublisher, type PublisherStats, type QoS } from "./publisher.ts";
import type { SensorStream } from "./sources/stream.ts";

export type AgentMode = "streaming" | "batch";

export interface AgentOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  mqttUrl: string;
  mode: AgentMode;
  /** One stream per sensor; see edge/sources/index.ts `buildSensorStreams`. */
  streams: SensorStream[];
  /** Event-time seconds per wall second; 0 = as fast as the broker takes them. Default 1. */
  speed?: number;
  topicPrefix?: string;
  qos?: QoS;
  username?: string | undefined;
  password?: string | undefined;
  /** CA / client certificate for mqtts:// (packages/platform/mqtt-tls.ts). */
  tls?: MqttTls | undefined;
  clientIdPrefix?: string;
  /** MQTT connections in the pool; sensor id modulo this picks one. Default 4. */
  connections?: number;
  /** Messages that may wait while the broker is slow or away; more are dropped and counted. Default 100,000. */
  offlineQueue?: number;
  /** Unacknowledged publishes per connection. Default 1,000. */
  maxInFlight?: number;
  /** Batch mode: interval, bounds; grace defaults to 0 for in-order streams and one interval otherwise. */
  batch?: Partial<Omit<BatcherOptions, "ordered">>;
  /** Scheduler period at speed > 0. Default 50 ms. */
  tickMs?: number;
  /** Longest wait for in-flight publishes at shutdown. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Longest wait for the pool to connect before the clock starts anyway (then the queue buffers). Default 10 s. */
  startupTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logger?: Logger;
}

export interface AgentStats extends PublisherStats {
  mode: AgentMode;
  sensors: number;
  /** Sensors whose source is not exhausted yet. */
  activeSensors: number;
  /** Readings taken from the sources (sent, queued, buffered in batches, or dropped). */
  readingsProduced: number;
  /** Messages still queued or in flight when the shutdown timeout expired. */
  abandoned: number;
  /** The sensors' event clock, epoch ms (NaN before start). */
  eventTimeMs: number;
  elapsedMs: number;
  finished: boolean;
}

export interface AgentHandle {
  /** Counters now; cheap, meant for progress lines and a /health endpoint. */
  stats(): AgentStats;
  /** Flushes open batches, waits for in-flight publishes (bounded), disconnects. Idempotent. */
  stop(): Promise<AgentStats>;
  /** Settles when the sources are exhausted and everything is flushed, or after stop(); rejects on a fatal error. */
  readonly done: Promise<AgentStats>;
  /** Resolves once every MQTT connection has connected once. */
  readonly ready: Promise<void>;
}

interface SensorSlot {
  stream: SensorStream;
  topic: string;
  batcher: SensorBatcher | undefined;
}

/** Readings one speed-0 tick aims to produce: enough to amortise the tick, small enough to keep I/O flowing. */
const fastTickReadings = 20_000;

/**
 * @example
 * const streams = await buildSensorStreams({ kind: "generator", sensors: 1000, durationMs: 3_600_000 });
 * const agent = startAgent({ mqttUrl: "mqtt://127.0.0.1:1883", mode: "batch", streams, speed: 60 });
 * process.on("SIGINT", () => agent.stop());
 * console.log(await agent.done);
 */
export function startAgent(options: AgentOptions): AgentHandle {
  const logger = options.logger ?? createLogger("edge");
  const speed = options.speed ?? 1;
  if (!(speed >= 0) || !Number.isFinite(speed)) {
    throw new PipelineError("config", `speed ${speed} must be a finite number ≥ 0`);
  }
  const prefix = options.topicPrefix ?? defaultTopicPrefix;
  const kind = options.mode === "batch" ? "batch" : "reading";
  const tickMs = options.tickMs ?? 50;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const offlineQueue = options.offlineQueue ?? 100_000;
  const connections = Math.max(1, Math.min(options.connections ?? 4, options.streams.length || 1));

  let fatal: ((error: PipelineError) => void) | undefined;
  const publisher = new MqttPublisher({
    url: options.mqttUrl,
    qos: options.qos ?? 1,
    username: options.username,
    password: options.password,
    tls: options.tls,
    clientIdPrefix: options.clientIdPrefix ?? "edge",
    connections,
    queueLimit: offlineQueue,
    maxInFlight: options.maxInFlight ?? 1_000,
    backoffInitialMs: options.backoffInitialMs ?? 500,
    backoffMaxMs: options.backoffMaxMs ?? 30_000,
    connectTimeoutMs: 10_000,
    logger: logger.child("mqtt"),
    onFatal: (error) => fatal?.(error),
  });

  const slots: SensorSlot[] = options.streams.map((stream) => ({
    stream,
    topic: sensorTopic(prefix, stream.sensorId, kind),
    batcher:
      options.mode === "batch"
        ? new SensorBatcher(stream.sensorId, {
            ...options.batch,
            ordered: stream.ordered,
            graceMs: options.batch?.graceMs ?? (stream.ordered ? 0 : (options.batch?.intervalMs ?? 60_000)),
          })
        : undefined,
  }));
  let active = slots.slice();
  let readingsProduced = 0;
  let abandoned = 0;
  let clockStartMs = Number.NaN;
  let eventTimeMs = Number.NaN;
  let wallStartMs = Date.now();
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopping: Promise<AgentStats> | undefined;
  // Half the queue: leaves room for batches flushed at shutdown and for a broker hiccup without drops.
  const highWater = Math.max(1, Math.floor(offlineQueue / 2));
  // At speed 0 a tick must not overfill the queue above the high-water mark (that would drop), so it aims
  // at a quarter of the headroom; the step starts at 1 ms and at most doubles per tick to find that size.
  const fastTickTarget = Math.max(1, Math.min(fastTickReadings, Math.floor((offlineQueue - highWater) / 4)));
  let fastStepMs = 1;

  const stats = (): AgentStats => ({
    ...publisher.stats(),
    mode: options.mode,
    sensors: slots.length,
    activeSensors: active.length,
    readingsProduced,
    abandoned,
    eventTimeMs,
    elapsedMs: Date.now() - wallStartMs,
    finished,
  });

  const sendBatch = (slot: SensorSlot, message: BatchMessage) => {
    publisher.publish(slot.stream.sensorId, slot.topic, JSON.stringify(message), message.readings.length);
  };

  /** Moves every sensor up to `targetMs` on its clock; returns the readings produced. */
  const advanceTo = (targetMs: number): number => {
    // A batch's creation time: one clock read per tick, not per reading (a tick lasts milliseconds).
    const now = Date.now();
    let produced = 0;
    let exhausted = false;
    for (const slot of active) {
      const { stream, batcher } = slot;
      let next = stream.peek();
      while (next !== undefined && next.dueMs <= targetMs) {
        stream.take();
        produced++;
        const r = next.reading;
        if (batcher) {
          for (const m of batcher.add(r, now)) sendBatch(slot, m);
        } else {
          const message: StreamingMessage = {
            sensor_id: r.sensorId,
            sensor_energy_value: r.value,
            sensor_timestamp: r.eventTimeMs / 1000,
            message_creation_time: Date.now(),
          };
          publisher.publish(stream.sensorId, slot.topic, JSON.stringify(message), 1);
        }
        next = stream.peek();
      }
      if (batcher) {
        // Exhausted source: the sensor knows nothing follows, so it need not wait for the interval to end.
        const due = next === undefined ? batcher.flushAll(now) : batcher.flushDue(targetMs, now);
        for (const m of due) sendBatch(slot, m);
      }
      if (next === undefined) exhausted = true;
    }
    if (exhausted) active = active.filter((s) => s.stream.peek() !== undefined);
    readingsProduced += produced;
    eventTimeMs = targetMs;
    return produced;
  };

  const tick = () => {
    timer = undefined;
    if (stopping) return;
    if (speed > 0) {
      advanceTo(clockStartMs + (Date.now() - wallStartMs) * speed);
    } else if (publisher.backlog < highWater) {
      const produced = advanceTo(eventTimeMs + fastStepMs);
      const factor = Math.min(2, Math.max(0.25, fastTickTarget / Math.max(1, produced)));
      fastStepMs = Math.min(3_600_000, Math.max(1, fastStepMs * factor));
    }
    if (active.length === 0) {
      finished = true;
      // `done` carries the outcome; this caller has nothing to add.
      stop().catch(() => {});
      return;
    }
    if (speed > 0) timer = setTimeout(tick, tickMs);
    else if (publisher.backlog < highWater) timer = setTimeout(tick, 0);
    else timer = setTimeout(tick, 2);
  };

  let resolveDone: (s: AgentStats) => void = () => {};
  let rejectDone: (e: unknown) => void = () => {};
  const done = new Promise<AgentStats>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const stop = (): Promise<AgentStats> => {
    stopping ??= (async () => {
      clearTimeout(timer);
      clearTimeout(startupTimer);
      const now = Date.now();
      for (const slot of slots) {
        if (slot.batcher) for (const m of slot.batcher.flushAll(now)) sendBatch(slot, m);
      }
      if (!publisher.fatal && !(await publisher.drain(shutdownTimeoutMs))) {
        abandoned = publisher.backlog;
        logger.warn("shutdown timeout: messages still queued or unacknowledged", {
          abandoned,
          shutdownTimeoutMs,
        });
      }
      await publisher.close();
      if (publisher.fatal) throw publisher.fatal;
      return stats();
    })();
    stopping.then(resolveDone, rejectDone);
    return stopping;
  };
  fatal = (error) => {
    logger.error(error.message);
    stop().catch(() => {});
  };

  let started = false;
  const start = () => {
    if (started || stopping) return;
    started = true;
    clearTimeout(startupTimer);
    let first = Number.POSITIVE_INFINITY;
    for (const s of slots) first = Math.min(first, s.stream.peek()?.dueMs ?? Number.POSITIVE_INFINITY);
    wallStartMs = Date.now();
    clockStartMs = Number.isFinite(first) ? first : wallStartMs;
    eventTimeMs = clockStartMs - 1;
    logger.info("agent started", {
      mode: options.mode,
      sensors: slots.length,
      connections,
      speed,
      eventTime: new Date(clockStartMs).toISOString(),
    });
    tick();
  };
  const startupTimer = setTimeout(() => {
    logger.warn("MQTT pool not fully connected yet; starting the clock anyway", {
      connected: publisher.stats().connected,
      connections,
    });
    start();
  }, options.startupTimeoutMs ?? 10_000);
  void publisher.ready.then(start);

  return { stats, stop, done, ready: publisher.ready };
}
