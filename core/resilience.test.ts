/**
 * The core as a process (`bun apps/core.ts`) against real servers, for the faults that only show there:
 * a poison message redelivered by a persistent MQTT session must not crash-loop the core, a writer that
 * cannot reach PostgreSQL must show on /ready and /metrics, and SIGTERM must end the process within
 * SHUTDOWN_TIMEOUT_S even then. PostgreSQL is reached through a TCP proxy of the test's own, which can
 * turn into a black hole (connections stay open, nothing gets through: the worst case for a client).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConnection, createServer, type Socket } from "node:net";
import { parsePrometheus, sampleValue } from "@energy/platform/prom-text.ts";
import { runId } from "@energy/testing/fixtures.ts";
import { endMqttSession, mosquittoUrl, postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { until } from "@energy/testing/until.ts";
import mqtt, { type MqttClient } from "mqtt";
import postgres from "postgres";
import { type CoreProcess, startCoreProcess } from "./testing/core-process.ts";

const skip =
  (await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883)) ||
  (await skipUnlessReachable("PostgreSQL", postgresUrl, 5432));

/** A TCP proxy to PostgreSQL that can stop forwarding anything (a black hole). */
async function startProxy(target: URL) {
  const sockets = new Set<Socket>();
  let holed = false;
  const server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (holed) return; // accepted, never answered
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("data", (d) => {
      if (!holed) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!holed) client.write(d);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    blackhole: () => {
      holed = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe.skipIf(skip)("core process under faults (real Mosquitto and PostgreSQL)", () => {
  const run = runId();
  const prefix = `test-resilience-${run}`;
  const clientId = `core-resilience-${run}`;
  // Sensor ids unique to this run: the database is shared between runs.
  const base = 200_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  const shutdownTimeoutS = 3;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let db: ReturnType<typeof postgres>;
  let publisher: MqttClient;
  let core: CoreProcess | undefined;
  const t0 = Math.floor((Date.now() / 1000 - 600) / 60) * 60;

  const env = () => {
    const url = new URL(postgresUrl.href);
    url.hostname = "127.0.0.1";
    url.port = String(proxy.port);
    return {
      MQTT_URL: mosquittoUrl.href,
      MQTT_CLIENT_ID: clientId,
      TOPIC_PREFIX: prefix,
      CORE_SHARE_GROUP: `resilience-${run}`,
      DATABASE_URL: url.href,
      CORE_FORECAST: "false",
      CORE_HTTP_PORT: "0",
      IDLE_TIMEOUT_S: "1",
      ALLOWED_LATENESS_S: "1",
      STORE_STUCK_AFTER_S: "2",
      SHUTDOWN_TIMEOUT_S: String(shutdownTimeoutS),
      LOG_LEVEL: "info",
    };
  };
  const minute = (sensor: number) =>
    Array.from({ length: 60 }, (_, s) =>
      JSON.stringify({
        sensor_id: sensor,
        sensor_energy_value: 600 + s,
        sensor_timestamp: t0 + s,
        message_creation_time: Date.now(),
      }),
    );
  const storedCount = async (sensor: number) => {
    const rows = await db`select count from windows where sensor_id = ${sensor}`;
    return rows.length === 1 ? Number(rows[0]!.count) : 0;
  };

  beforeAll(async () => {
    proxy = await startProxy(postgresUrl);
    db = postgres(postgresUrl.href, { max: 1, onnotice: () => {} });
    publisher = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `${prefix}-edge` });
  });

  afterAll(async () => {
    core?.proc.kill("SIGKILL");
    await publisher?.endAsync();
    await endMqttSession(clientId);
    if (db) {
      await db`delete from windows where sensor_id in (${base + 1}, ${base + 2})`.catch(() => {});
      await db`delete from dead_letters where source like ${`${prefix}/%`}`.catch(() => {});
      await db.end();
    }
    proxy?.close();
  });

  test("a poison message queued in the persistent session does not crash-loop the core", async () => {
    // Run once to create the session, stop cleanly: the session (and its subscription) stays on the broker.
    core = await startCoreProcess(env(), 60_000);
    core.proc.kill("SIGTERM");
    await core.proc.exited;
    // While no core runs, the broker queues a poison message (1e13 s: RangeError: Invalid Date before,
    // thrown again at every restart) and then a good minute.
    const sensor = base + 1;
    await publisher.publishAsync(
      `${prefix}/${sensor}/reading`,
      `{"sensor_id":${sensor},"sensor_energy_value":5,"sensor_timestamp":1e13}`,
      { qos: 1 },
    );
    for (const body of minute(sensor))
      await publisher.publishAsync(`${prefix}/${sensor}/reading`, body, { qos: 1 });

    core = await startCoreProcess(env(), 60_000);
    const c = core;
    await until(
      "the good minute after the poison message to be stored",
      async () => {
        if (c.proc.exitCode !== null) throw new Error(`core exited ${c.proc.exitCode}; its log:\n${c.log()}`);
        // Dead letters are written in their own batches: wait for the poison message's too.
        const letters = await db`select 1 from dead_letters where source = ${`${prefix}/${sensor}/reading`}`;
        return (await storedCount(sensor)) === 60 && letters.length > 0;
      },
      30_000,
    );
    expect(c.proc.exitCode).toBeNull();
    const rejected =
      await db`select reason from dead_letters where source = ${`${prefix}/${sensor}/reading`}`;
    expect(rejected.map((r) => r.reason)).toEqual(["timestamp_out_of_range"]);
  }, 120_000);

  test("with PostgreSQL a black hole, /ready and /metrics show the stuck writer and SIGTERM exits within the bound", async () => {
    const c = core!;
    expect(c.proc.exitCode).toBeNull();
    proxy.blackhole();
    const sensor = base + 2;
    for (const body of minute(sensor))
      await publisher.publishAsync(`${prefix}/${sensor}/reading`, body, { qos: 1 });
    let ready:
      | { ready: boolean; dependencies: Record<string, string>; reasons?: Record<string, string> }
      | undefined;
    await until(
      "/ready to name the stuck window writer",
      async () => {
        ready = (await (await fetch(`${c.opsUrl}/ready`)).json()) as typeof ready;
        return ready?.dependencies.windowStore === "down";
      },
      30_000,
      c.log,
    );
    expect(ready!.ready).toBe(false);
    expect(ready!.reasons?.windowStore).toMatch(/^oldest unwritten row waiting \d+ s/);
    const metrics = parsePrometheus(await (await fetch(`${c.opsUrl}/metrics`)).text());
    expect(sampleValue(metrics, "core_store_stuck", { sink: "windows" })).toBe(1);
    const waited = sampleValue(metrics, "core_store_oldest_pending_seconds", { sink: "windows" });
    expect(waited ?? Number.NaN).toBeGreaterThan(2);

    const started = Date.now();
    c.proc.kill("SIGTERM");
    const exited = await Promise.race([c.proc.exited, Bun.sleep(30_000).then(() => "still running")]);
    const seconds = (Date.now() - started) / 1000;
    console.info(
      JSON.stringify({ shutdownWithPostgresBlackholedSeconds: seconds, limitSeconds: shutdownTimeoutS }),
    );
    expect({ exited, seconds: seconds < shutdownTimeoutS + 5 }).toEqual({ exited: 1, seconds: true });
    expect(c.log()).toContain("exiting with work not written");
    expect(c.log()).toMatch(/windowStoreBacklog|windowStoreWaitingSeconds/);
  }, 120_000);
});
