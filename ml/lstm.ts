/**
 * LSTM(hidden) → Dropout → Dense(outputs): forward pass, and loss + gradient by backpropagation through time
 * over the whole lookback window (the window is the truncation: every sample starts from a zero state, as in
 * Keras' stateless LSTM the study used).
 *
 * Gate order is ONNX's **i, o, f, c** (input, output, forget, cell candidate), and the weight layouts are
 * ONNX's `W [4H, I]`, `R [4H, H]`, so export is a copy (see onnx.ts). Equations (ONNX LSTM, no peepholes,
 * default activations σ, tanh, tanh):
 *
 *     i = σ(W_i x + R_i h + b_i)   o = σ(W_o x + R_o h + b_o)   f = σ(W_f x + R_f h + b_f)
 *     g = tanh(W_c x + R_c h + b_c)   c' = f ⊙ c + i ⊙ g   h' = o ⊙ tanh(c')
 *     y = D h_T + d        (D [outputs, H], like ONNX Gemm with transB = 1)
 *
 * All parameters live in one Float64Array (`params`), laid out W, R, b, D, d, so the optimiser and the
 * gradient are flat vectors. Float64 throughout training: the gradient check needs it, and JavaScript
 * engines compute in double anyway (Float32Array would only add conversions).
 */
import { PipelineError } from "../lib/errors.ts";
import { createRng } from "./random.ts";

export interface LstmConfig {
  /** Features per time step (1 for a power series). */
  readonly inputSize: number;
  /** LSTM units H. */
  readonly hidden: number;
  /** Dense outputs: 1 for the study's recursive one-step model, the horizon for the direct head. */
  readonly outputs: number;
  /** Dropout rate on h_T during training (inverted dropout; identity at inference). */
  readonly dropout: number;
}

export interface LstmModel {
  readonly config: LstmConfig;
  readonly params: Float64Array;
}

/** Offsets of each tensor inside `params` (and inside a gradient vector of the same length). */
export interface ParamLayout {
  /** W [4H, I] */ readonly w: number;
  /** R [4H, H] */ readonly r: number;
  /** b [4H] (ONNX Wb; ONNX Rb is zero) */ readonly b: number;
  /** D [outputs, H] */ readonly dense: number;
  /** d [outputs] */ readonly denseBias: number;
  readonly size: number;
}

export const defaultLstmConfig: LstmConfig = { inputSize: 1, hidden: 25, outputs: 1, dropout: 0.1 };

export function paramLayout(config: LstmConfig): ParamLayout {
  const { inputSize: I, hidden: H, outputs: O } = config;
  const w = 0;
  const r = w + 4 * H * I;
  const b = r + 4 * H * H;
  const dense = b + 4 * H;
  const denseBias = dense + O * H;
  return { w, r, b, dense, denseBias, size: denseBias + O };
}

/** Named views into `params` (no copies). */
export function paramViews(model: LstmModel) {
  const { config, params } = model;
  const L = paramLayout(config);
  const { inputSize: I, hidden: H, outputs: O } = config;
  return {
    w: params.subarray(L.w, L.w + 4 * H * I),
    r: params.subarray(L.r, L.r + 4 * H * H),
    b: params.subarray(L.b, L.b + 4 * H),
    dense: params.subarray(L.dense, L.dense + O * H),
    denseBias: params.subarray(L.denseBias, L.denseBias + O),
  };
}

function checkConfig(config: LstmConfig): void {
  for (const key of ["inputSize", "hidden", "outputs"] as const) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1 || v > 4096) {
      throw new PipelineError("config", `LSTM ${key} ${v} is not an integer in 1..4096`);
    }
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new PipelineError("config", `LSTM dropout ${config.dropout} is not in [0, 1)`);
  }
}

/**
 * A new model with Keras' default initialisation, deterministic in `seed`: W and D Glorot-uniform,
 * R orthogonal (orthonormal columns, by modified Gram–Schmidt on a Gaussian matrix), biases zero except the
 * forget gate's, which is 1 (Keras `unit_forget_bias`) so early gradients flow through the cell.
 *
 * @example
 * const model = createLstmModel({ hidden: 25, outputs: 60 }, 7);
 */
export function createLstmModel(config: Partial<LstmConfig> = {}, seed = 0): LstmModel {
  const full: LstmConfig = { ...defaultLstmConfig, ...config };
  checkConfig(full);
  const { inputSize: I, hidden: H, outputs: O } = full;
  const model: LstmModel = { config: full, params: new Float64Array(paramLayout(full).size) };
  const v = paramViews(model);
  const rng = createRng(seed);
  const glorot = (out: Float64Array, fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * limit;
  };
  glorot(v.w, I, 4 * H);
  // Orthonormal columns of the 4H×H matrix R (Keras: orthogonal recurrent kernel of shape H×4H).
  const G = 4 * H;
  for (let i = 0; i < v.r.length; i++) v.r[i] = rng.normal();
  for (let k = 0; k < H; k++) {
    for (let p = 0; p < k; p++) {
      let dot = 0;
      for (let j = 0; j < G; j++) dot += v.r[j * H + k]! * v.r[j * H + p]!;
      for (let j = 0; j < G; j++) v.r[j * H + k]! -= dot * v.r[j * H + p]!;
    }
    let norm = 0;
    for (let j = 0; j < G; j++) norm += v.r[j * H + k]! ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < G; j++) v.r[j * H + k]! /= norm;
  }
  v.b.fill(0);
  v.b.fill(1, 2 * H, 3 * H); // forget gate (i, o, f, c order)
  glorot(v.dense, H, O);
  v.denseBias.fill(0);
  return model;
}

export function cloneModel(model: LstmModel): LstmModel {
  return { config: { ...model.config }, params: model.params.slice() };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
// tanh through exp: measured 6.6 ns vs 11.5 ns for Math.tanh under Bun; its absolute error (≤ 1e-16) is
// far below float32 resolution, and the backward pass differentiates the value actually computed.
const tanh = (x: number): number => 1 - 2 / (1 + Math.exp(2 * x));

/**
 * Inference forward pass (no dropout) for `batch` sequences of `steps` time steps.
 * `input` is [batch, steps, inputSize] row-major (the ONNX `input` layout); returns [batch, outputs].
 *
 * @example
 * const y = forward(model, window, 1, 60); // one-step forecast, scaled units
 */
export function forward(
  model: LstmModel,
  input: ArrayLike<number>,
  batch: number,
  steps: number,
  out: Float64Array = new Float64Array(batch * model.config.outputs),
): Float64Array {
  const { inputSize: I, hidden: H, outputs: O } = model.config;
  if (input.length !== batch * steps * I) {
    throw new PipelineError(
      "validation",
      `LSTM input has ${input.length} values, expected batch ${batch} × steps ${steps} × inputSize ${I}`,
    );
  }
  const L = paramLayout(model.config);
  const p = model.params;
  const G = 4 * H;
  const h = new Float64Array(H);
  const c = new Float64Array(H);
  const pre = new Float64Array(G);
  for (let bi = 0; bi < batch; bi++) {
    h.fill(0);
    c.fill(0);
    for (let t = 0; t < steps; t++) {
      const xo = (bi * steps + t) * I;
      for (let j = 0; j < G; j++) {
        let acc = p[L.b + j]!;
        for (let i = 0; i < I; i++) acc += p[L.w + j * I + i]! * input[xo + i]!;
        const ro = L.r + j * H;
        for (let k = 0; k < H; k++) acc += p[ro + k]! * h[k]!;
        pre[j] = acc;
      }
      for (let k = 0; k < H; k++) {
        const ig = sigmoid(pre[k]!);
        const og = sigmoid(pre[H + k]!);
        const fg = sigmoid(pre[2 * H + k]!);
        const cg = tanh(pre[3 * H + k]!);
        const cn = fg * c[k]! + ig * cg;
        c[k] = cn;
        h[k] = og * tanh(cn);
      }
    }
    for (let o = 0; o < O; o++) {
      let acc = p[L.denseBias + o]!;
      for (let k = 0; k < H; k++) acc += p[L.dense + o * H + k]! * h[k]!;
      out[bi * O + o] = acc;
    }
  }
  return out;
}

/**
 * Preallocated buffers for `lossAndGradient`, sized for at most `maxBatch` sequences of `steps` steps, so the
 * training loop allocates nothing per step. Not shareable between concurrent calls.
 */
export class TrainingWorkspace {
  readonly config: LstmConfig;
  readonly maxBatch: number;
  readonly steps: number;
  /** Batch inputs [maxBatch, steps, I] and targets [maxBatch, outputs]; the caller fills them. */
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** Inverted-dropout mask [maxBatch, H] (0 or 1/(1 − rate)); the caller fills it (see `fillDropoutMask`). */
  readonly mask: Float64Array;
  /** Predictions [maxBatch, outputs] of the last call. */
  readonly yhat: Float64Array;
  // History for the backward pass; n = t·B + b indexes (step, sample) pairs.
  readonly acts: Float64Array; // [T·B, 4H] activated gates
  readonly cs: Float64Array; // [(T+1)·B, H] cell states, row block 0 = zeros
  readonly hs: Float64Array; // [(T+1)·B, H] hidden states
  readonly tcs: Float64Array; // [T·B, H] tanh(c)
  // Transposed copies so the weight gradients are contiguous dot products of length T·B.
  readonly hT: Float64Array; // [H, T·B] h_{t−1}
  readonly xT: Float64Array; // [I, T·B]
  readonly dgT: Float64Array; // [4H, T·B] gradients of the gate pre-activations
  readonly dgStep: Float64Array; // [B, 4H]
  readonly dh: Float64Array; // [B, H]
  readonly dc: Float64Array; // [B, H]
  readonly hDrop: Float64Array; // [B, H]
  readonly rT: Float64Array; // [H, 4H] R transposed

  constructor(config: LstmConfig, maxBatch: number, steps: number) {
    checkConfig(config);
    const { inputSize: I, hidden: H, outputs: O } = config;
    const G = 4 * H;
    const N = steps * maxBatch;
    this.config = config;
    this.maxBatch = maxBatch;
    this.steps = steps;
    this.x = new Float64Array(maxBatch * steps * I);
    this.y = new Float64Array(maxBatch * O);
    this.mask = new Float64Array(maxBatch * H).fill(1);
    this.yhat = new Float64Array(maxBatch * O);
    this.acts = new Float64Array(N * G);
    this.cs = new Float64Array((steps + 1) * maxBatch * H);
    this.hs = new Float64Array((steps + 1) * maxBatch * H);
    this.tcs = new Float64Array(N * H);
    this.hT = new Float64Array(H * N);
    this.xT = new Float64Array(I * N);
    this.dgT = new Float64Array(G * N);
    this.dgStep = new Float64Array(maxBatch * G);
    this.dh = new Float64Array(maxBatch * H);
    this.dc = new Float64Array(maxBatch * H);
    this.hDrop = new Float64Array(maxBatch * H);
    this.rT = new Float64Array(H * G);
  }
}

/** Fills `ws.mask` for `batch` samples: each unit kept with probability 1 − rate and scaled by 1/(1 − rate). */
export function fillDropoutMask(
  ws: TrainingWorkspace,
  batch: number,
  rate: number,
  next: () => number,
): void {
  const n = batch * ws.config.hidden;
  if (rate <= 0) {
    ws.mask.fill(1, 0, n);
    return;
  }
  const keep = 1 / (1 - rate);
  for (let i = 0; i < n; i++) ws.mask[i] = next() < rate ? 0 : keep;
}

/**
 * Mean squared error of the model on the batch in `ws.x`/`ws.y` (first `batch` samples), and its gradient
 * with respect to every parameter, written into `grad` (overwritten, same layout as `params`).
 * With `useMask`, h_T is multiplied by `ws.mask` (dropout); without it the pass equals `forward`.
 *
 * Loss = Σ (ŷ − y)² / (batch · outputs), Keras' `mse` averaged over the batch.
 */
export function lossAndGradient(
  model: LstmModel,
  ws: TrainingWorkspace,
  batch: number,
  grad: Float64Array,
  useMask: boolean,
): number {
  const { inputSize: I, hidden: H, outputs: O } = model.config;
  if (ws.config.hidden !== H || ws.config.inputSize !== I || ws.config.outputs !== O) {
    throw new PipelineError("internal", "training workspace was built for a different LSTM configuration");
  }
  if (batch < 1 || batch > ws.maxBatch) {
    throw new PipelineError("internal", `batch ${batch} is not in 1..${ws.maxBatch} of the workspace`);
  }
  const T = ws.steps;
  const B = batch;
  const G = 4 * H;
  const N = T * B;
  const L = paramLayout(model.config);
  const p = model.params;
  const { x, y, mask, yhat, acts, cs, hs, tcs, hT, xT, dgT, dgStep, dh, dc, hDrop, rT } = ws;

  // R transposed, for dh_{t−1} = Rᵀ·dg as contiguous dot products.
  for (let j = 0; j < G; j++) for (let k = 0; k < H; k++) rT[k * G + j] = p[L.r + j * H + k]!;
  for (let i = 0; i < I; i++) {
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) xT[i * N + t * B + b] = x[(b * T + t) * I + i]!;
  }
  cs.fill(0, 0, B * H);
  hs.fill(0, 0, B * H);
  for (let k = 0; k < H; k++) hT.fill(0, k * N, k * N + B); // h_{−1} = 0

  // Forward, keeping what the backward pass needs.
  for (let t = 0; t < T; t++) {
    // Gate pre-activations, two samples × four gate rows at a time: eight independent accumulators and six
    // loads per eight multiply-adds. Measured under Bun: 1.4 GMAC/s for a plain dot product, 3.1 for four
    // rows, more for 4×2 (see bench-train.ts for the end-to-end effect).
    let b = 0;
    for (; b + 1 < B; b += 2) {
      const n = t * B + b;
      const hp0 = n * H;
      const hp1 = hp0 + H;
      const ao0 = n * G;
      const ao1 = ao0 + G;
      const xo0 = (b * T + t) * I;
      const xo1 = xo0 + T * I;
      for (let j = 0; j < G; j += 4) {
        let a00 = p[L.b + j]!;
        let a01 = p[L.b + j + 1]!;
        let a02 = p[L.b + j + 2]!;
        let a03 = p[L.b + j + 3]!;
        let a10 = a00;
        let a11 = a01;
        let a12 = a02;
        let a13 = a03;
        for (let i = 0; i < I; i++) {
          const x0 = x[xo0 + i]!;
          const x1 = x[xo1 + i]!;
          const w0 = p[L.w + j * I + i]!;
          const w1 = p[L.w + (j + 1) * I + i]!;
          const w2 = p[L.w + (j + 2) * I + i]!;
          const w3 = p[L.w + (j + 3) * I + i]!;
          a00 += w0 * x0;
          a01 += w1 * x0;
          a02 += w2 * x0;
          a03 += w3 * x0;
          a10 += w0 * x1;
          a11 += w1 * x1;
          a12 += w2 * x1;
          a13 += w3 * x1;
        }
        const r0 = L.r + j * H;
        const r1 = r0 + H;
        const r2 = r1 + H;
        const r3 = r2 + H;
        for (let k = 0; k < H; k++) {
          const h0 = hs[hp0 + k]!;
          const h1 = hs[hp1 + k]!;
          const q0 = p[r0 + k]!;
          const q1 = p[r1 + k]!;
          const q2 = p[r2 + k]!;
          const q3 = p[r3 + k]!;
          a00 += q0 * h0;
          a01 += q1 * h0;
          a02 += q2 * h0;
          a03 += q3 * h0;
          a10 += q0 * h1;
          a11 += q1 * h1;
          a12 += q2 * h1;
          a13 += q3 * h1;
        }
        acts[ao0 + j] = a00;
        acts[ao0 + j + 1] = a01;
        acts[ao0 + j + 2] = a02;
        acts[ao0 + j + 3] = a03;
        acts[ao1 + j] = a10;
        acts[ao1 + j + 1] = a11;
        acts[ao1 + j + 2] = a12;
        acts[ao1 + j + 3] = a13;
      }
    }
    if (b < B) {
      const n = t * B + b;
      const hp = n * H;
      const ao = n * G;
      const xo = (b * T + t) * I;
      for (let j = 0; j < G; j += 4) {
        let a0 = p[L.b + j]!;
        let a1 = p[L.b + j + 1]!;
        let a2 = p[L.b + j + 2]!;
        let a3 = p[L.b + j + 3]!;
        for (let i = 0; i < I; i++) {
          const xi = x[xo + i]!;
          a0 += p[L.w + j * I + i]! * xi;
          a1 += p[L.w + (j + 1) * I + i]! * xi;
          a2 += p[L.w + (j + 2) * I + i]! * xi;
          a3 += p[L.w + (j + 3) * I + i]! * xi;
        }
        const r0 = L.r + j * H;
        for (let k = 0; k < H; k++) {
          const hk = hs[hp + k]!;
          a0 += p[r0 + k]! * hk;
          a1 += p[r0 + H + k]! * hk;
          a2 += p[r0 + 2 * H + k]! * hk;
          a3 += p[r0 + 3 * H + k]! * hk;
        }
        acts[ao + j] = a0;
        acts[ao + j + 1] = a1;
        acts[ao + j + 2] = a2;
        acts[ao + j + 3] = a3;
      }
    }
    for (b = 0; b < B; b++) {
      const n = t * B + b;
      const ao = n * G;
      const cp = n * H; // block t: c_{t−1}; also the row of tanh(c_t)
      const cn = (n + B) * H; // block t + 1
      for (let k = 0; k < H; k++) {
        const ig = sigmoid(acts[ao + k]!);
        const og = sigmoid(acts[ao + H + k]!);
        const fg = sigmoid(acts[ao + 2 * H + k]!);
        const cg = tanh(acts[ao + 3 * H + k]!);
        acts[ao + k] = ig;
        acts[ao + H + k] = og;
        acts[ao + 2 * H + k] = fg;
        acts[ao + 3 * H + k] = cg;
        const c = fg * cs[cp + k]! + ig * cg;
        const tc = tanh(c);
        const h = og * tc;
        cs[cn + k] = c;
        tcs[cp + k] = tc;
        hs[cn + k] = h;
        if (t + 1 < T) hT[k * N + n + B] = h;
      }
    }
  }

  // Dense head and loss.
  const hLast = T * B * H;
  for (let i = 0; i < B * H; i++) hDrop[i] = useMask ? hs[hLast + i]! * mask[i]! : hs[hLast + i]!;
  grad.fill(0);
  let loss = 0;
  const scale = 2 / (B * O);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) {
      let acc = p[L.denseBias + o]!;
      const dOff = L.dense + o * H;
      for (let k = 0; k < H; k++) acc += p[dOff + k]! * hDrop[b * H + k]!;
      yhat[b * O + o] = acc;
      const err = acc - y[b * O + o]!;
      loss += err * err;
      const dy = scale * err;
      grad[L.denseBias + o]! += dy;
      for (let k = 0; k < H; k++) grad[dOff + k]! += dy * hDrop[b * H + k]!;
    }
  }
  loss /= B * O;
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < H; k++) {
      let acc = 0;
      for (let o = 0; o < O; o++) {
        acc += scale * (yhat[b * O + o]! - y[b * O + o]!) * p[L.dense + o * H + k]!;
      }
      dh[b * H + k] = useMask ? acc * mask[b * H + k]! : acc;
    }
  }
  dc.fill(0, 0, B * H);

  // Backward through time.
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      const n = t * B + b;
      const ao = n * G;
      const so = n * H;
      const bo = b * H;
      const go = b * G;
      for (let k = 0; k < H; k++) {
        const ig = acts[ao + k]!;
        const og = acts[ao + H + k]!;
        const fg = acts[ao + 2 * H + k]!;
        const cg = acts[ao + 3 * H + k]!;
        const tc = tcs[so + k]!;
        const dhk = dh[bo + k]!;
        const dck = dc[bo + k]! + dhk * og * (1 - tc * tc);
        const dI = dck * cg * ig * (1 - ig);
        const dO = dhk * tc * og * (1 - og);
        const dF = dck * cs[so + k]! * fg * (1 - fg);
        const dC = dck * ig * (1 - cg * cg);
        dc[bo + k] = dck * fg;
        dgStep[go + k] = dI;
        dgStep[go + H + k] = dO;
        dgStep[go + 2 * H + k] = dF;
        dgStep[go + 3 * H + k] = dC;
        dgT[k * N + n] = dI;
        dgT[(H + k) * N + n] = dO;
        dgT[(2 * H + k) * N + n] = dF;
        dgT[(3 * H + k) * N + n] = dC;
      }
    }
    if (t > 0) backpropHidden(rT, dgStep, dh, B, H);
  }

  // Weight gradients as dot products over all (step, sample) pairs: dR = dGᵀ·H_prev, dW = dGᵀ·X, db = Σ dG.
  // Columns n < B are step 0, where h_{−1} = 0, so dR sums from n = B.
  for (let j = 0; j < G; j += 4) {
    const g0 = j * N;
    const g1 = g0 + N;
    const g2 = g1 + N;
    const g3 = g2 + N;
    let k = 0;
    for (; k + 1 < H; k += 2) {
      const h0 = k * N;
      const h1 = h0 + N;
      let a00 = 0;
      let a01 = 0;
      let a02 = 0;
      let a03 = 0;
      let a10 = 0;
      let a11 = 0;
      let a12 = 0;
      let a13 = 0;
      for (let n = B; n < N; n++) {
        const v0 = hT[h0 + n]!;
        const v1 = hT[h1 + n]!;
        const d0 = dgT[g0 + n]!;
        const d1 = dgT[g1 + n]!;
        const d2 = dgT[g2 + n]!;
        const d3 = dgT[g3 + n]!;
        a00 += d0 * v0;
        a01 += d1 * v0;
        a02 += d2 * v0;
        a03 += d3 * v0;
        a10 += d0 * v1;
        a11 += d1 * v1;
        a12 += d2 * v1;
        a13 += d3 * v1;
      }
      const r = L.r + j * H + k;
      grad[r] = a00;
      grad[r + H] = a01;
      grad[r + 2 * H] = a02;
      grad[r + 3 * H] = a03;
      grad[r + 1] = a10;
      grad[r + H + 1] = a11;
      grad[r + 2 * H + 1] = a12;
      grad[r + 3 * H + 1] = a13;
    }
    if (k < H) {
      const h0 = k * N;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let n = B; n < N; n++) {
        const v = hT[h0 + n]!;
        a0 += dgT[g0 + n]! * v;
        a1 += dgT[g1 + n]! * v;
        a2 += dgT[g2 + n]! * v;
        a3 += dgT[g3 + n]! * v;
      }
      const r = L.r + j * H + k;
      grad[r] = a0;
      grad[r + H] = a1;
      grad[r + 2 * H] = a2;
      grad[r + 3 * H] = a3;
    }
    for (let i = 0; i < I; i++) {
      const xo = i * N;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let n = 0; n < N; n++) {
        const xv = xT[xo + n]!;
        a0 += dgT[g0 + n]! * xv;
        a1 += dgT[g1 + n]! * xv;
        a2 += dgT[g2 + n]! * xv;
        a3 += dgT[g3 + n]! * xv;
      }
      grad[L.w + j * I + i] = a0;
      grad[L.w + (j + 1) * I + i] = a1;
      grad[L.w + (j + 2) * I + i] = a2;
      grad[L.w + (j + 3) * I + i] = a3;
    }
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let n = 0; n < N; n++) {
      s0 += dgT[g0 + n]!;
      s1 += dgT[g1 + n]!;
      s2 += dgT[g2 + n]!;
      s3 += dgT[g3 + n]!;
    }
    grad[L.b + j] = s0;
    grad[L.b + j + 1] = s1;
    grad[L.b + j + 2] = s2;
    grad[L.b + j + 3] = s3;
  }
  return loss;
}

/** dh_{t−1}[b] = Rᵀ dg[b] for every sample, two samples × four hidden units at a time (as in the forward). */
function backpropHidden(rT: Float64Array, dg: Float64Array, dh: Float64Array, B: number, H: number): void {
  const G = 4 * H;
  let b = 0;
  for (; b + 1 < B; b += 2) {
    const g0 = b * G;
    const g1 = g0 + G;
    const o0 = b * H;
    const o1 = o0 + H;
    let k = 0;
    for (; k + 3 < H; k += 4) {
      const q0 = k * G;
      const q1 = q0 + G;
      const q2 = q1 + G;
      const q3 = q2 + G;
      let a00 = 0;
      let a01 = 0;
      let a02 = 0;
      let a03 = 0;
      let a10 = 0;
      let a11 = 0;
      let a12 = 0;
      let a13 = 0;
      for (let j = 0; j < G; j++) {
        const d0 = dg[g0 + j]!;
        const d1 = dg[g1 + j]!;
        const r0 = rT[q0 + j]!;
        const r1 = rT[q1 + j]!;
        const r2 = rT[q2 + j]!;
        const r3 = rT[q3 + j]!;
        a00 += r0 * d0;
        a01 += r1 * d0;
        a02 += r2 * d0;
        a03 += r3 * d0;
        a10 += r0 * d1;
        a11 += r1 * d1;
        a12 += r2 * d1;
        a13 += r3 * d1;
      }
      dh[o0 + k] = a00;
      dh[o0 + k + 1] = a01;
      dh[o0 + k + 2] = a02;
      dh[o0 + k + 3] = a03;
      dh[o1 + k] = a10;
      dh[o1 + k + 1] = a11;
      dh[o1 + k + 2] = a12;
      dh[o1 + k + 3] = a13;
    }
    for (; k < H; k++) {
      const q = k * G;
      let a0 = 0;
      let a1 = 0;
      for (let j = 0; j < G; j++) {
        const r = rT[q + j]!;
        a0 += r * dg[g0 + j]!;
        a1 += r * dg[g1 + j]!;
      }
      dh[o0 + k] = a0;
      dh[o1 + k] = a1;
    }
  }
  if (b < B) {
    const g0 = b * G;
    const o0 = b * H;
    for (let k = 0; k < H; k++) {
      const q = k * G;
      let a0 = 0;
      let a1 = 0;
      for (let j = 0; j < G; j += 2) {
        a0 += rT[q + j]! * dg[g0 + j]!;
        a1 += rT[q + j + 1]! * dg[g0 + j + 1]!;
      }
      dh[o0 + k] = a0 + a1;
    }
  }
}
