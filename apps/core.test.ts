import { expect, test } from "bun:test";
import { join } from "node:path";

test("the core binds its HTTP port before touching the database, MQTT or a model", async () => {
  const taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  try {
    const started = performance.now();
    const proc = Bun.spawn(
      [
        "bun",
        "apps/core.ts",
        "--http-port",
        String(taken.port),
        // Both unreachable: reaching them first would fail with their error, or retry, instead of the port's.
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "--mqtt-url",
        "mqtt://127.0.0.1:1",
      ],
      { cwd: join(import.meta.dir, ".."), stdout: "pipe", stderr: "pipe" },
    );
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2); // a config error: choose another port
    expect(stderr).toContain(`cannot serve core health on 127.0.0.1:${taken.port}`);
    expect(stderr).toContain("--http-port or CORE_HTTP_PORT");
    expect(stderr).not.toContain("database:");
    expect(performance.now() - started).toBeLessThan(15_000);
  } finally {
    taken.stop(true);
  }
}, 30_000);
