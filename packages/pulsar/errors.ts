/**
 * How Pulsar failures become our one typed `PipelineError` (packages/contracts/errors.ts): an HTTP status from the admin
 * API or a refused WebSocket upgrade maps to a stable code a caller can switch on
 * (`auth`, `not-found`, `payload-too-large`, `timeout`, `connection`, `validation`, `internal`).
 *
 * @example
 * if (!res.ok) throw pulsarHttpError(res.status, await res.text(), `create topic ${topic}`);
 */
import { type ErrorCode, PipelineError } from "@energy/contracts/errors.ts";

/** The code for an HTTP status Pulsar answered with (admin REST or WebSocket upgrade). */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not-found";
  if (status === 413) return "payload-too-large";
  if (status === 408 || status === 504) return "timeout";
  // 409 on schema upload = incompatible schema, on create = already exists (callers treat that one as OK)
  if (status === 400 || status === 409 || status === 412) return "validation";
  if (status === 502 || status === 503) return "connection";
  return "internal";
}

const hints: Partial<Record<ErrorCode, string>> = {
  auth: "check the Pulsar token / role permissions for this namespace",
  "not-found": "create the tenant, namespace or topic first (packages/pulsar/admin.ts), or check its name",
  "payload-too-large": "split the payload or raise maxMessageSize / webSocketMaxTextFrameSize",
  timeout: "the broker is slow or overloaded; retry, or raise the timeout",
  connection: "is Pulsar running? `bash scripts/pulsar.sh start`, and check PULSAR_URL",
};

/** A PipelineError for an HTTP status, naming what was being done and Pulsar's own reason. */
export function pulsarHttpError(status: number, body: string, doing: string): PipelineError {
  const code = codeForStatus(status);
  const reason = extractReason(body);
  const hint = hints[code];
  return new PipelineError(code, `Pulsar answered ${status} to ${doing}${reason ? `: ${reason}` : ""}`, {
    ...(hint ? { hint } : {}),
  });
}

/** A PipelineError for a failure below HTTP (refused connection, reset socket, DNS). */
export function pulsarConnectionError(url: string, doing: string, cause?: unknown): PipelineError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new PipelineError("connection", `cannot reach Pulsar at ${url} to ${doing}${detail}`, {
    hint: hints.connection,
    cause,
  });
}

/** A PipelineError for an operation that did not finish in time. */
export function pulsarTimeoutError(doing: string, ms: number): PipelineError {
  return new PipelineError("timeout", `${doing} did not complete within ${ms} ms`, { hint: hints.timeout });
}

/** Pulsar's admin API answers errors as `{"reason": "..."}`; anything else is shown as-is, shortened. */
function extractReason(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && "reason" in parsed) return String(parsed.reason);
  } catch {
    // not JSON: fall through
  }
  return body.trim().slice(0, 300);
}
