import { describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { createOpsApp, serveOps } from "./http.ts";
import { catalogueRegistry, coreMetrics, createRegistry, edgeMetrics } from "./metrics.ts";

describe("ops app", () => {
  const registry = createRegistry();
  const metrics = coreMetrics(registry);
  edgeMetrics(registry);
  let mqttUp = true;
  const app = createOpsApp({
    service: "test",
    registry,
    checks: { mqtt: () => mqttUp, database: async () => true, broken: () => true },
    info: () => ({ mqttPort: 1234 }),
  });

  test("/health is 200 with the service's info", async () => {
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", service: "test", mqttPort: 1234 });
  });

  test("/ready lists each dependency and is 503 while one is down", async () => {
    let res = await app.request("/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ready: true,
      service: "test",
      dependencies: { mqtt: "up", database: "up", broken: "up" },
    });
    mqttUp = false;
    res = await app.request("/ready");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { dependencies: Record<string, string> }).dependencies.mqtt).toBe("down");
    mqttUp = true;
  });

  test("/metrics serves the catalogue and process metrics in Prometheus text format", async () => {
    metrics.invalid.inc({ reason: "not_json" });
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('core_invalid_messages_total{reason="not_json"} 1');
    expect(text).toContain("process_cpu_seconds_total");
    expect(text).toContain("process_resident_memory_bytes");
  });
});

test("docs/metrics.md's table lists every metric of the catalogue", async () => {
  const registry = catalogueRegistry();
  const ours = (await registry.getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => /^(core|edge|forecaster|pipeline|pulsar)_/.test(n));
  expect(ours.length).toBeGreaterThan(10);
  const readme = await Bun.file(new URL("../../docs/metrics.md", import.meta.url)).text();
  const missing = ours.filter((name) => !readme.includes(`\`${name}\``));
  expect(missing).toEqual([]);
});

test("/ready shows why a dependency is down when its probe says so", async () => {
  const app = createOpsApp({
    service: "t",
    registry: createRegistry(),
    checks: { windowStore: () => "oldest unwritten row waiting 40 s", fine: () => true },
  });
  const res = await app.request("/ready");
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({
    ready: false,
    service: "t",
    dependencies: { windowStore: "down", fine: "up" },
    reasons: { windowStore: "oldest unwritten row waiting 40 s" },
  });
});

test("/ready reports a probe that hangs as timeout instead of hanging itself", async () => {
  const app = createOpsApp({
    service: "test",
    registry: createRegistry(),
    checks: { stuck: () => new Promise<boolean>(() => {}), fine: () => true },
    checkTimeoutMs: 50,
  });
  const started = Date.now();
  const res = await app.request("/ready");
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(res.status).toBe(503);
  expect(await res.json()).toMatchObject({ ready: false, dependencies: { stuck: "timeout", fine: "up" } });
});

test("a taken port names the service's real port variable", () => {
  const taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  try {
    for (const service of ["core", "edge", "demo", "forecaster"]) {
      let error: unknown;
      try {
        serveOps({
          service,
          registry: createRegistry(),
          checks: {},
          port: taken.port!,
          hostname: "127.0.0.1",
        });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PipelineError);
      expect((error as Error).message).toContain(`--http-port or ${service.toUpperCase()}_HTTP_PORT`);
    }
  } finally {
    taken.stop(true);
  }
});

test('/ready counts a part that finished its work ("finished") as ready, and says so', async () => {
  const app = createOpsApp({
    service: "t",
    registry: createRegistry(),
    checks: { edge: () => "finished", database: async () => true },
  });
  const res = await app.request("/ready");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ ready: true, dependencies: { edge: "finished", database: "up" } });
});
