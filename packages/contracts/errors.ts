/**
 * One typed error for the whole product: it carries a stable `code` a caller can switch on,
 * a message that names the bad value and the way out, and an ES2022 `cause`.
 *
 * @example
 * throw new PipelineError("config", `MQTT_URL "${raw}" is not an mqtt:// URL`, { hint: "use mqtt://host:1883" });
 */
export type ErrorCode =
  | "config"
  | "validation"
  | "connection"
  | "timeout"
  | "not-found"
  | "payload-too-large"
  | "auth"
  | "storage"
  | "model"
  | "internal";

export class PipelineError extends Error {
  override readonly name = "PipelineError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message} (${options.hint})` : message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }
}

/** Message of any thrown value, for logs: never throws itself. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
