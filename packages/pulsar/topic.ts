/**
 * Topic names: `persistent://tenant/namespace/local` or a short `local` name in `public/default`, and the
 * paths the admin REST and WebSocket APIs address a topic by.
 *
 * @example
 * const t = parseTopic("readings"); // persistent://public/default/readings
 * t.restPath; // "persistent/public/default/readings"
 */
import { PipelineError } from "@energy/contracts/errors.ts";

export interface TopicName {
  readonly domain: "persistent" | "non-persistent";
  readonly tenant: string;
  readonly namespace: string;
  readonly local: string;
  /** `persistent://tenant/ns/local` */
  readonly full: string;
  /** `persistent/tenant/ns/local`, each part URL-encoded: the form both the admin and WS paths use. */
  readonly restPath: string;
}

export const defaultTenant = "public";
export const defaultNamespace = "default";

const fullPattern = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/([^/]+)$/;
const partPattern = /^[A-Za-z0-9_.=:-]+$/;

/** Parses a full topic name or a short one (which lands in `public/default`). */
export function parseTopic(name: string): TopicName {
  const match = fullPattern.exec(name);
  const [domain, tenant, namespace, local] = match
    ? [match[1] as TopicName["domain"], match[2]!, match[3]!, match[4]!]
    : (["persistent", defaultTenant, defaultNamespace, name] as const);
  for (const part of [tenant, namespace, local]) {
    if (!partPattern.test(part)) {
      throw new PipelineError("config", `topic "${name}" has an invalid part "${part}"`, {
        hint: "use persistent://tenant/namespace/topic with letters, digits and _ . = : -",
      });
    }
  }
  const restPath = [domain, tenant, namespace, local].map(encodeURIComponent).join("/");
  return { domain, tenant, namespace, local, full: `${domain}://${tenant}/${namespace}/${local}`, restPath };
}

/** Name of partition `index` of a partitioned topic (Pulsar's `-partition-N` suffix). */
export function partitionName(topic: TopicName, index: number): TopicName {
  return parseTopic(`${topic.full}-partition-${index}`);
}
