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
