/**
 * Real servers for integration tests. In CI (env CI set) an unreachable server makes its tests fail;
 * locally they are skipped with a message saying which server and how to start it.
 */
import { connect } from "node:net";
import mqtt from "mqtt";

export const isCI = Boolean(process.env.CI);

// Module state is shared by every test file of one `bun test` run, so each group's reason prints once even
// when eight files skip the same group.
const announced = new Set<string>();

/**
 * Prints `[skip] {group}: {reason}` once per test run, however many test files skip that group: one
 * clear line per skipped group instead of one per file.
 */
export function announceSkip(group: string, reason: string): void {
  if (announced.has(group)) return;
  announced.add(group);
  console.warn(`[skip] ${group}: ${reason}`);
}

export const postgresUrl = new URL(
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
);
export const mosquittoUrl = new URL(process.env.TEST_MQTT_URL ?? "mqtt://127.0.0.1:1883");

/** True when a TCP connection to host:port opens within the timeout. */
export function reachable(url: URL, defaultPort: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Whether integration tests for a server should be skipped: only when it is unreachable and we are not in CI.
 * Prints why, so a skipped run is never mistaken for a green one.
 */
export async function skipUnlessReachable(name: string, url: URL, defaultPort: number): Promise<boolean> {
  if (await reachable(url, defaultPort)) return false;
  if (isCI) return false; // let the tests run and fail loudly
  announceSkip(`${name} integration tests`, `${name} at ${url.host} is unreachable (CI fails instead)`);
  return true;
}

/** Ends the persistent MQTT session of `clientId` on the broker: a clean connection with that id. */
export async function endMqttSession(clientId: string): Promise<void> {
  const cleaner = await mqtt.connectAsync(mosquittoUrl.href, { clientId, clean: true, protocolVersion: 5 });
  await cleaner.endAsync();
}
