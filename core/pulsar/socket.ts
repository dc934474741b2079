/**
 * Opening one WebSocket to Pulsar's WebSocket API with a deadline and a typed failure. Bun's global
 * `WebSocket` reports a refused upgrade only as an error message ("Expected 101 status code: 404"), so
 * the status is read back from it: 404 = namespace or topic missing, 401/403 = auth, 500 = broker-side
 * failure (e.g. an Exclusive subscription already taken).
 *
 * @example
 * const ws = await openSocket("ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/t", "open producer", 10_000);
 */
import type { PipelineError } from "../../lib/errors.ts";
import { pulsarConnectionError, pulsarHttpError, pulsarTimeoutError } from "./errors.ts";

const upgradeStatusPattern = /Expected 101 status code: (\d{3})/;

/** What the WebSocket proxy means by each refusal (it sends no body we can read). */
const upgradeReasons: Record<number, string> = {
  400: "invalid query parameters",
  401: "authentication failed",
  403: "not authorized on this topic",
  404: "tenant, namespace or topic does not exist",
  409: "busy: another consumer holds this Exclusive subscription, or a producer with this name exists",
  500: "the broker failed to create the producer or consumer (see the broker log)",
};

/** Resolves with the open socket, or rejects with a PipelineError naming what was being opened. */
export function openSocket(url: string, doing: string, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let settled = false;
    let errorText = "";
    const settle = (error: PipelineError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("error", onError);
      ws.removeEventListener("close", onClose);
      if (error) {
        try {
          ws.close();
        } catch {
          // already closed
        }
        reject(error);
      } else {
        resolve(ws);
      }
    };
    const onOpen = () => settle(undefined);
    const onError = (event: Event) => {
      errorText = (event as ErrorEvent).message ?? "";
    };
    const onClose = () => {
      const status = upgradeStatusPattern.exec(errorText)?.[1];
      settle(
        status
          ? pulsarHttpError(Number(status), upgradeReasons[Number(status)] ?? "", doing)
          : pulsarConnectionError(url, doing, new Error(errorText || "socket closed during handshake")),
      );
    };
    const timer = setTimeout(() => settle(pulsarTimeoutError(doing, timeoutMs)), timeoutMs);
    ws.addEventListener("open", onOpen);
    ws.addEventListener("error", onError);
    ws.addEventListener("close", onClose);
  });
}

/** Base64 of bytes, as the WebSocket API carries payloads. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Bytes of a base64 payload from the WebSocket API. */
export function fromBase64(text: string): Uint8Array {
  const buf = Buffer.from(text, "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
