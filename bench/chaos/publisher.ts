/**
 * The chaos bench's own sensor fleet: an in-process MQTT publisher whose every reading is accounted for.
 * The edge cannot tell afterwards which readings the broker took (its counters die with it), so the
 * scenarios that fault the pipeline publish from here: event time = wall time, in order, one reading per
 * sensor per interval, QoS 1, and a reading counts as sent once the broker acknowledged it.
 */

import { type BatchMessage, type StreamingMessage, sensorTopic } from "@energy/contracts/records.ts";
import mqtt, { type MqttClient } from "mqtt";
import { readingKey } from "./accounting.ts";

export interface SensorSpec {
  id: number;
  /** Seconds between two readings of this sensor (1 = every second). */
  intervalS: number;
  mode: "streaming" | "batch";
}

export interface FleetOptions {
  mqttUrl: string;
  topicPrefix: string;
  sensors: readonly SensorSpec[];
  clientId: string;
  /** Called once per reading when the broker acknowledged it (sent), for progress. */
  onProgress?: (sent: number) => void;
}

/** Deterministic plausible watts, so a window's values can be recomputed if ever needed. */
export const wattsOf = (sensorId: number, second: number) => 100 + ((sensorId * 7919 + second * 31) % 900);

/**
 * Publishes the fleet in real time until `stop()`. Batching sensors send one `complete` batch per event-time
 * minute (at the minute's end), streaming sensors one message per reading. Sent keys are kept in a Set for
 * the exact accounting.
 */
export class Fleet {
  readonly sent = new Set<string>();
  /** Readings handed to the client but not acknowledged (yet). */
  pending = 0;
  messages = 0;
  /** Readings handed to the MQTT client (acknowledged or not). */
  produced = 0;
  errors = 0;
  private readonly client: MqttClient;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly batches = new Map<number, Array<[number, number]>>();
  private stopped = false;
  /** Event second of the newest reading produced. */
  lastSecond = 0;
  firstSecond = 0;

  constructor(private readonly o: FleetOptions) {
    this.client = mqtt.connect(o.mqttUrl, {
      clientId: o.clientId,
      // A persistent session so that QoS 1 messages in the client's store survive a broker restart.
      clean: false,
      protocolVersion: 5,
      reconnectPeriod: 500,
      connectTimeout: 5_000,
      properties: { sessionExpiryInterval: 3600 },
    });
    this.client.on("error", () => {});
  }

  async ready(timeoutMs = 15_000): Promise<void> {
    if (this.client.connected) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`fleet ${this.o.clientId}: no MQTT connection`)),
        timeoutMs,
      );
      this.client.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Starts at the next whole second. */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      const second = Math.floor(Date.now() / 1000);
      if (second > this.lastSecond) {
        // A stalled event loop (machine load) must not skip seconds: catch up in order.
        const from = this.lastSecond === 0 ? second : this.lastSecond + 1;
        if (this.firstSecond === 0) this.firstSecond = from;
        for (let s = from; s <= second; s++) this.emitSecond(s);
        this.lastSecond = second;
      }
      this.timer = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    tick();
  }

  private emitSecond(second: number): void {
    for (const s of this.o.sensors) {
      if (s.mode === "batch") {
        // The minute that just ended goes out first, as one complete batch.
        if (second % 60 === 0) this.flushBatch(s.id, second);
      }
      if (second % s.intervalS !== s.id % s.intervalS) continue;
      const value = wattsOf(s.id, second);
      if (s.mode === "streaming") {
        const body: StreamingMessage = {
          sensor_id: s.id,
          sensor_energy_value: value,
          sensor_timestamp: second,
          message_creation_time: Date.now(),
        };
        this.publish(sensorTopic(this.o.topicPrefix, s.id, "reading"), JSON.stringify(body), [
          readingKey(s.id, second * 1000),
        ]);
      } else {
        const list = this.batches.get(s.id) ?? [];
        list.push([second, value]);
        this.batches.set(s.id, list);
      }
    }
  }

  private flushBatch(sensorId: number, endSecond: number): void {
    const readings = this.batches.get(sensorId) ?? [];
    this.batches.delete(sensorId);
    const body: BatchMessage = {
      sensor_id: sensorId,
      interval_start: endSecond - 60,
      interval_end: endSecond,
      message_creation_time: Date.now(),
      readings,
      complete: true,
    };
    this.publish(
      sensorTopic(this.o.topicPrefix, sensorId, "batch"),
      JSON.stringify(body),
      readings.map(([t]) => readingKey(sensorId, t * 1000)),
    );
  }

  private publish(topic: string, payload: string, keys: string[]): void {
    this.pending += keys.length;
    this.produced += keys.length;
    this.messages++;
    this.client.publish(topic, payload, { qos: 1 }, (error) => {
      this.pending -= keys.length;
      if (error) {
        this.errors++;
        return;
      }
      for (const k of keys) this.sent.add(k);
      this.o.onProgress?.(this.sent.size);
    });
  }

  /**
   * Stops producing. Batching sensors' partial minute is not sent (a real smart sensor would send it at
   * the minute's end; the scenario ends before). Waits up to `drainMs` for outstanding acknowledgements.
   */
  async stop(drainMs = 30_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const deadline = Date.now() + drainMs;
    while (this.pending > 0 && Date.now() < deadline) await Bun.sleep(100);
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
  }
}
