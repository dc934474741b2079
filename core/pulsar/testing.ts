/**
 * Shared set-up for the tests that run against a real Pulsar (`PULSAR_URL`, default http://127.0.0.1:8080).
 * Unreachable Pulsar: with `CI` set the test file fails (CI starts it with `bash scripts/pulsar.sh start`,
 * so a missing broker is a broken pipeline, not a reason to skip); locally it is skipped with a message.
 *
 * @example
 * const pulsar = await pulsarForTests(); // undefined locally when Pulsar is down
 * describe.skipIf(!pulsar)("producer", () => { ... });
 */
import { PulsarAdmin } from "./admin.ts";
import { defaultPulsarUrl } from "./service-url.ts";

export interface TestPulsar {
  url: string;
  admin: PulsarAdmin;
  /** A namespace for tests; topics inside get unique names from `uniqueTopic`. */
  namespace: string;
}

export const testNamespace = "energy-test/client";

export async function pulsarForTests(): Promise<TestPulsar | undefined> {
  const url = process.env.PULSAR_URL ?? defaultPulsarUrl;
  const admin = new PulsarAdmin({ url, timeoutMs: 5_000 });
  try {
    await admin.listClusters();
  } catch (error) {
    const message = `Pulsar is not reachable at ${url} (${(error as Error).message}); start it with: bash scripts/pulsar.sh start`;
    if (process.env.CI) throw new Error(`CI: ${message}`);
    console.warn(`SKIPPING Pulsar integration tests: ${message}`);
    return undefined;
  }
  await admin.ensureNamespace(testNamespace);
  return { url, admin, namespace: testNamespace };
}

/** A topic name no earlier run used, so tests never see each other's messages. */
export function uniqueTopic(prefix: string): string {
  return `persistent://${testNamespace}/${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
