/**
 * The Pulsar web service URL (admin REST + WebSocket API share it): `PULSAR_URL`, default
 * `http://127.0.0.1:8080`, turned into the two bases our clients need.
 *
 * @example
 * const { httpBase, wsBase } = parseServiceUrl("http://127.0.0.1:8080"); // wsBase "ws://127.0.0.1:8080"
 */
import { PipelineError } from "@energy/contracts/errors.ts";

export const defaultPulsarUrl = "http://127.0.0.1:8080";

export interface ServiceUrl {
  /** e.g. `http://127.0.0.1:8080`, no trailing slash */
  readonly httpBase: string;
  /** e.g. `ws://127.0.0.1:8080`, no trailing slash */
  readonly wsBase: string;
}

/** Accepts http(s):// (the web service port, not the binary pulsar:// one) and ws(s)://. */
export function parseServiceUrl(raw: string = defaultPulsarUrl): ServiceUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new PipelineError("config", `PULSAR_URL "${raw}" is not a URL`, {
      hint: "use http://host:8080 (the Pulsar web service port)",
      cause,
    });
  }
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) {
    throw new PipelineError("config", `PULSAR_URL "${raw}" is not an http(s):// or ws(s):// URL`, {
      hint: "our client speaks the WebSocket + admin REST API on the web service port, e.g. http://127.0.0.1:8080",
    });
  }
  const hostPort = url.host;
  const path = url.pathname.replace(/\/+$/, "");
  return {
    httpBase: `${secure ? "https" : "http"}://${hostPort}${path}`,
    wsBase: `${secure ? "wss" : "ws"}://${hostPort}${path}`,
  };
}
