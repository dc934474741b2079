/** Loopback helpers for tests and benchmarks that start their own servers. */
import { PipelineError } from "@energy/contracts/errors.ts";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; we close it again). Another
 * process could take it in between; the caller's server then fails to bind and says so.
 */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

/** Resolves once a TCP connection to host:port succeeds; throws PipelineError("timeout") after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const socket = await Bun.connect({ hostname: host, port, socket: { data() {} } });
      socket.end();
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new PipelineError("timeout", `nothing listens on ${host}:${port} after ${timeoutMs} ms`);
      }
      await Bun.sleep(50);
    }
  }
}
