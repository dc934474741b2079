/**
 * Exposes an agent's counters as the catalogue's edge metrics. The agent keeps plain numbers on its hot
 * path (10,000 sensors); they are copied into prom-client at scrape time rather than incremented per publish.
 */

import { edgeMetrics } from "@energy/platform/metrics.ts";
import type { Registry } from "prom-client";
import type { AgentHandle } from "./agent.ts";

export function bindAgentMetrics(agent: AgentHandle, registry: Registry): void {
  const m = edgeMetrics(registry);
  const last = { readings: 0, messages: 0, bytes: 0, errors: 0 };
  const sync = () => {
    const s = agent.stats();
    const mode = s.mode;
    m.readingsSent.inc({ mode }, s.readingsSent - last.readings);
    m.messagesSent.inc({ mode }, s.messagesSent - last.messages);
    m.bytesSent.inc({ mode }, s.bytesSent - last.bytes);
    m.publishErrors.inc({ mode }, s.errors + s.dropped - last.errors);
    m.sensors.set({ mode }, s.sensors);
    last.readings = s.readingsSent;
    last.messages = s.messagesSent;
    last.bytes = s.bytesSent;
    last.errors = s.errors + s.dropped;
  };
  // Before every scrape: the registry awaits collect() of each metric.
  const original = registry.metrics.bind(registry);
  registry.metrics = async () => {
    sync();
    return original();
  };
  // Also initialise the label sets, so a dashboard shows 0 rather than "no data" before the first publish.
  sync();
}
