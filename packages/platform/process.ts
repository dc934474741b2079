/**
 * The process wiring every long-running entry point shares (`bun run core`, `bun run forecaster`,
 * `bun run demo`): the ops HTTP server, starting components one after the other (a failure stops those
 * already started), the stop signals, an ordered shutdown (bounded by SHUTDOWN_TIMEOUT_S where the process
 * declares it), the start and stop log lines, and the exit code.
 *
 * The entry point lists the shutdown steps itself, in order: which component drains before which is a choice
 * of the process that puts them together (e.g. an in-process forecaster reads the core's windows log, so it
 * stops after the core's intake has drained and before the core closes its logs), not of the components.
 *
 * @example
 * const proc = serviceProcess({ service: "core", logger, registry });
 * const ops = await proc.serveOps({ port: 9102 });
 * const database = await proc.start("database", () => openDatabase(…), (d) => d.close());
 * proc.run({
 *   checks: { database: () => database.ping() },
 *   running: { message: `core running; health ${ops.url}/health` },
 *   shutdown: [ops, { name: "database", stop: () => database.close() }],
 * });
 */

import { errorMessage } from "@energy/contracts/errors.ts";
import type { Registry } from "prom-client";
import { type OpsOptions, type OpsServer, type ReadinessCheck, serveOps } from "./http.ts";
import type { Logger } from "./log.ts";

/** One shutdown step: a component's stop, or one phase of it. */
export interface ShutdownStep {
  /** Names the step when it fails. */
  readonly name: string;
  stop(): Promise<void> | void;
}

export interface ServiceProcessOptions {
  /** The process's name in /health, /ready and the ops port's error ("core", "forecaster", "demo"). */
  service: string;
  logger: Logger;
  registry: Registry;
  /** How the process ends; tests pass their own. */
  exit?: (code: number) => void;
  /** Where SIGINT and SIGTERM come from; tests pass their own emitter. */
  signals?: { on(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown };
}

export interface RunOptions {
  /** /ready's probes from now on (until then it reports `starting` as down). */
  checks: Record<string, ReadinessCheck>;
  /** Logged once everything has started. */
  running?: { message: string; fields?: Record<string, unknown> };
  /** Logged when the shutdown begins, after the signal's name: "SIGTERM: {announce}". */
  announce?: string;
  /**
   * SHUTDOWN_TIMEOUT_S: past it the process logs what is still unwritten (at the signal and now) and exits 1,
   * whatever step it is in (a database or log that does not answer must not hold the process forever).
   */
  timeout?: { seconds: number; unwritten: () => Record<string, unknown> };
  /** In this order on SIGINT, SIGTERM or `until`; a step that throws is logged, the rest still run, exit 1. */
  shutdown: readonly ShutdownStep[];
  /** Ends the run without a signal (the demo's --duration); resolves with the reason logged before `announce`. */
  until?: Promise<string>;
}

export interface ServiceProcess {
  /**
   * Serves /health, /ready and /metrics; /ready says `starting` (down) until `run`. Where the entry point
   * calls it decides what a taken port costs: first, it fails in milliseconds, before anything is opened.
   */
  serveOps(options: {
    port: number;
    hostname?: string | undefined;
    info?: OpsOptions["info"];
    routes?: OpsOptions["routes"];
  }): Promise<OpsServer & ShutdownStep>;
  /**
   * Starts one component (`stop` absent: nothing to stop). When `start` throws, the components started
   * before it are stopped, newest first, and the error goes on to the caller (packages/platform/config.ts's runCommand
   * prints it and exits 2 for a `config` error, such as a taken port, 1 for another).
   */
  start<T>(
    name: string,
    start: () => T | Promise<T>,
    stop?: (started: T) => Promise<void> | void,
  ): Promise<T>;
  /** Everything has started: swaps in the probes, logs `running`, and waits for a signal or `until`. */
  run(options: RunOptions): void;
}

export function serviceProcess(options: ServiceProcessOptions): ServiceProcess {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? process;
  // One object for the process's lifetime: the ops server reads whatever it holds at each request.
  const checks: Record<string, ReadinessCheck> = { starting: () => false };
  const started: ShutdownStep[] = [];

  const start = async <T>(
    name: string,
    open: () => T | Promise<T>,
    stop?: (value: T) => Promise<void> | void,
  ): Promise<T> => {
    let value: T;
    try {
      value = await open();
    } catch (error) {
      for (const step of started.splice(0).reverse()) {
        try {
          await step.stop();
        } catch (cleanup) {
          logger.warn(
            `stopping ${step.name} after the failed start of ${name} failed: ${errorMessage(cleanup)}`,
          );
        }
      }
      throw error;
    }
    if (stop) started.push({ name, stop: () => stop(value) });
    return value;
  };

  return {
    start,

    async serveOps(o) {
      const ops = await start(
        "ops",
        () =>
          serveOps({
            service: options.service,
            registry: options.registry,
            checks,
            port: o.port,
            ...(o.hostname === undefined ? {} : { hostname: o.hostname }),
            ...(o.info ? { info: o.info } : {}),
            ...(o.routes ? { routes: o.routes } : {}),
          }),
        (server) => server.stop(),
      );
      return { ...ops, name: "ops" };
    },

    run(o) {
      delete checks.starting;
      Object.assign(checks, o.checks);
      if (o.running) logger.info(o.running.message, o.running.fields);
      let stopping = false;
      let ended = false;
      // Once: the timeout and the last step may both get there (an `exit` that returns, in tests).
      const end = (code: number) => {
        if (ended) return;
        ended = true;
        exit(code);
      };
      const shutdown = async (reason: string) => {
        if (stopping) return;
        stopping = true;
        const bound = o.timeout;
        if (o.announce)
          logger.info(`${reason}: ${o.announce}${bound ? ` (at most ${bound.seconds} s)` : ""}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        if (bound) {
          const atSignal = bound.unwritten();
          timer = setTimeout(
            () => {
              logger.error(
                `shutdown did not finish within ${bound.seconds} s (SHUTDOWN_TIMEOUT_S); exiting with work not written`,
                { atSignal, now: bound.unwritten() },
              );
              end(1);
            },
            Math.round(bound.seconds * 1000),
          );
          timer.unref();
        }
        let failed = false;
        for (const step of o.shutdown) {
          try {
            await step.stop();
          } catch (error) {
            failed = true;
            logger.error(`stopping ${step.name} failed: ${errorMessage(error)}`);
          }
        }
        clearTimeout(timer);
        end(failed ? 1 : 0);
      };
      signals.on("SIGINT", () => void shutdown("SIGINT"));
      signals.on("SIGTERM", () => void shutdown("SIGTERM"));
      void o.until?.then(shutdown);
    },
  };
}
