/**
 * Serving exported forecasters with onnxruntime-node: load (validating the graph's input and output
 * shapes), warm up, and predict for many sensors in one batched run.
 */

import { PipelineError } from "@energy/contracts/errors.ts";
import * as ort from "onnxruntime-node";
import { onnxInputName, onnxOutputName } from "./onnx.ts";

export interface LoadOptions {
  /** Required input length; loading fails when the model's differs. */
  lookback?: number;
  /** Required number of outputs per sensor (1 for the one-step model, the horizon for the direct head). */
  outputs?: number;
  /** Intra-op threads; 1 by default so many forecasters (and the ingestion loop) share cores predictably. */
  threads?: number;
  /** Where the bytes came from (a path or S3 key), for error messages. */
  source?: string;
}

function staticDim(meta: ort.InferenceSession.ValueMetadata | undefined, axis: number): number | undefined {
  if (!meta?.isTensor) return undefined;
  const d = meta.shape[axis];
  return typeof d === "number" ? d : undefined;
}

/**
 * A loaded, warmed-up ONNX forecaster with input `[batch, lookback, 1]` and output `[batch, outputs]`.
 *
 * @example
 * const model = await OnnxForecaster.load(bytes, { lookback: 60, source: "s3://models/2/initial/model.onnx" });
 * const next = await model.forecast(windows, sensors, 60); // [sensors, 60]
 */
export class OnnxForecaster {
  readonly lookback: number;
  readonly outputs: number;
  readonly source: string;
  private readonly session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, lookback: number, outputs: number, source: string) {
    this.session = session;
    this.lookback = lookback;
    this.outputs = outputs;
    this.source = source;
  }

  static async load(bytes: Uint8Array, options: LoadOptions = {}): Promise<OnnxForecaster> {
    const source = options.source ?? "ONNX bytes";
    if (bytes.length === 0) {
      throw new PipelineError("model", `ONNX model from ${source} is empty (0 bytes)`, {
        hint: "the upload was probably interrupted; keep serving the previous model",
      });
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: options.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      });
    } catch (cause) {
      throw new PipelineError(
        "model",
        `ONNX model from ${source} (${bytes.length} bytes) could not be loaded: ${(cause as Error)?.message ?? cause}`,
        { hint: "the file is truncated or not an ONNX model; keep serving the previous model", cause },
      );
    }
    try {
      const input = session.inputMetadata[session.inputNames.indexOf(onnxInputName)];
      const output = session.outputMetadata[session.outputNames.indexOf(onnxOutputName)];
      if (!input?.isTensor || !output?.isTensor) {
        throw new PipelineError(
          "model",
          `ONNX model from ${source} has inputs [${session.inputNames}] and outputs [${session.outputNames}], ` +
            `expected tensors "${onnxInputName}" and "${onnxOutputName}"`,
        );
      }
      const lookback = staticDim(input, 1);
      const features = staticDim(input, 2);
      const outputs = staticDim(output, 1);
      if (input.shape.length !== 3 || lookback === undefined || features !== 1 || outputs === undefined) {
        throw new PipelineError(
          "model",
          `ONNX model from ${source} has input shape [${input.shape}] and output shape [${output.shape}], ` +
            "expected [batch, lookback, 1] and [batch, outputs] with fixed lookback and outputs",
        );
      }
      if (options.lookback !== undefined && lookback !== options.lookback) {
        throw new PipelineError(
          "model",
          `ONNX model from ${source} takes lookback ${lookback}, expected ${options.lookback}`,
        );
      }
      if (options.outputs !== undefined && outputs !== options.outputs) {
        throw new PipelineError(
          "model",
          `ONNX model from ${source} has ${outputs} outputs, expected ${options.outputs}`,
        );
      }
      const forecaster = new OnnxForecaster(session, lookback, outputs, source);
      // Warm-up: the first run allocates and plans; doing it here keeps it out of the first forecast's latency
      // and proves the graph executes before it replaces a serving model.
      await forecaster.predict(new Float32Array(lookback), 1);
      return forecaster;
    } catch (error) {
      await session.release().catch(() => {});
      if (error instanceof PipelineError) throw error;
      throw new PipelineError(
        "model",
        `ONNX model from ${source} failed its warm-up run: ${(error as Error)?.message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Reads and loads a model file; a missing file is a `not-found` error. */
  static async loadFile(path: string, options: LoadOptions = {}): Promise<OnnxForecaster> {
    const file = Bun.file(path);
    if (!(await file.exists())) {
      throw new PipelineError("not-found", `ONNX model file ${path} does not exist`);
    }
    return OnnxForecaster.load(await file.bytes(), { source: path, ...options });
  }

  /** One pass: `windows` is [batch, lookback] row-major; returns [batch, outputs]. */
  async predict(windows: Float32Array, batch: number): Promise<Float32Array> {
    if (!Number.isInteger(batch) || batch < 1 || windows.length !== batch * this.lookback) {
      throw new PipelineError(
        "validation",
        `predict got ${windows.length} values for batch ${batch}, expected batch × lookback ${this.lookback}`,
      );
    }
    const feeds = { [onnxInputName]: new ort.Tensor("float32", windows, [batch, this.lookback, 1]) };
    const result = await this.session.run(feeds);
    const out = result[onnxOutputName];
    if (!out || !(out.data instanceof Float32Array) || out.data.length !== batch * this.outputs) {
      throw new PipelineError(
        "model",
        `ONNX model from ${this.source} returned an output of unexpected shape`,
      );
    }
    return out.data;
  }

  /**
   * `horizon` values per sensor: one pass when the model has at least `horizon` outputs (direct head),
   * otherwise one-step passes fed back into the window (the study's recursive forecast; `horizon` runs).
   */
  async forecast(windows: Float32Array, batch: number, horizon: number): Promise<Float32Array> {
    if (this.outputs >= horizon) {
      const y = await this.predict(windows, batch);
      if (this.outputs === horizon) return y;
      const out = new Float32Array(batch * horizon);
      for (let b = 0; b < batch; b++)
        out.set(y.subarray(b * this.outputs, b * this.outputs + horizon), b * horizon);
      return out;
    }
    if (this.outputs !== 1) {
      throw new PipelineError(
        "model",
        `ONNX model from ${this.source} has ${this.outputs} outputs: neither one-step nor ≥ horizon ${horizon}`,
      );
    }
    const L = this.lookback;
    const window = windows.slice();
    const out = new Float32Array(batch * horizon);
    for (let h = 0; h < horizon; h++) {
      const y = await this.predict(window, batch);
      for (let b = 0; b < batch; b++) {
        const w = window.subarray(b * L, (b + 1) * L);
        w.copyWithin(0, 1);
        w[L - 1] = y[b]!;
        out[b * horizon + h] = y[b]!;
      }
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
