/**
 * Min–max scaling to [0, 1], the study's preprocessing (sklearn `MinMaxScaler`), one scaler per model so a
 * device never shares another's range (one of the study's weaknesses).
 */
import { PipelineError } from "@energy/contracts/errors.ts";

/** JSON form, stored beside the model (and folded into the ONNX graph by `encodeOnnxModel`). */
export interface MinMaxScalerJson {
  kind: "minmax";
  min: number;
  max: number;
}

/**
 * `x' = (x − min) / (max − min)`. A constant series (max = min) gets a range of 1, as sklearn does, so
 * transform gives 0 instead of NaN and inverse gives the constant back.
 *
 * @example
 * const scaler = MinMaxScaler.fit([500, 1500]);
 * scaler.transformValue(1000); // 0.5
 */
export class MinMaxScaler {
  readonly min: number;
  readonly max: number;
  /** max − min, or 1 for a constant series. */
  readonly range: number;

  constructor(min: number, max: number) {
    if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) {
      throw new PipelineError(
        "validation",
        `scaler bounds min=${min}, max=${max} are not finite with min ≤ max`,
      );
    }
    this.min = min;
    this.max = max;
    this.range = max - min > 0 ? max - min : 1;
  }

  /** Fits to the finite values of `values`; throws when there is none. */
  static fit(values: ArrayLike<number>): MinMaxScaler {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (min > max) {
      throw new PipelineError("validation", `cannot fit a scaler to ${values.length} values: none is finite`);
    }
    return new MinMaxScaler(min, max);
  }

  static fromJSON(json: unknown): MinMaxScaler {
    const j = json as Partial<MinMaxScalerJson> | null;
    if (j?.kind !== "minmax" || typeof j.min !== "number" || typeof j.max !== "number") {
      throw new PipelineError("model", `scaler JSON ${JSON.stringify(json)} is not {kind:"minmax",min,max}`);
    }
    return new MinMaxScaler(j.min, j.max);
  }

  toJSON(): MinMaxScalerJson {
    return { kind: "minmax", min: this.min, max: this.max };
  }

  transformValue(x: number): number {
    return (x - this.min) / this.range;
  }

  inverseValue(y: number): number {
    return y * this.range + this.min;
  }

  /** Scales into `out` (a new Float64Array by default); `out` may be `values` itself. */
  transform(values: ArrayLike<number>): Float64Array;
  transform<T extends Float64Array | Float32Array>(values: ArrayLike<number>, out: T): T;
  transform(values: ArrayLike<number>, out: Float64Array | Float32Array = new Float64Array(values.length)) {
    for (let i = 0; i < values.length; i++) out[i] = (values[i]! - this.min) / this.range;
    return out;
  }

  inverse(values: ArrayLike<number>): Float64Array;
  inverse<T extends Float64Array | Float32Array>(values: ArrayLike<number>, out: T): T;
  inverse(values: ArrayLike<number>, out: Float64Array | Float32Array = new Float64Array(values.length)) {
    for (let i = 0; i < values.length; i++) out[i] = values[i]! * this.range + this.min;
    return out;
  }
}
