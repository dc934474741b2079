/**
 * The operations endpoints every long-running process serves, as one small Hono app on Bun.serve:
 * `GET /health` liveness (always cheap), `GET /ready` readiness with one entry per dependency (503 until
 * all are up), `GET /metrics` Prometheus text from prom-client.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import { Hono } from "hono";
import type { Registry } from "prom-client";

/**
/**
 * A dependency's readiness probe; it must be cheap and must not throw (a throw counts as down). A string
 * means down and says why (it shows under `reasons` in /ready), except "finished": a part that ended its
 * work as planned (the demo's edge after its replay), ready, not down.
 */
export type ReadinessCheck = () => boolean | string | Promise<boolean | string>;

export type ProbeState = "up" | "down" | "timeout" | "finished";

export interface Readiness {
  ready: boolean;
  dependencies: Record<string, ProbeState>;
  /** Why a dependency is down, where its probe said so. */
  reasons: Record<string, string>;
}

/**
 * How long /ready waits for one probe. A probe stuck on a half-open socket would otherwise hold the request
 * until the caller's own timeout, and Docker/Kubernetes health checks would report "timed out" instead of
 * naming the dependency that is down.
 */
export const defaultCheckTimeoutMs = 2_000;

export interface OpsOptions {
  service: string;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  /** Extra fields for /health, e.g. the MQTT port the demo's embedded broker listens on. */
  info?: () => Record<string, unknown>;
  /** Per-probe limit for /ready (default {@link defaultCheckTimeoutMs}); a probe over it counts as down. */
  checkTimeoutMs?: number;
  /** More routes on the same server (the web page); given the app and the readiness probe. */
  routes?: (app: Hono, readiness: () => Promise<Readiness>) => void;
}

type Probe = ProbeState | { reason: string };

/** Runs one probe: "up", "finished", "down" (false or a throw), "timeout", or down with a reason. */
async function probe(check: ReadinessCheck, timeoutMs: number): Promise<Probe> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const result = (async (): Promise<Probe> => {
    const state = await check();
    if (state === "finished") return "finished";
    return typeof state === "string" ? { reason: state } : state ? "up" : "down";
  })().catch(() => "down" as const);
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  const readiness = async (): Promise<Readiness> => {
    const timeoutMs = options.checkTimeoutMs ?? defaultCheckTimeoutMs;
    const entries = await Promise.all(
      Object.entries(options.checks).map(
        async ([name, check]) => [name, await probe(check, timeoutMs)] as const,
      ),
    );
    const ready = entries.every(([, state]) => state === "up" || state === "finished");
    const reasons = entries.flatMap(([name, state]) =>
      typeof state === "object" ? [[name, state.reason] as const] : [],
    );
    return {
      ready,
      dependencies: Object.fromEntries(
        entries.map(([name, state]) => [name, typeof state === "object" ? "down" : state]),
      ),
      reasons: Object.fromEntries(reasons),
    };
  };
  app.get("/ready", async (c) => {
    const { ready, dependencies, reasons } = await readiness();
    return c.json(
      {
        ready,
        service: options.service,
        dependencies,
        ...(Object.keys(reasons).length > 0 ? { reasons } : {}),
      },
      ready ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", options.registry.contentType);
    return c.body(await options.registry.metrics());
  });
  options.routes?.(app, readiness);
  return app;
}

export interface OpsServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** The env var of a service's `--http-port`: every command declares it as `{SERVICE}_HTTP_PORT` (packages/platform/options.ts). */
export const httpPortEnv = (service: string) => `${service.toUpperCase()}_HTTP_PORT`;

/**
 * Serves the ops app (port 0 = a free port) on `hostname`, else on the HTTP_HOST env var, else on loopback.
 * HTTP_HOST is read here as well as in the commands' options because every process must be scrapable from
 * another container (`HTTP_HOST=0.0.0.0` in compose/), including those whose CLI declares no host option.
 */
export function serveOps(options: OpsOptions & { port: number; hostname?: string }): OpsServer {
  const app = createOpsApp(options);
  const hostname = options.hostname ?? (process.env.HTTP_HOST || "127.0.0.1");
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ port: options.port, hostname, fetch: app.fetch });
  } catch (error) {
    throw new PipelineError(
      "config",
      `cannot serve ${options.service} health on ${hostname}:${options.port}`,
      {
        hint: `the port is probably taken: choose another with --http-port or ${httpPortEnv(options.service)} (0 = any free port)`,
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
