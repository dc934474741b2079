/**
 * Pulsar admin REST client (fetch): tenants, namespaces, topics, partitioned topics, schemas. Creation is
 * idempotent (409 "already exists" counts as success) so every process can declare what it needs at start.
 *
 * @example
 * const admin = new PulsarAdmin({ url: process.env.PULSAR_URL });
 * await admin.ensureNamespace("energy/core");
 * await admin.ensurePartitionedTopic("persistent://energy/core/readings", 4);
 * await admin.uploadSchema("persistent://energy/core/windows", { type: "AVRO", schema: avroJson });
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import { pulsarConnectionError, pulsarHttpError, pulsarTimeoutError } from "./errors.ts";
import { parseServiceUrl } from "./service-url.ts";
import { parseTopic, type TopicName } from "./topic.ts";

export interface AdminOptions {
  /** Web service URL, default `http://127.0.0.1:8080`. */
  url?: string;
  /** Per-request deadline, default 10 s. */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …` when set. */
  token?: string;
}

/** A schema as Pulsar's registry stores it; `schema` is the Avro schema JSON text for AVRO. */
export interface SchemaDefinition {
  type: "AVRO" | "JSON" | "STRING" | "BYTES" | "PROTOBUF";
  schema: string;
  properties?: Record<string, string>;
}

export interface StoredSchema extends SchemaDefinition {
  version: number;
}

export const defaultAdminTimeoutMs = 10_000;

export class PulsarAdmin {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;

  constructor(options: AdminOptions = {}) {
    this.base = `${parseServiceUrl(options.url).httpBase}/admin/v2`;
    this.timeoutMs = options.timeoutMs ?? defaultAdminTimeoutMs;
    this.headers = { "content-type": "application/json" };
    if (options.token) this.headers.authorization = `Bearer ${options.token}`;
  }

  /** Clusters known to the broker (`["standalone"]` on a standalone). */
  async listClusters(): Promise<string[]> {
    return (await this.request("GET", "/clusters", undefined, "list clusters")) as string[];
  }

  /** Creates a tenant allowed on every cluster, unless it exists. */
  async ensureTenant(tenant: string): Promise<void> {
    const allowedClusters = await this.listClusters();
    await this.request(
      "PUT",
      `/tenants/${enc(tenant)}`,
      { allowedClusters, adminRoles: [] },
      `create tenant ${tenant}`,
      [409],
    );
  }

  /** Creates `tenant/namespace` (and the tenant), unless they exist. */
  async ensureNamespace(namespace: string): Promise<void> {
    const [tenant, ns] = splitNamespace(namespace);
    await this.ensureTenant(tenant);
    await this.request(
      "PUT",
      `/namespaces/${enc(tenant)}/${enc(ns)}`,
      undefined,
      `create namespace ${namespace}`,
      [409],
    );
  }

  /** Namespaces of a tenant, as `tenant/ns`. */
  async listNamespaces(tenant: string): Promise<string[]> {
    return (await this.request(
      "GET",
      `/namespaces/${enc(tenant)}`,
      undefined,
      `list namespaces of ${tenant}`,
    )) as string[];
  }

  /** Creates a non-partitioned topic unless it exists. */
  async ensureTopic(name: string): Promise<TopicName> {
    const topic = parseTopic(name);
    await this.request("PUT", `/${topic.restPath}`, undefined, `create topic ${topic.full}`, [409]);
    return topic;
  }

  /**
   * Creates a partitioned topic with `partitions` partitions unless it exists; an existing one with another
   * partition count is an error (silently writing to a different layout would break per-key ordering).
   */
  async ensurePartitionedTopic(name: string, partitions: number): Promise<TopicName> {
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new PipelineError("config", `partition count ${partitions} for ${name} must be an integer >= 1`);
    }
    const topic = parseTopic(name);
    await this.request(
      "PUT",
      `/${topic.restPath}/partitions`,
      partitions,
      `create partitioned topic ${topic.full}`,
      [409],
    );
    const actual = await this.getPartitions(topic.full);
    if (actual !== partitions) {
      throw new PipelineError(
        "config",
        `topic ${topic.full} exists with ${actual} partitions, not ${partitions}`,
        {
          hint: "use the existing count, or add partitions with the admin API (never fewer)",
        },
      );
    }
    return topic;
  }

  /** Partition count of a topic: 0 for a non-partitioned (or not yet created) topic. */
  async getPartitions(name: string): Promise<number> {
    const topic = parseTopic(name);
    const body = (await this.request(
      "GET",
      `/${topic.restPath}/partitions`,
      undefined,
      `get partitions of ${topic.full}`,
    )) as {
      partitions: number;
    };
    return body.partitions;
  }

  /** Topics of a namespace (partitions listed individually), full names. */
  async listTopics(namespace: string): Promise<string[]> {
    const [tenant, ns] = splitNamespace(namespace);
    return (await this.request(
      "GET",
      `/persistent/${enc(tenant)}/${enc(ns)}`,
      undefined,
      `list topics of ${namespace}`,
    )) as string[];
  }

  /** Deletes a topic (partitioned or not) and its subscriptions; a missing topic is fine. */
  async deleteTopic(name: string): Promise<void> {
    const topic = parseTopic(name);
    const partitions = await this.getPartitions(topic.full);
    const path = partitions > 0 ? `/${topic.restPath}/partitions` : `/${topic.restPath}`;
    await this.request("DELETE", `${path}?force=true`, undefined, `delete topic ${topic.full}`, [404]);
  }

  /**
   * Unacknowledged messages of one subscription (`msgBacklog` of the topic stats, summed over partitions);
   * 0 when the subscription does not exist yet.
   */
  async getSubscriptionBacklog(name: string, subscription: string): Promise<number> {
    const topic = parseTopic(name);
    const partitions = await this.getPartitions(topic.full);
    const path = partitions > 0 ? `/${topic.restPath}/partitioned-stats` : `/${topic.restPath}/stats`;
    const stats = (await this.request("GET", path, undefined, `get stats of ${topic.full}`)) as {
      subscriptions?: Record<string, { msgBacklog?: number }>;
    };
    return stats.subscriptions?.[subscription]?.msgBacklog ?? 0;
  }

  /** Registers a schema version for a topic (`POST /admin/v2/schemas/{tenant}/{ns}/{topic}/schema`). */
  async uploadSchema(name: string, schema: SchemaDefinition): Promise<number> {
    const topic = parseTopic(name);
    const body = { type: schema.type, schema: schema.schema, properties: schema.properties ?? {} };
    const res = (await this.request(
      "POST",
      `/schemas/${schemaPath(topic)}/schema`,
      body,
      `upload ${schema.type} schema for ${topic.full}`,
    )) as {
      version?: { version?: number } | number;
    };
    const v = res?.version;
    return typeof v === "number" ? v : (v?.version ?? -1);
  }

  /** The latest schema of a topic, or undefined when it has none. */
  async getSchema(name: string): Promise<StoredSchema | undefined> {
    const topic = parseTopic(name);
    const res = (await this.request(
      "GET",
      `/schemas/${schemaPath(topic)}/schema`,
      undefined,
      `get schema of ${topic.full}`,
      [404],
    )) as
      | { version: number; type: SchemaDefinition["type"]; data: string; properties?: Record<string, string> }
      | undefined;
    if (!res) return undefined;
    return { version: res.version, type: res.type, schema: res.data, properties: res.properties ?? {} };
  }

  /**
   * Sends one request; `accept` lists error statuses that mean "already in the state asked for" (409 on
   * create, 404 on delete) and resolve to undefined.
   */
  private async request(
    method: string,
    path: string,
    body: unknown,
    doing: string,
    accept: number[] = [],
  ): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: this.headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      if (cause instanceof DOMException && (cause.name === "TimeoutError" || cause.name === "AbortError")) {
        throw pulsarTimeoutError(doing, this.timeoutMs);
      }
      throw pulsarConnectionError(this.base, doing, cause);
    }
    const text = await res.text();
    if (!res.ok) {
      if (accept.includes(res.status)) return undefined;
      throw pulsarHttpError(res.status, text, doing);
    }
    return text ? JSON.parse(text) : undefined;
  }
}

function enc(part: string): string {
  return encodeURIComponent(part);
}

function splitNamespace(namespace: string): [string, string] {
  const parts = namespace.split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new PipelineError("config", `namespace "${namespace}" is not tenant/namespace`, {
      hint: "e.g. public/default",
    });
  }
  return [parts[0], parts[1]];
}

function schemaPath(topic: TopicName): string {
  return [topic.tenant, topic.namespace, topic.local].map(enc).join("/");
}
