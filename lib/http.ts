/**
 * The operations endpoints every long-running process serves, as one small Hono app on Bun.serve:
 * `GET /health` liveness (always cheap), `GET /ready` readiness with one entry per dependency (503 until
 * all are up), `GET /metrics` Prometheus text from prom-client.
 */
import { Hono } from "hono";
import type { Registry } from "prom-client";
import { PipelineError } from "./errors.ts";

/** A dependency's readiness probe; it must be cheap and must not throw (a throw counts as down). */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface OpsOptions {
  service: string;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  /** Extra fields for /health, e.g. the MQTT port the demo's embedded broker listens on. */
  info?: () => Record<string, unknown>;
}

export function createOpsApp(options: OpsOptions): Hono {
  const startedAt = Date.now();
  const app = new Hono();
  app.get("/health", (c) =>
    c.json({
      status: "ok",
      service: options.service,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      ...options.info?.(),
    }),
  );
  app.get("/ready", async (c) => {
    const entries = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          return [name, (await check()) ? "up" : "down"] as const;
        } catch {
          return [name, "down"] as const;
        }
      }),
    );
    const ready = entries.every(([, state]) => state === "up");
    return c.json(
      { ready, service: options.service, dependencies: Object.fromEntries(entries) },
      ready ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", options.registry.contentType);
    return c.body(await options.registry.metrics());
  });
  return app;
}

export interface OpsServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** Serves the ops app on loopback by default (port 0 = a free port). */
export function serveOps(options: OpsOptions & { port: number; hostname?: string }): OpsServer {
  const app = createOpsApp(options);
  const hostname = options.hostname ?? "127.0.0.1";
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ port: options.port, hostname, fetch: app.fetch });
  } catch (error) {
    throw new PipelineError(
      "config",
      `cannot serve ${options.service} health on ${hostname}:${options.port}`,
      {
        hint: "the port is probably taken: choose another with --http-port or HTTP_PORT (0 = any free port)",
        cause: error,
      },
    );
  }
  const port = server.port ?? options.port;
  return {
    port,
    url: `http://${hostname}:${port}`,
    stop: () => server.stop(true),
  };
}
