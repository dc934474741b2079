/**
 * The standalone forecaster's input: the core's windows topic on Pulsar, opened through the same declaration
 * the core uses (packages/logs/topics.ts) so both agree on topic, partitions and schema.
 */

import type { WindowRecord } from "@energy/contracts/records.ts";
import type { DeadLetterTarget, RecordLog } from "@energy/logs/log.ts";
import { openWindowsTopic } from "@energy/logs/topics.ts";
import type { Logger } from "@energy/platform/log.ts";
import { pulsarMetrics } from "@energy/platform/metrics.ts";
import type { Registry } from "prom-client";

export interface PulsarWindowsOptions {
  pulsarUrl: URL;
  namespace: string;
  partitions: number;
  registry: Registry;
  /** Where windows the codec cannot decode go (reason `undecodable`). */
  deadLetters: DeadLetterTarget;
  logger: Logger;
}

/** `persistent://{namespace}/windows`, created with `partitions` partitions when missing. */
export function openPulsarWindowsLog(options: PulsarWindowsOptions): Promise<RecordLog<WindowRecord>> {
  return openWindowsTopic({
    url: options.pulsarUrl,
    namespace: options.namespace,
    partitions: options.partitions,
    logger: options.logger,
    deadLetters: options.deadLetters,
    metrics: pulsarMetrics(options.registry),
  });
}
