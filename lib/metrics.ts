/**
 * The metric catalogue, in one place (README "Metrics" lists the same names; a test keeps them in step).
 * Labels are bounded sets (mode, kind, reason, sink): never a sensor id, which would mean 10,000 series.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsRegistry {
  readonly registry: Registry;
}

/** A registry with the default process metrics (CPU, RSS, event-loop lag) already on it. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function edgeMetrics(registry: Registry) {
  return {
    readingsSent: new Counter({
      name: "edge_readings_sent_total",
      help: "Readings the edge agent published (inside any message)",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
    messagesSent: new Counter({
      name: "edge_messages_sent_total",
      help: "MQTT messages the edge agent published (A: one per reading, B: one per batch)",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
    bytesSent: new Counter({
      name: "edge_bytes_sent_total",
      help: "MQTT payload bytes the edge agent published",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: "edge_publish_errors_total",
      help: "Publishes that failed or were dropped from a full offline queue",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
    sensors: new Gauge({
      name: "edge_sensors",
      help: "Sensors emulated by this process",
      labelNames: ["mode"] as const,
      registers: [registry],
    }),
  };
}
export type EdgeMetrics = ReturnType<typeof edgeMetrics>;

export function coreMetrics(registry: Registry) {
  return {
    messagesReceived: new Counter({
      name: "core_messages_received_total",
      help: "MQTT messages received by the core, by kind (reading = architecture A, batch = B)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    bytesReceived: new Counter({
      name: "core_bytes_received_total",
      help: "MQTT payload bytes received by the core",
      registers: [registry],
    }),
    readings: new Counter({
      name: "core_readings_total",
      help: "Valid readings accepted by the core",
      registers: [registry],
    }),
    invalid: new Counter({
      name: "core_invalid_messages_total",
      help: "Messages or batch entries rejected by validation, by reason (each kept as a dead letter)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    late: new Counter({
      name: "core_late_readings_total",
      help: "Readings that arrived after their window closed (counted and dead-lettered, never dropped silently)",
      registers: [registry],
    }),
    duplicates: new Counter({
      name: "core_duplicate_readings_total",
      help: "Readings with a sensor + event time already seen in their window (counted once)",
      registers: [registry],
    }),
    windowsEmitted: new Counter({
      name: "core_windows_emitted_total",
      help: "Event-time windows closed and emitted",
      registers: [registry],
    }),
    windowsStored: new Counter({
      name: "core_windows_stored_total",
      help: "Windows upserted into PostgreSQL",
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: "core_dead_letters_total",
      help: "Dead letters written to the dead-letter sink",
      registers: [registry],
    }),
    openWindows: new Gauge({
      name: "core_open_windows",
      help: "Windows currently open in the windower",
      registers: [registry],
    }),
    windowEmitDelay: new Histogram({
      name: "core_window_emit_delay_seconds",
      help: "Processing-time delay from a window's end (event time, for live data) to its emission",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    readingToWindow: new Histogram({
      name: "core_reading_to_window_seconds",
      help: "From the newest message_creation_time in a window to the window's emission",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: "core_store_errors_total",
      help: "Failed writes to PostgreSQL (retried)",
      labelNames: ["sink"] as const,
      registers: [registry],
    }),
  };
}
export type CoreMetrics = ReturnType<typeof coreMetrics>;
