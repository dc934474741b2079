/** The Pulsar admin calls the bench needs beyond packages/pulsar/admin.ts: retention and the broker's version. */
import { PipelineError } from "@energy/contracts/errors.ts";

/**
 * Keeps bench topics readable by the consume tests although no subscription exists while they are
 * filled: the standalone's default retention is 0, so acknowledged-by-nobody data could be trimmed.
 */
export async function setRetention(url: string, namespace: string): Promise<void> {
  const res = await fetch(`${url}/admin/v2/namespaces/${namespace}/retention`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ retentionTimeInMinutes: 60, retentionSizeInMB: 1024 }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) {
    throw new PipelineError(
      "internal",
      `Pulsar answered ${res.status} to set retention on ${namespace}: ${await res.text()}`,
    );
  }
}

export async function brokerVersion(url: string): Promise<string> {
  try {
    const res = await fetch(`${url}/admin/v2/brokers/version`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? (await res.text()).trim() : "unknown";
  } catch {
    return "unknown";
  }
}
