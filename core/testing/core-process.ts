/**
 * Helpers for tests that run the core as a child process (`bun apps/core.ts`) against real servers: start
 * it and wait for its ops URL, read its Prometheus metrics, the window columns that depend only on the
 * readings (so stored rows compare with the pure windower's), and `coreProcessBed`: the database, Pulsar
 * namespace and MQTT prefix of one such test, set up and torn down.
 *
 * @example
 * const core = await startCoreProcess({ PULSAR_URL: url, CORE_HTTP_PORT: "0" });
 * await until("a window", async () => (await metric(core.opsUrl, "core_windows_emitted_total")) > 0, 10_000, core.log);
 */

import { afterAll, beforeAll, expect } from "bun:test";
import { fileURLToPath } from "node:url";
import type { Reading, WindowRecord } from "@energy/contracts/records.ts";
import { parsePrometheus, sumMetric } from "@energy/platform/prom-text.ts";
import { runId } from "@energy/testing/fixtures.ts";
import type { TestPulsar } from "@energy/testing/pulsar.ts";
import { endMqttSession, mosquittoUrl, postgresUrl } from "@energy/testing/servers.ts";
import mqtt, { type MqttClient } from "mqtt";
import postgres from "postgres";
import { TumblingWindower } from "../window.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** A `bun apps/core.ts` child process and what it wrote to stderr. */
export interface CoreProcess {
  proc: ReturnType<typeof Bun.spawn>;
  opsUrl: string;
  log: () => string;
}

/** Spawns a core with `env` on top of this process's environment; resolves once it says it is running. */
export async function startCoreProcess(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<CoreProcess> {
  const proc = Bun.spawn(["bun", "apps/core.ts"], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let text = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) text += decoder.decode(chunk);
  })();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = /core running; health (http:\/\/[^\s,]+)\/health/.exec(text);
    if (found) return { proc, opsUrl: found[1]!, log: () => text };
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`core did not start (exit ${proc.exitCode}); its log:\n${text}`);
    await Bun.sleep(50);
  }
}

/** Sum of a metric of the core's /metrics over the series matching `where` (`{ topic: "readings" }`); 0 if absent. */
export async function metric(
  opsUrl: string,
  name: string,
  where: Record<string, string> = {},
): Promise<number> {
  return sumMetric(parsePrometheus(await (await fetch(`${opsUrl}/metrics`)).text()), name, where);
}

/** The window columns that depend only on the readings (not on processing time or redeliveries). */
export function comparable(w: Omit<WindowRecord, "duplicates" | "maxCreatedAtMs" | "emittedAtMs">) {
  return {
    sensorId: w.sensorId,
    windowStartMs: w.windowStartMs,
    windowEndMs: w.windowEndMs,
    count: w.count,
    sum: w.sum,
    mean: w.mean,
    min: w.min,
    max: w.max,
    firstEventMs: w.firstEventMs,
    lastEventMs: w.lastEventMs,
    slots: w.slots,
    imputed: w.imputed,
    imputedCount: w.imputed.filter(Boolean).length,
  };
}

/** A stored `windows` row (postgres.js) in `comparable`'s shape. */
export function comparableRow(r: Record<string, unknown>): ReturnType<typeof comparable> {
  return {
    sensorId: r.sensor_id as number,
    windowStartMs: (r.window_start as Date).getTime(),
    windowEndMs: (r.window_end as Date).getTime(),
    count: r.count as number,
    sum: r.sum as number,
    mean: r.mean as number,
    min: r.min as number,
    max: r.max as number,
    firstEventMs: (r.first_event as Date).getTime(),
    lastEventMs: (r.last_event as Date).getTime(),
    slots: r.slots as number[],
    imputed: r.imputed as boolean[],
    imputedCount: r.imputed_count as number,
  };
}

export interface CoreProcessBedOptions {
  /** Names the test's MQTT prefix, Pulsar namespace, database and share group, e.g. "crash". */
  name: string;
  pulsar: TestPulsar;
  /** Suffixes of the cores' MQTT client ids, one per core identity (`core-{suffix}-{run}`). */
  cores: readonly string[];
  partitions: number;
  latenessS: number;
  idleTimeoutS: number;
}

/**
 * One test's own servers for core processes, registered with beforeAll/afterAll (call it inside the
 * `describe`): a database, a Pulsar namespace, an MQTT topic prefix and a publisher on it. Teardown kills
 * the cores `start` started, ends their persistent MQTT sessions, drops the database and deletes the topics.
 */
export function coreProcessBed(o: CoreProcessBedOptions) {
  const run = runId();
  const database = `${o.name}_${run}`;
  const databaseUrl = new URL(postgresUrl.href);
  databaseUrl.pathname = `/${database}`;
  const admin = postgres(postgresUrl.href, { max: 1, onnotice: () => {} });
  const running: CoreProcess[] = [];
  const bed = {
    prefix: `${o.name}-${run}`,
    namespace: `energy-test/${o.name}-${run}`,
    clientIds: o.cores.map((core) => `core-${core}-${run}`),
    /** The test's database (open from beforeAll on). */
    db: undefined as unknown as ReturnType<typeof postgres>,
    /** An MQTT client publishing as the sensors (connected from beforeAll on). */
    publisher: undefined as unknown as MqttClient,

    /** The environment of a core with MQTT client id `clientId` on this bed. */
    env(clientId: string): Record<string, string> {
      return {
        PULSAR_URL: o.pulsar.url,
        PULSAR_NAMESPACE: bed.namespace,
        PULSAR_PARTITIONS: String(o.partitions),
        MQTT_URL: mosquittoUrl.href,
        MQTT_CLIENT_ID: clientId,
        TOPIC_PREFIX: bed.prefix,
        CORE_SHARE_GROUP: `${o.name}-${run}`,
        DATABASE_URL: databaseUrl.href,
        ALLOWED_LATENESS_S: String(o.latenessS),
        IDLE_TIMEOUT_S: String(o.idleTimeoutS),
        CORE_HTTP_PORT: "0",
        LOG_LEVEL: "info",
        // The windows under test are the core's; the in-process forecaster (on by default) only adds load.
        CORE_FORECAST: "false",
      };
    },

    /** Starts a core with MQTT client id `clientId`; teardown kills it if it still runs. */
    async start(clientId: string, timeoutMs?: number): Promise<CoreProcess> {
      const core = await startCoreProcess(bed.env(clientId), timeoutMs);
      running.push(core);
      return core;
    },

    /** The windows the pure windower makes of `sent` with the bed's lateness, as `comparable` rows. */
    reference(sent: readonly Reading[]): ReturnType<typeof comparable>[] {
      const windower = new TumblingWindower({
        allowedLatenessMs: o.latenessS * 1000,
        idleTimeoutMs: o.idleTimeoutS * 1000,
      });
      for (const r of sent) expect(windower.add(r, 0)).toBe("accepted");
      return windower.flush(0).map(comparable).sort(byWindow);
    },

    /** Checks the stored windows equal `reference` with no duplicate row; resolves with the rows. */
    async expectStored(reference: readonly ReturnType<typeof comparable>[]) {
      const rows = await bed.db`
        select sensor_id, window_start, window_end, count, sum, mean, min, max, first_event, last_event,
               slots, imputed, imputed_count, duplicates
        from windows order by sensor_id, window_start`;
      expect(rows.map(comparableRow)).toEqual([...reference].sort(byWindow));
      const [duplicateRows] = await bed.db`
        select count(*)::int as n from (
          select sensor_id, window_start from windows group by 1, 2 having count(*) > 1) d`;
      expect(duplicateRows!.n).toBe(0);
      return rows;
    },
  };

  beforeAll(async () => {
    await admin.unsafe(`create database ${database}`);
    bed.db = postgres(databaseUrl.href, { max: 2, onnotice: () => {} });
    await o.pulsar.admin.ensureNamespace(bed.namespace);
    bed.publisher = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `${bed.prefix}-edge` });
  });

  afterAll(async () => {
    for (const core of running) if (core.proc.exitCode === null) core.proc.kill("SIGKILL");
    await bed.publisher?.endAsync();
    for (const clientId of bed.clientIds) await endMqttSession(clientId);
    await bed.db?.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end({ timeout: 5 });
    for (const log of ["readings", "windows"])
      await o.pulsar.admin.deleteTopic(`persistent://${bed.namespace}/${log}`).catch(() => {});
  });

  return bed;
}

function byWindow(a: { sensorId: number; windowStartMs: number }, b: typeof a): number {
  return a.sensorId - b.sensorId || a.windowStartMs - b.windowStartMs;
}
