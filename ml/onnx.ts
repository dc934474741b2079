/**
 * Export of a trained LSTM forecaster as a standard ONNX model that onnxruntime loads:
 *
 *     input [batch, lookback, I] ─(Mul, Add: scaler, optional)─ Transpose(1,0,2) ─ LSTM ─ Y_h [1, batch, H]
 *       ─ Reshape [batch, H] ─ Gemm(D, d, transB=1) ─(Mul, Add: inverse scaler, optional)─ output [batch, O]
 *
 * The Transpose is there because onnxruntime's CPU LSTM rejects `layout = 1` (batch-first), so the graph
 * converts to ONNX's default [seq, batch, input]. Dropout is an identity at inference and is omitted.
 * Gate order and weight layouts of lstm.ts are ONNX's (i, o, f, c; W [4H, I], R [4H, H]), so W and R are
 * copied as they are; ONNX's B is [Wb, Rb] and Rb is zero because our LSTM has one bias per gate.
 *
 * With `scaler`, the min–max scaling is folded into the graph so the file is self-contained (input and
 * output in watts; no scaler file can be paired with the wrong model); it is also written into the
 * metadata as JSON. Without it, input and output are in scaled units (what the equality test uses).
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import type { LstmModel } from "./lstm.ts";
import { paramViews } from "./lstm.ts";
import { ProtoWriter } from "./protobuf.ts";
import type { MinMaxScaler } from "./scaler.ts";
import type { ForecastHead, ResidualScaling } from "./train.ts";

/** ONNX IR version 8 (ONNX 1.10+) and opset 17: both well inside what onnxruntime 1.30 supports. */
export const onnxIrVersion = 8;
export const onnxOpset = 17;
export const onnxInputName = "input";
export const onnxOutputName = "output";

export interface OnnxExportOptions {
  /** Fixed sequence length of the input (the batch dimension stays symbolic). */
  lookback: number;
  scaler?: MinMaxScaler;
  /**
   * Residual target (takes precedence over `scaler`): the graph subtracts the last input value, scales and
   * clips, and adds the last value back to the clipped, rescaled output, floored at `floor`.
   */
  residual?: ResidualScaling;
  /** Recorded in the metadata, for the loader and for people. */
  head?: ForecastHead;
  horizon?: number;
  modelVersion?: number;
  metadata?: Record<string, string>;
}

// onnx.proto enums (TensorProto.DataType, AttributeProto.AttributeType)
const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

interface Tensor {
  name: string;
  dims: number[];
  type: typeof FLOAT | typeof INT64;
  data: Float32Array | BigInt64Array;
}

type Attribute = { name: string; int: number } | { name: string; ints: number[] };

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
}

// Field numbers below are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto, StringStringEntryProto).
function writeTensor(w: ProtoWriter, t: Tensor): void {
  w.packedInt64(1, t.dims).int64(2, t.type).string(8, t.name);
  // raw_data is little-endian, which is every platform Bun runs on.
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function writeNode(w: ProtoWriter, node: Node, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `${node.op.toLowerCase()}_${index}`).string(4, node.op);
  for (const attr of node.attributes ?? []) {
    w.message(5, (a) => {
      a.string(1, attr.name);
      if ("int" in attr) a.int64(20, ATTR_INT).int64(3, attr.int);
      else a.int64(20, ATTR_INTS).packedInt64(8, attr.ints);
    });
  }
}

function writeValueInfo(w: ProtoWriter, name: string, dims: Array<number | string>): void {
  w.string(1, name).message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int64(1, FLOAT).message(2, (shape) => {
        for (const d of dims) {
          shape.message(1, (dim) => (typeof d === "number" ? dim.int64(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

const f32 = (values: ArrayLike<number>): Float32Array => Float32Array.from(values as ArrayLike<number>);

/**
 * Serialises `model` as an ONNX ModelProto.
 *
 * @example
 * const bytes = encodeOnnxModel(result.model, { lookback: 60, scaler: result.scaler, head: "direct" });
 * await Bun.write("model.onnx", bytes);
 */
export function encodeOnnxModel(model: LstmModel, options: OnnxExportOptions): Uint8Array {
  const { inputSize: I, hidden: H, outputs: O } = model.config;
  const { lookback, scaler } = options;
  if (!Number.isInteger(lookback) || lookback < 1) {
    throw new PipelineError("config", `ONNX export lookback ${lookback} is not a positive integer`);
  }
  for (let i = 0; i < model.params.length; i++) {
    if (!Number.isFinite(model.params[i]!)) {
      throw new PipelineError("model", `model parameter ${i} is ${model.params[i]}; refusing to export`);
    }
  }
  const v = paramViews(model);
  const bias = new Float32Array(8 * H);
  bias.set(f32(v.b), 0);
  const initializers: Tensor[] = [
    { name: "lstm_W", dims: [1, 4 * H, I], type: FLOAT, data: f32(v.w) },
    { name: "lstm_R", dims: [1, 4 * H, H], type: FLOAT, data: f32(v.r) },
    { name: "lstm_B", dims: [1, 8 * H], type: FLOAT, data: bias },
    { name: "h_shape", dims: [2], type: INT64, data: BigInt64Array.from([-1n, BigInt(H)]) },
    { name: "dense_W", dims: [O, H], type: FLOAT, data: f32(v.dense) },
    { name: "dense_b", dims: [O], type: FLOAT, data: f32(v.denseBias) },
  ];
  const nodes: Node[] = [];
  let x = onnxInputName;
  const residual = options.residual;
  const inverse = residual ? undefined : scaler;
  if (residual) {
    initializers.push(
      { name: "last_index", dims: [1], type: INT64, data: BigInt64Array.from([BigInt(lookback - 1)]) },
      { name: "last_shape", dims: [2], type: INT64, data: BigInt64Array.from([-1n, 1n]) },
      { name: "res_scale_in", dims: [], type: FLOAT, data: f32([1 / residual.scale]) },
      { name: "res_in_min", dims: [], type: FLOAT, data: f32([-residual.inputClip]) },
      { name: "res_in_max", dims: [], type: FLOAT, data: f32([residual.inputClip]) },
      { name: "res_out_min", dims: [], type: FLOAT, data: f32([-residual.outputClip]) },
      { name: "res_out_max", dims: [], type: FLOAT, data: f32([residual.outputClip]) },
      { name: "res_scale_out", dims: [], type: FLOAT, data: f32([residual.scale]) },
      { name: "res_floor", dims: [], type: FLOAT, data: f32([residual.floor]) },
      { name: "res_ceiling", dims: [], type: FLOAT, data: f32([3.4e38]) },
    );
    nodes.push(
      // [batch, lookback, 1] → the last reading [batch, 1, 1]; the input becomes differences to it.
      { op: "Gather", inputs: [x, "last_index"], outputs: ["last3"], attributes: [{ name: "axis", int: 1 }] },
      { op: "Sub", inputs: [x, "last3"], outputs: ["input_diff"] },
      { op: "Mul", inputs: ["input_diff", "res_scale_in"], outputs: ["input_diff_scaled"] },
      { op: "Clip", inputs: ["input_diff_scaled", "res_in_min", "res_in_max"], outputs: ["input_scaled"] },
    );
    x = "input_scaled";
  } else if (scaler) {
    initializers.push(
      { name: "scale_in", dims: [], type: FLOAT, data: f32([1 / scaler.range]) },
      { name: "offset_in", dims: [], type: FLOAT, data: f32([-scaler.min / scaler.range]) },
      { name: "scale_out", dims: [], type: FLOAT, data: f32([scaler.range]) },
      { name: "offset_out", dims: [], type: FLOAT, data: f32([scaler.min]) },
    );
    nodes.push(
      { op: "Mul", inputs: [x, "scale_in"], outputs: ["input_mul"] },
      { op: "Add", inputs: ["input_mul", "offset_in"], outputs: ["input_scaled"] },
    );
    x = "input_scaled";
  }
  nodes.push(
    { op: "Transpose", inputs: [x], outputs: ["x_seq"], attributes: [{ name: "perm", ints: [1, 0, 2] }] },
    {
      op: "LSTM",
      inputs: ["x_seq", "lstm_W", "lstm_R", "lstm_B"],
      outputs: ["", "lstm_Y_h"],
      attributes: [{ name: "hidden_size", int: H }],
    },
    { op: "Reshape", inputs: ["lstm_Y_h", "h_shape"], outputs: ["h_last"] },
    {
      op: "Gemm",
      inputs: ["h_last", "dense_W", "dense_b"],
      outputs: [inverse || residual ? "y_scaled" : onnxOutputName],
      attributes: [{ name: "transB", int: 1 }],
    },
  );
  if (residual) {
    nodes.push(
      { op: "Clip", inputs: ["y_scaled", "res_out_min", "res_out_max"], outputs: ["y_clipped"] },
      { op: "Mul", inputs: ["y_clipped", "res_scale_out"], outputs: ["y_diff"] },
      { op: "Reshape", inputs: ["last3", "last_shape"], outputs: ["last2"] },
      { op: "Add", inputs: ["y_diff", "last2"], outputs: ["y_level"] },
      { op: "Clip", inputs: ["y_level", "res_floor", "res_ceiling"], outputs: [onnxOutputName] },
    );
  } else if (inverse) {
    nodes.push(
      { op: "Mul", inputs: ["y_scaled", "scale_out"], outputs: ["y_mul"] },
      { op: "Add", inputs: ["y_mul", "offset_out"], outputs: [onnxOutputName] },
    );
  }
  const metadata: Record<string, string> = {
    "energy.lookback": String(lookback),
    "energy.outputs": String(O),
    "energy.hidden": String(H),
    "energy.gate_order": "iofc",
    "energy.units": scaler || residual ? "raw" : "scaled",
    "energy.target": residual ? "residual" : "absolute",
    ...(residual ? { "energy.residual": JSON.stringify(residual) } : {}),
    ...(options.head ? { "energy.head": options.head } : {}),
    ...(options.horizon ? { "energy.horizon": String(options.horizon) } : {}),
    ...(scaler ? { "energy.scaler": JSON.stringify(scaler.toJSON()) } : {}),
    ...options.metadata,
  };

  const w = new ProtoWriter();
  w.int64(1, onnxIrVersion)
    .string(2, "energy-pipeline")
    .string(3, "0.1.0")
    .int64(5, options.modelVersion ?? 0)
    .message(7, (g) => {
      for (const [i, node] of nodes.entries()) g.message(1, (n) => writeNode(n, node, i));
      g.string(2, "lstm_forecaster");
      for (const t of initializers) g.message(5, (tw) => writeTensor(tw, t));
      g.message(11, (vi) => writeValueInfo(vi, onnxInputName, ["batch", lookback, I]));
      g.message(12, (vi) => writeValueInfo(vi, onnxOutputName, ["batch", O]));
    })
    .message(8, (op) => op.string(1, "").int64(2, onnxOpset));
  for (const [key, value] of Object.entries(metadata))
    w.message(14, (e) => e.string(1, key).string(2, value));
  return w.finish();
}
