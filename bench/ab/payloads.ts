/**
 * The payloads of the raw-broker baseline, built with the same shapes (and similar sizes) as the edge's
 * messages, so the baseline moves the same bytes per reading the pipeline does.
 */
import {
  type BatchMessage,
  defaultTopicPrefix,
  type MessageKind,
  type StreamingMessage,
  sensorTopic,
} from "@energy/contracts/records.ts";

export interface Payload {
  topic: string;
  body: Buffer;
  readings: number;
}

/** A 731.2-style watt value: one decimal, in the generator's 500–1700 W range. */
const watts = (i: number) => Math.round((600 + ((i * 37) % 1000) + (i % 7) / 10) * 10) / 10;

/**
 * `count` distinct payloads for `sensors` sensors (topics `sensors/<id>/<kind>`); a batch payload holds
 * `readingsPerBatch` readings, one per 1000/rate ms, like one edge interval.
 */
export function baselinePayloads(
  kind: MessageKind,
  o: { sensors: number; count: number; readingsPerBatch: number; ratePerSecond: number },
): Payload[] {
  const startS = Math.floor(Date.now() / 60_000) * 60;
  const out: Payload[] = [];
  for (let i = 0; i < o.count; i++) {
    const sensorId = (i % o.sensors) + 1;
    const topic = sensorTopic(defaultTopicPrefix, sensorId, kind);
    if (kind === "reading") {
      const m: StreamingMessage = {
        sensor_id: sensorId,
        sensor_energy_value: watts(i),
        sensor_timestamp: startS + Math.floor(i / o.sensors),
        message_creation_time: Date.now(),
      };
      out.push({ topic, body: Buffer.from(JSON.stringify(m)), readings: 1 });
    } else {
      const stepS = 1 / o.ratePerSecond;
      const readings: [number, number][] = [];
      for (let r = 0; r < o.readingsPerBatch; r++) readings.push([startS + r * stepS, watts(i + r)]);
      const m: BatchMessage = {
        sensor_id: sensorId,
        interval_start: startS,
        interval_end: startS + 60,
        message_creation_time: Date.now(),
        readings,
        complete: true,
      };
      out.push({ topic, body: Buffer.from(JSON.stringify(m)), readings: o.readingsPerBatch });
    }
  }
  return out;
}
