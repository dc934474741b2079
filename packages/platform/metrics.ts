/**
 * The metric catalogue, in one place (docs/metrics.md lists the same names; a test keeps them in step).
 * Labels are bounded sets (mode, kind, reason, sink): never a sensor id, which would mean 10,000 series.
 * Every known value of a counter's label is set to 0 at start: a series that only appears with its first
 * increment is invisible to `increase()` alerts and shows "No data" in a panel until something goes wrong.
 */
import type { MessageKind, RejectReason } from "@energy/contracts/records.ts";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsRegistry {
  readonly registry: Registry;
}

/**
 * prom-client defaults that are wrong under Bun, measured against /proc/self and bun:jsc (packages/platform/metrics.test.ts
 * checks what is kept): `process_heap_bytes` is VmData, the address space Bun reserves (6.5 GB for a 68 MB
 * process), not a heap; `nodejs_heap_size_*` come from process.memoryUsage(), whose heapUsed counts every
 * ArrayBuffer at its full length while heapTotal does not (1.36 GB against 60 MB in the demo; replaced
 * below); the V8 heap spaces are zero except "old"; the active
 * handles/requests/resources are always 0; no GC performance entries arrive, so the GC histogram stays
 * empty; monitorEventLoopDelay misses stalls (a 300-ms block showed as an 8-ms p99), replaced below; and
 * nodejs_version_info reports Bun's Node compatibility level, not the runtime (bun_version_info instead).
 */
export const defaultMetricsWrongUnderBun: readonly string[] = [
  "process_heap_bytes",
  "nodejs_heap_size_total_bytes",
  "nodejs_heap_size_used_bytes",
  "nodejs_external_memory_bytes",
  "nodejs_heap_space_size_total_bytes",
  "nodejs_heap_space_size_used_bytes",
  "nodejs_heap_space_size_available_bytes",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_active_resources",
  "nodejs_active_resources_total",
  "nodejs_gc_duration_seconds",
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_min_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_eventloop_lag_mean_seconds",
  "nodejs_eventloop_lag_stddev_seconds",
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p90_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_version_info",
];

/** Resolution for prom-client's event-loop monitor, whose figures are never read (removed above). */
const unreadMonitorResolutionMs = 60_000;

/** How often the event-loop monitor's timer is due; a stall shows as that timer firing late. */
const loopProbeMs = 100;

/**
 * A registry with the process metrics that are right under Bun: prom-client's CPU, RSS, virtual memory,
 * start time and file descriptors, plus the JavaScriptCore heap, an event-loop stall monitor and the Bun
 * version in place of the defaults listed in {@link defaultMetricsWrongUnderBun}.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  // prom-client starts perf_hooks.monitorEventLoopDelay for its event-loop-lag metrics, which are removed
  // below, at a 10-ms resolution; under Bun that is a native timer waking the event loop 100 times a second
  // for nothing read: an idle core woke 114–128 times a second instead of ~15, ~1 % of a core on this VM
  // (bench/idle.ts). The loop is monitored by our own 100-ms probe instead (eventLoopMetrics).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: unreadMonitorResolutionMs });
  for (const name of defaultMetricsWrongUnderBun) registry.removeSingleMetric(name);
  // JSC counts ArrayBuffers and WebAssembly memories ("extra memory", nodejs_external_memory_bytes) inside
  // its heap size at their full length, resident or not: the demo's PGlite and model buffers made "heap
  // used" 1.39 GB in an 840 MB process. The JS object heap is what remains. Read without bun:jsc's
  // heapStats(), which counts every object by type: 100–200 ms per call with a few million objects, three
  // calls per scrape, so a 1 Hz scrape stalled the event loop for ~300 ms a second under load (bench ab).
  // memoryUsage() gives the same figure as heapStats().heapSize (heapUsed), external = extraMemorySize and
  // heapTotal = the heap's blocks, for 16 µs; bun:jsc's heapSize() walks the heap's blocks for it (0.3 ms at
  // 150 MB, and 7 % of the core's CPU in a bench ab profile under load).
  new Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "JavaScript object heap in use, bytes (bun:jsc heapSize − extraMemorySize: buffers are in nodejs_external_memory_bytes)",
    registers: [registry],
    collect() {
      this.set(objectHeapUsed());
    },
  });
  new Gauge({
    name: "nodejs_heap_size_total_bytes",
    help: "JavaScript object heap allocated, bytes (the heap's blocks, memoryUsage().heapTotal; never below heap used)",
    registers: [registry],
    collect() {
      // Objects too large for a block are allocated apart and counted in heap used only.
      this.set(Math.max(process.memoryUsage().heapTotal, objectHeapUsed()));
    },
  });
  // prom-client updates it from its heap-total collector, which is removed above: it would stay at 0.
  new Gauge({
    name: "nodejs_external_memory_bytes",
    help: "ArrayBuffers and WebAssembly memories at their full length, resident or not (bun:jsc extraMemorySize)",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().external);
    },
  });
  new Gauge({
    name: "bun_version_info",
    help: "1, labelled with the Bun version running the process",
    labelNames: ["version"] as const,
    registers: [registry],
  }).set({ version: Bun.version }, 1);
  eventLoopMetrics(registry);
  return registry;
}

/** The JS heap's size (bun:jsc heapSize) minus the ArrayBuffers and WebAssembly memories it includes. */
function objectHeapUsed(): number {
  const { heapUsed, external } = process.memoryUsage();
  return Math.max(0, heapUsed - external);
}

/**
 * Event-loop stalls measured by a timer that should fire every {@link loopProbeMs}: how late it fires is how
 * long the loop was blocked. The gauge holds the worst delay since the previous scrape (then starts over), so
 * `max_over_time` of it catches every stall longer than the probe period; the histogram keeps the
 * distribution for quantiles. The timer is unref'd: it never keeps a process alive.
 */
function eventLoopMetrics(registry: Registry): void {
  let worst = 0;
  const delay = new Histogram({
    name: "nodejs_eventloop_delay_seconds",
    help: `How late a timer due every ${loopProbeMs} ms fired, seconds (event-loop stalls)`,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: "nodejs_eventloop_lag_max_seconds",
    help: `Longest event-loop stall since the previous scrape, seconds (a timer due every ${loopProbeMs} ms firing late)`,
    registers: [registry],
    collect() {
      this.set(worst);
      worst = 0;
    },
  });
  let due = performance.now() + loopProbeMs;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - due) / 1000;
    due = now + loopProbeMs;
    delay.observe(late);
    if (late > worst) worst = late;
  }, loopProbeMs);
  timer.unref();
}

/**
 * Validation's reasons, the values of `core_invalid_messages_total{reason}` ("late" has its own counter);
 * "undecodable" counts the log records a codec rejected (packages/logs/log.ts).
 */
export const invalidReasons = [
  "too_large",
  "not_json",
  "bad_shape",
  "bad_sensor_id",
  "bad_value",
  "bad_timestamp",
  "timestamp_out_of_range",
  "topic_mismatch",
  "out_of_range",
  "internal_error",
  "too_many_sensors",
  "undecodable",
] as const satisfies readonly RejectReason[];
// A new RejectReason fails type checking here until it is listed above, or is counted elsewhere: "late"
// (core_late_readings_total) and "store_rejected" (core_store_rejects_total).
const allReasonsListed: [
  Exclude<RejectReason, "late" | "store_rejected" | (typeof invalidReasons)[number]>,
] extends [never]
  ? true
  : never = true;
void allReasonsListed;

export const messageKinds = ["reading", "batch"] as const satisfies readonly MessageKind[];
/** `core_store_errors_total{sink}`: the tables the core writes. */
export const storeSinks = ["windows", "dead_letters"] as const;
/** `forecaster_errors_total{stage}`. */
export const forecasterErrorStages = ["bootstrap", "manifest", "model_load", "inference", "store"] as const;
/** `forecaster_retrains_total{outcome}`. */
export const retrainOutcomes = ["promoted", "rejected", "skipped", "failed"] as const;
/** `forecaster_forecasts_total{model}`: the sensor's own model or the shared one. */
export const forecastModels = ["sensor", "shared"] as const;

/** Creates the series of every known label value at 0. */
function zeroed<L extends string>(counter: Counter<L>, label: L, values: readonly string[]): Counter<L> {
  for (const value of values) counter.inc({ [label]: value } as Partial<Record<L, string>>, 0);
  return counter;
}

/**
 * Buckets of the window delays, seconds. Streaming windows close once a reading `allowed lateness` (5 s by
 * default) past their end arrives, so they land at 5.0–5.6 s: fine buckets there. Complete batches and full
 * windows close at once: fine sub-second buckets too. Beyond, coarse buckets for a slow or lagging core.
 */
export const windowDelayBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 4.5, 5, 5.25, 5.5, 5.75, 6, 7, 8, 10, 15, 20, 30, 60,
  120, 300,
];

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

/**
 * Counts of the core's per-message path in plain numbers, added to their counters whenever the registry is
 * read (a scrape, or a counter's `get()`), so every reading of a counter is exact. A prom-client `inc`
 * looks its series up by a key built from the labels: three of them per MQTT message were ~3 % of the
 * core's CPU at 10,000 messages/s.
 */
export interface IntakeCounts {
  /** core_messages_received_total, by kind. */
  readingMessages: number;
  batchMessages: number;
  /** core_bytes_received_total. */
  bytes: number;
  /** core_readings_total. */
  readings: number;
}

export function coreMetrics(registry: Registry) {
  const intake: IntakeCounts = { readingMessages: 0, batchMessages: 0, bytes: 0, readings: 0 };
  return {
    intake,
    messagesReceived: zeroed(
      new Counter({
        name: "core_messages_received_total",
        help: "MQTT messages received by the core, by kind (reading = architecture A, batch = B)",
        labelNames: ["kind"] as const,
        registers: [registry],
        collect() {
          if (intake.readingMessages > 0) this.inc({ kind: "reading" }, intake.readingMessages);
          if (intake.batchMessages > 0) this.inc({ kind: "batch" }, intake.batchMessages);
          intake.readingMessages = 0;
          intake.batchMessages = 0;
        },
      }),
      "kind",
      messageKinds,
    ),
    bytesReceived: new Counter({
      name: "core_bytes_received_total",
      help: "MQTT payload bytes received by the core",
      registers: [registry],
      collect() {
        if (intake.bytes > 0) this.inc(intake.bytes);
        intake.bytes = 0;
      },
    }),
    readings: new Counter({
      name: "core_readings_total",
      help: "Valid readings accepted by the core",
      registers: [registry],
      collect() {
        if (intake.readings > 0) this.inc(intake.readings);
        intake.readings = 0;
      },
    }),
    invalid: zeroed(
      new Counter({
        name: "core_invalid_messages_total",
        help: "Messages or batch entries rejected by validation, by reason (each kept as a dead letter)",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
      "reason",
      invalidReasons,
    ),
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
      buckets: windowDelayBuckets,
      registers: [registry],
    }),
    windowEventTimeLag: new Histogram({
      name: "core_window_event_time_lag_seconds",
      help: "Event time a window's sensor had reached when the window was emitted, minus the window's end (live and replayed data)",
      buckets: windowDelayBuckets,
      registers: [registry],
    }),
    readingToWindow: new Histogram({
      name: "core_reading_to_window_seconds",
      help: "From the newest message_creation_time in a window to the window's emission",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    storeErrors: zeroed(
      new Counter({
        name: "core_store_errors_total",
        help: "Failed writes to PostgreSQL (retried)",
        labelNames: ["sink"] as const,
        registers: [registry],
      }),
      "sink",
      storeSinks,
    ),
    storeRejects: zeroed(
      new Counter({
        name: "core_store_rejects_total",
        help: "Rows PostgreSQL refused with a data error, isolated so the rest of their batch was stored (windows are dead-lettered, logged with PostgreSQL's reason)",
        labelNames: ["sink"] as const,
        registers: [registry],
      }),
      "sink",
      storeSinks,
    ),
    deadLettersDropped: new Counter({
      name: "core_dead_letters_dropped_total",
      help: "Dead letters dropped because too many waited for an unreachable database (memory bound; counted, never silent)",
      registers: [registry],
    }),
    storeStuck: new Gauge({
      name: "core_store_stuck",
      help: "1 while a database writer's oldest unwritten row has waited longer than STORE_STUCK_AFTER_S (also makes /ready false)",
      labelNames: ["sink"] as const,
      registers: [registry],
    }),
    storeOldestPending: new Gauge({
      name: "core_store_oldest_pending_seconds",
      help: "Age of a database writer's oldest row not yet written (0 when it is up to date)",
      labelNames: ["sink"] as const,
      registers: [registry],
    }),
    bridgeBuffered: new Gauge({
      name: "core_bridge_buffered_readings",
      help: "Readings the MQTT bridge holds for the readings log (bounded by BRIDGE_MAX_BUFFERED: when full it stops taking messages)",
      registers: [registry],
    }),
    internalErrors: new Counter({
      name: "core_internal_errors_total",
      help: "Unexpected exceptions while handling one message (the message is dead-lettered as internal_error; the core goes on)",
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
    forecasts: zeroed(
      new Counter({
        name: "forecaster_forecasts_total",
        help: "Next-minute forecasts stored, by kind of model used (sensor = its own, shared = the fallback)",
        labelNames: ["model"] as const,
        registers: [registry],
      }),
      "model",
      forecastModels,
    ),
    forecastErrors: zeroed(
      new Counter({
        name: "forecaster_errors_total",
        help: "Failures while forecasting or storing, by stage (retried or reported, never silent)",
        labelNames: ["stage"] as const,
        registers: [registry],
      }),
      "stage",
      forecasterErrorStages,
    ),
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
    // Set by ml/forecaster/live-error.ts (it takes this one from the registry); declared here so the
    // catalogue, the alert rules and docs/metrics.md know it.
    liveMae: new Gauge({
      name: "forecaster_live_mae_watts",
      help: "Rolling MAE of served forecasts against the actuals that followed, per serving scope; forecast=served|persistence",
      labelNames: ["scope", "forecast"] as const,
      registers: [registry],
    }),
    modelsLoaded: new Gauge({
      name: "forecaster_models_loaded",
      help: "Models held in memory (per-sensor models plus the shared one)",
      registers: [registry],
    }),
    retrains: zeroed(
      new Counter({
        name: "forecaster_retrains_total",
        help: "Retraining runs, by outcome (promoted, rejected, skipped, failed)",
        labelNames: ["outcome"] as const,
        registers: [registry],
      }),
      "outcome",
      retrainOutcomes,
    ),
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

/**
 * Creates a log's `pulsar_client_*` counter series at 0 when the log opens: its topic is known only then, and
 * a failure counter that appears with its first failure is one `increase()` never sees.
 */
export function zeroPulsarCounters(metrics: PulsarMetrics, topic: string): void {
  for (const counter of [
    metrics.published,
    metrics.publishErrors,
    metrics.received,
    metrics.acked,
    metrics.reconnects,
  ])
    counter.inc({ topic }, 0);
}

/** A registry with every catalogue of ours: all that docs/metrics.md, the alert rules and dashboards may name. */
export function catalogueRegistry(): Registry {
  const registry = createRegistry();
  coreMetrics(registry);
  edgeMetrics(registry);
  forecasterMetrics(registry);
  pulsarMetrics(registry);
  return registry;
}
