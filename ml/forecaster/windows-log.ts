/**
 * The standalone forecaster's input: the core's windows topic on Pulsar, opened through the same declaration
 * the core uses (core/pulsar/topics.ts) so both agree on topic, partitions and schema.
 */
import type { Registry } from "prom-client";
import type { DeadLetterTarget, RecordLog } from "../../core/log.ts";
import { openWindowsTopic } from "../../core/pulsar/topics.ts";
import type { Logger } from "../../lib/log.ts";
import { pulsarMetrics } from "../../lib/metrics.ts";
import type { WindowRecord } from "../../lib/records.ts";

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
