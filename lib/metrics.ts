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
      help: "Window emissions (a window emitted before final, full or idle, is emitted again when it changes)",
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
    sensorsTracked: new Gauge({
      name: "core_sensors_tracked",
      help: "Sensors whose state the windower holds (bounded by MAX_SENSORS; silent ones are evicted)",
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

/** The forecaster's catalogue; `pipeline_end_to_end_seconds` ends here because a forecast is the product. */
export function forecasterMetrics(registry: Registry) {
  return {
    windowsConsumed: new Counter({
      name: "forecaster_windows_consumed_total",
      help: "Windows the forecaster consumed from the windows log",
      registers: [registry],
    }),
    actualsStored: new Counter({
      name: "forecaster_actuals_stored_total",
      help: "Per-second actual values upserted into PostgreSQL (imputed ones included, flagged)",
      registers: [registry],
    }),
    forecasts: new Counter({
      name: "forecaster_forecasts_total",
      help: "Next-minute forecasts stored, by kind of model used (sensor = its own, shared = the fallback)",
      labelNames: ["model"] as const,
      registers: [registry],
    }),
    forecastErrors: new Counter({
      name: "forecaster_errors_total",
      help: "Failures while forecasting or storing, by stage (retried or reported, never silent)",
      labelNames: ["stage"] as const,
      registers: [registry],
    }),
    inference: new Histogram({
      name: "forecaster_inference_seconds",
      help: "Duration of one batched ONNX inference call (all sensors whose minute closed in the same tick)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "forecaster_batch_sensors",
      help: "Sensors per batched inference call",
      buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000],
      registers: [registry],
    }),
    modelVersion: new Gauge({
      name: "forecaster_model_version_info",
      help: "1 for each model version currently serving, by scope (shared or sensor) and version",
      labelNames: ["scope", "version"] as const,
      registers: [registry],
    }),
    modelsLoaded: new Gauge({
      name: "forecaster_models_loaded",
      help: "Models held in memory (per-sensor models plus the shared one)",
      registers: [registry],
    }),
    retrains: new Counter({
      name: "forecaster_retrains_total",
      help: "Retraining runs, by outcome (promoted, rejected, failed)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    endToEnd: new Histogram({
      name: "pipeline_end_to_end_seconds",
      help: "From the newest reading's creation time in a window to its forecast being stored",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
  };
}
export type ForecasterMetrics = ReturnType<typeof forecasterMetrics>;

/**
 * Our Pulsar client's catalogue. `topic` is the log's short name (readings, windows): a bounded set, not the
 * partition or a sensor.
 */
export function pulsarMetrics(registry: Registry) {
  return {
    published: new Counter({
      name: "pulsar_client_messages_published_total",
      help: "Messages the broker acknowledged to our producers",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: "pulsar_client_publish_errors_total",
      help: "Publishes that failed (timeout, broker error, disconnect) and were retried or surfaced",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    received: new Counter({
      name: "pulsar_client_messages_received_total",
      help: "Messages our consumers received",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    acked: new Counter({
      name: "pulsar_client_messages_acked_total",
      help: "Messages our consumers acknowledged",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    reconnects: new Counter({
      name: "pulsar_client_reconnects_total",
      help: "WebSocket reconnects after a broker or network failure",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    backlog: new Gauge({
      name: "pulsar_subscription_backlog_messages",
      help: "Unacknowledged messages of our subscription (from the admin API, sampled)",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
  };
}
export type PulsarMetrics = ReturnType<typeof pulsarMetrics>;
