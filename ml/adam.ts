/**
 * Adam (Kingma & Ba 2015) on a flat parameter vector, with Keras' defaults and its form of the update
 * (bias correction folded into the step size, ε outside the square root), so hyper-parameters carry over
 * from the study's `Adam()`.
 */
import { PipelineError } from "@energy/contracts/errors.ts";

export interface AdamOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Keras 3 `keras.optimizers.Adam()` defaults. */
export const defaultAdamOptions: AdamOptions = {
  learningRate: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
};

/**
 * @example
 * const adam = new Adam(model.params.length);
 * adam.step(model.params, grad);
 */
export class Adam {
  readonly options: AdamOptions;
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(size: number, options: Partial<AdamOptions> = {}) {
    this.options = { ...defaultAdamOptions, ...options };
    const { learningRate, beta1, beta2, epsilon } = this.options;
    if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(epsilon > 0)) {
      throw new PipelineError("config", `Adam options ${JSON.stringify(this.options)} are out of range`);
    }
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** Number of updates applied so far. */
  get steps(): number {
    return this.t;
  }

  /** params ← params − α_t · m̂ / (√v̂ + ε), in place. */
  step(params: Float64Array, grad: Float64Array): void {
    if (params.length !== this.m.length || grad.length !== this.m.length) {
      throw new PipelineError(
        "internal",
        `Adam built for ${this.m.length} parameters got params ${params.length}, grad ${grad.length}`,
      );
    }
    const { learningRate, beta1, beta2, epsilon } = this.options;
    this.t++;
    const alpha = (learningRate * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    const { m, v } = this;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      const mi = m[i]! + (g - m[i]!) * (1 - beta1);
      const vi = v[i]! + (g * g - v[i]!) * (1 - beta2);
      m[i] = mi;
      v[i] = vi;
      params[i]! -= (alpha * mi) / (Math.sqrt(vi) + epsilon);
    }
  }
}
