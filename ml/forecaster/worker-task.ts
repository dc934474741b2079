/**
 * One request, one reply, in a Bun Worker: how the forecaster trains (bootstrap, scheduled retraining)
 * without blocking ingestion. Training is seconds of pure CPU; on the main thread it would stall the windows
 * consumer and the /health endpoint for that long.
 *
 * The worker module answers with `postMessage({ ok: true, value })` or `{ ok: false, error }` (see
 * `serveWorkerTask`).
 */
import { errorMessage, PipelineError } from "@energy/contracts/errors.ts";

export type WorkerReply<R> = { ok: true; value: R } | { ok: false; error: string };

export interface WorkerTask<R> {
  /** Resolves with the worker's value; rejects with PipelineError("internal") on its error or crash. */
  readonly result: Promise<R>;
  /** Stops the worker (at shutdown); a pending result rejects. */
  terminate(): void;
}

/**
 * Starts `url` as a Worker, sends it `request` (structured-cloned: plain data only) and awaits one reply.
 *
 * @example
 * const task = runWorkerTask<Req, ModelArtifact>(new URL("./train-worker.ts", import.meta.url), req, "bootstrap");
 * const artifact = await task.result;
 */
export function runWorkerTask<Q, R>(url: URL, request: Q, name: string): WorkerTask<R> {
  const worker = new Worker(url);
  let settle: ((reply: WorkerReply<R>) => void) | undefined;
  const result = new Promise<R>((resolve, reject) => {
    settle = (reply) => {
      settle = undefined;
      worker.terminate();
      if (reply.ok) resolve(reply.value);
      else reject(new PipelineError("internal", `${name} worker failed: ${reply.error}`));
    };
  });
  worker.onmessage = (event: MessageEvent<WorkerReply<R>>) => settle?.(event.data);
  worker.onerror = (event: ErrorEvent) => settle?.({ ok: false, error: event.message || "worker crashed" });
  worker.addEventListener("close", () => settle?.({ ok: false, error: "worker exited without replying" }));
  worker.postMessage(request);
  return {
    result,
    terminate: () => settle?.({ ok: false, error: "terminated" }),
  };
}

/**
 * The worker side: runs `handler` on each request and posts its reply; `transfer` lists buffers to move
 * rather than copy (an ONNX model is ~50 KB, a batch of series more).
 */
export function serveWorkerTask<Q, R>(
  handler: (request: Q) => Promise<R> | R,
  transfer: (value: R) => ArrayBuffer[] = () => [],
): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<Q>) => void) | null;
    postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  };
  scope.onmessage = async (event) => {
    try {
      const value = await handler(event.data);
      scope.postMessage({ ok: true, value } satisfies WorkerReply<R>, transfer(value));
    } catch (error) {
      scope.postMessage({ ok: false, error: errorMessage(error) } satisfies WorkerReply<R>);
    }
  };
}
