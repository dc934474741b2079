import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { Logger } from "./log.ts";
import { createRegistry } from "./metrics.ts";
import { serviceProcess } from "./process.ts";

/** A process whose logs, exit code and signals the test holds. */
function harness() {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ""}`);
    };
  const logger: Logger = {
    debug: record("debug"),
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
    child: () => logger,
  };
  const signals = new EventEmitter();
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const proc = serviceProcess({
    service: "test",
    logger,
    registry: createRegistry(),
    exit: (code) => exited(code),
    signals,
  });
  return { proc, lines, signals, exit };
}

describe("starting", () => {
  test("a failed start stops what started before it, newest first, and the error goes on", async () => {
    const { proc, lines } = harness();
    const stopped: string[] = [];
    await proc.start(
      "database",
      async () => "db",
      (d) => void stopped.push(d),
    );
    await proc.start("nothing to stop", () => 1);
    await proc.start(
      "core",
      () => "core",
      async () => {
        stopped.push("core");
        throw new Error("the log is gone");
      },
    );
    const failure = new PipelineError("connection", "cannot reach the model store");
    await expect(
      proc.start(
        "forecaster",
        async () => Promise.reject(failure),
        () => {
          stopped.push("forecaster");
        },
      ),
    ).rejects.toBe(failure);
    expect(stopped).toEqual(["core", "db"]);
    expect(lines).toEqual([
      "warn stopping core after the failed start of forecaster failed: the log is gone",
    ]);
  });

  test("/ready says `starting` until run, then answers with the probes run gives", async () => {
    const { proc } = harness();
    const ops = await proc.serveOps({ port: 0, hostname: "127.0.0.1" });
    try {
      const ready = async () => {
        const res = await fetch(`${ops.url}/ready`);
        return { status: res.status, body: (await res.json()) as { dependencies: Record<string, string> } };
      };
      expect((await fetch(`${ops.url}/health`)).status).toBe(200);
      expect(await ready()).toMatchObject({ status: 503, body: { dependencies: { starting: "down" } } });
      proc.run({ checks: { database: () => true }, shutdown: [] });
      expect(await ready()).toMatchObject({ status: 200, body: { dependencies: { database: "up" } } });
    } finally {
      await ops.stop();
    }
  });

  test("a taken ops port is the start's error, and stops what started before it", async () => {
    const taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    try {
      const { proc } = harness();
      let closed = false;
      await proc.start(
        "database",
        async () => "db",
        () => {
          closed = true;
        },
      );
      await expect(proc.serveOps({ port: taken.port!, hostname: "127.0.0.1" })).rejects.toThrow(
        `cannot serve test health on 127.0.0.1:${taken.port}`,
      );
      expect(closed).toBe(true);
    } finally {
      taken.stop(true);
    }
  });
});

describe("stopping", () => {
  test("a signal runs the shutdown steps in the order given, once, and exits 0", async () => {
    const { proc, lines, signals, exit } = harness();
    const order: string[] = [];
    const step = (name: string) => ({
      name,
      stop: async () => {
        order.push(name);
        await Bun.sleep(5);
      },
    });
    proc.run({
      checks: {},
      running: { message: "test running", fields: { port: 1 } },
      announce: "finishing",
      shutdown: [step("core intake"), step("forecaster"), step("core logs"), step("database")],
    });
    signals.emit("SIGTERM");
    // A second signal while stopping changes nothing: the first shutdown goes on.
    signals.emit("SIGINT");
    expect(await exit).toBe(0);
    expect(order).toEqual(["core intake", "forecaster", "core logs", "database"]);
    expect(lines).toEqual(['info test running {"port":1}', "info SIGTERM: finishing"]);
  });

  test("a step that throws is logged, the steps after it still run, and the exit code is 1", async () => {
    const { proc, lines, signals, exit } = harness();
    const order: string[] = [];
    proc.run({
      checks: {},
      shutdown: [
        {
          name: "windows log",
          stop: () => {
            throw new Error("broker gone");
          },
        },
        { name: "database", stop: () => void order.push("database") },
      ],
    });
    signals.emit("SIGINT");
    expect(await exit).toBe(1);
    expect(order).toEqual(["database"]);
    expect(lines).toEqual(["error stopping windows log failed: broker gone"]);
  });

  test("past the timeout it logs what is unwritten, at the signal and now, and exits 1", async () => {
    const { proc, lines, signals, exit } = harness();
    let backlog = 3;
    proc.run({
      checks: {},
      announce: "closing open windows and flushing",
      timeout: { seconds: 0.05, unwritten: () => ({ windowStoreBacklog: backlog }) },
      shutdown: [{ name: "stuck writer", stop: () => new Promise<void>(() => {}) }],
    });
    signals.emit("SIGTERM");
    backlog = 5;
    expect(await exit).toBe(1);
    expect(lines).toEqual([
      "info SIGTERM: closing open windows and flushing (at most 0.05 s)",
      'error shutdown did not finish within 0.05 s (SHUTDOWN_TIMEOUT_S); exiting with work not written {"atSignal":{"windowStoreBacklog":3},"now":{"windowStoreBacklog":5}}',
    ]);
  });

  test("`until` ends the run like a signal (the demo's --duration)", async () => {
    const { proc, lines, exit } = harness();
    const order: string[] = [];
    proc.run({
      checks: {},
      announce: "stopping",
      until: Bun.sleep(10).then(() => "--duration"),
      shutdown: [{ name: "summary", stop: () => void order.push("summary") }],
    });
    expect(await exit).toBe(0);
    expect(order).toEqual(["summary"]);
    expect(lines).toEqual(["info --duration: stopping"]);
  });
});
