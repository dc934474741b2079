/**
 * Shared set-up for the tests that run against a real Pulsar (`PULSAR_URL`, default http://127.0.0.1:8080).
 * Unreachable Pulsar: with `CI` set the test file fails (CI starts it with `bash scripts/pulsar.sh start`,
 * so a missing broker is a broken pipeline, not a reason to skip); locally it is skipped with a message.
 *
 * @example
 * const pulsar = await pulsarForTests(); // undefined locally when Pulsar is down
 * describe.skipIf(!pulsar)("producer", () => { ... });
 */
import { announceSkip } from "../../test/servers.ts";
import { PulsarAdmin } from "./admin.ts";
import { defaultPulsarUrl } from "./service-url.ts";

export interface TestPulsar {
  url: string;
  admin: PulsarAdmin;
  /** A namespace for tests; topics inside get unique names from `uniqueTopic`. */
  namespace: string;
}

export const testNamespace = "energy-test/client";

// One probe per URL and test run: every Pulsar test file asks, and an unreachable host must not cost each
// of them the admin timeout again.
const probes = new Map<string, Promise<TestPulsar | undefined>>();

export function pulsarForTests(): Promise<TestPulsar | undefined> {
  const url = process.env.PULSAR_URL ?? defaultPulsarUrl;
  let probe = probes.get(url);
  if (!probe) {
    probe = probePulsar(url);
    probes.set(url, probe);
  }
  return probe;
}

async function probePulsar(url: string): Promise<TestPulsar | undefined> {
  const admin = new PulsarAdmin({ url, timeoutMs: 5_000 });
  try {
    await admin.listClusters();
  } catch (error) {
    const cause = (error as Error).cause as { code?: string } | undefined;
    const why = cause?.code ?? (error as Error).message;
    const message = `Pulsar is not reachable at ${url} (${why}); start it with: bash scripts/pulsar.sh start`;
    if (process.env.CI) throw new Error(`CI: ${message}`);
    announceSkip("Pulsar integration tests", `${message} (CI fails instead)`);
    return undefined;
  }
  await admin.ensureNamespace(testNamespace);
  return { url, admin, namespace: testNamespace };
}

/** A topic name no earlier run used, so tests never see each other's messages. */
export function uniqueTopic(prefix: string): string {
  return `persistent://${testNamespace}/${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
