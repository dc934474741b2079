import { PipelineError } from "@energy/contracts/errors.ts";
import type { Backoff } from "@energy/platform/backoff.ts";

/**
 * The reconnect loop of our producer and consumer: waits with backoff and calls `open` until it succeeds
 * (`{ socket }`, backoff reset), the client is closed (undefined; a socket opened meanwhile is closed), or
 * `open` fails in a way retrying cannot mend (`{ fatal }`: auth, not-found). Connection and timeout errors
 * are retried: the broker may be restarting.
 */
export async function reopenWithBackoff<S extends { close(): void }>(
  backoff: Backoff,
  isClosed: () => boolean,
  open: () => Promise<S>,
): Promise<{ socket: S } | { fatal: PipelineError } | undefined> {
  while (!isClosed()) {
    await backoff.wait();
    if (isClosed()) return undefined;
    try {
      const socket = await open();
      if (isClosed()) {
        socket.close();
        return undefined;
      }
      backoff.reset();
      return { socket };
    } catch (error) {
      if (error instanceof PipelineError && (error.code === "auth" || error.code === "not-found")) {
        return { fatal: error };
      }
    }
  }
  return undefined;
}
