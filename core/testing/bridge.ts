/**
 * A bridge (core/bridge.ts) for tests: the machine's Mosquitto, no share group, dead letters and metrics of
 * its own, a silent logger; a test gives the prefix and the readings log and overrides the rest.
 *
 * @example
 * const bridge = await startTestBridge({ topicPrefix: prefix, readingsLog: collectingReadingsLog().log });
 */

import { coreMetrics } from "@energy/platform/metrics.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { mosquittoUrl } from "@energy/testing/servers.ts";
import { Registry } from "prom-client";
import { type BridgeOptions, startBridge } from "../bridge.ts";
import { createMemoryDeadLetterSink } from "../dead-letters.ts";

export function startTestBridge(
  options: Pick<BridgeOptions, "topicPrefix" | "readingsLog"> & Partial<BridgeOptions>,
) {
  return startBridge({
    mqttUrl: mosquittoUrl,
    shareGroup: undefined,
    deadLetters: createMemoryDeadLetterSink(),
    metrics: coreMetrics(new Registry()),
    logger: silent,
    ...options,
  });
}

/**
 * Sensor 1's reading `s` seconds into 2025-12-08 as the MQTT payload; its value is 500 + s, so a test reads
 * back from the readings log which seconds arrived.
 */
export function secondReading(s: number): string {
  return JSON.stringify({
    sensor_id: 1,
    sensor_energy_value: 500 + s,
    sensor_timestamp: 1_765_152_000 + s,
    message_creation_time: Date.now(),
  });
}
