/**
 * Pulsar for one sweep point: a namespace of its own (the shared standalone also serves other work, whose
 * `readings`/`windows` topics and subscriptions we must not consume from), the subscriptions' backlog at
 * the end, and removal of what we created.
 */

import { errorMessage } from "@energy/contracts/errors.ts";
import { PulsarAdmin } from "@energy/pulsar/admin.ts";

/**
 * The core's two logs and the subscriptions the bench waits on: the windower's on readings
 * (core/windower.ts) and the forecaster's on windows (ml/forecaster/service.ts; absent unless it runs — the
 * window store writes PostgreSQL from the windower, core/window-store.ts).
 */
const topicsAndSubscriptions = { readings: "windower", windows: "forecaster" } as const;

export async function createBenchNamespace(url: URL, namespace: string): Promise<void> {
  await new PulsarAdmin({ url: url.href }).ensureNamespace(namespace);
}

/**
 * Unacknowledged messages of the core's subscriptions, per topic, summed over partitions (a partitioned
 * topic's stats: GET /admin/v2/persistent/{ns}/{topic}/partitioned-stats). -1 when it cannot be read.
 */
export async function subscriptionBacklog(url: URL, namespace: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const base = url.href.replace(/\/$/, "");
  for (const [topic, subscription] of Object.entries(topicsAndSubscriptions)) {
    try {
      const res = await fetch(`${base}/admin/v2/persistent/${namespace}/${topic}/partitioned-stats`, {
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { subscriptions?: Record<string, { msgBacklog?: number }> };
      out[topic] = body.subscriptions?.[subscription]?.msgBacklog ?? 0;
    } catch {
      out[topic] = -1;
    }
  }
  return out;
}

/** Deletes the namespace's topics, then the namespace; failures are returned as text, never thrown. */
export async function deleteBenchNamespace(url: URL, namespace: string): Promise<string | undefined> {
  const admin = new PulsarAdmin({ url: url.href });
  try {
    for (const topic of Object.keys(topicsAndSubscriptions)) {
      await admin.deleteTopic(`persistent://${namespace}/${topic}`);
    }
    const base = url.href.replace(/\/$/, "");
    const res = await fetch(`${base}/admin/v2/namespaces/${namespace}`, {
      method: "DELETE",
      signal: AbortSignal.timeout(10_000),
    });
    return res.ok || res.status === 404 ? undefined : `delete namespace ${namespace}: HTTP ${res.status}`;
  } catch (error) {
    return `delete namespace ${namespace}: ${errorMessage(error)}`;
  }
}
