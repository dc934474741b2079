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
 * gradient are flat vectors. Float64 throughout training: the gradient check needs it, and Float32Array
 * storage made the recurrent matmul only 7 % faster in JavaScript (JavaScriptCore computes in double).
 *
 * Speed: plain JavaScript, blocked for JavaScriptCore's JIT (see addMatVec); bench/ml.ts measures it.
 * A WebAssembly SIMD version of the matrix products was bit-identical and trained 1.7× faster, and was
 * dropped: training runs in a Worker, a scheduled retrain of one scope takes ~5 s of CPU against a period
 * of minutes, and the policy serves persistence wherever the LSTM does not beat it.
 */
import { PipelineError } from "@energy/contracts/errors.ts";
import { sfc32 } from "@energy/platform/random.ts";

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
  const rng = sfc32(seed);
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
// far below float32 resolution, and the backward pass differentiates the value actually computed. (An inlined
// table-driven exp, 6e-16 relative error, was tried and measured no faster end to end than Math.exp.)
const tanh = (x: number): number => 1 - 2 / (1 + Math.exp(2 * x));

/**
 * Step t's gate activations (in place in `acts`) and c_t, tanh(c_t), h_t: five Math.exp per unit at ≈7 ns.
 */
function forwardGates(
  acts: Float64Array,
  cs: Float64Array,
  hs: Float64Array,
  tcs: Float64Array,
  t: number,
  B: number,
  H: number,
): void {
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
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
      cs[cn + k] = c;
      tcs[cp + k] = tc;
      hs[cn + k] = og * tc;
    }
  }
}

/** pre[b, j] = bias_j + Σ_i W[j, i] · x[b, t, i] for the `batch` rows of step `t` (the input projection). */
function inputProjection(
  p: Float64Array,
  L: ParamLayout,
  I: number,
  G: number,
  x: ArrayLike<number>,
  steps: number,
  t: number,
  batch: number,
  pre: Float64Array,
  preOff: number,
): void {
  for (let b = 0; b < batch; b++) {
    const xo = (b * steps + t) * I;
    const ao = preOff + b * G;
    if (I === 1) {
      const xv = x[xo]!;
      for (let j = 0; j < G; j++) pre[ao + j] = p[L.b + j]! + p[L.w + j]! * xv;
    } else {
      for (let j = 0; j < G; j++) {
        let acc = p[L.b + j]!;
        for (let i = 0; i < I; i++) acc += p[L.w + j * I + i]! * x[xo + i]!;
        pre[ao + j] = acc;
      }
    }
  }
}

/**
 * out[b, i] += Σ_k M[i, k] · v[b, k] for `batch` vectors v[b] of length `n` (M row-major [rows, n] from
 * `mOff`; out [batch, rows] from `outOff`, v [batch, n] from `vOff`): the forward's recurrent product
 * (R · h) and the backward's Rᵀ · dg, all but a few percent of a training step's multiply-adds.
 *
 * Two samples × four rows at a time: eight independent accumulators and six loads per eight multiply-adds.
 * Measured under Bun (JavaScriptCore's JIT emits no SIMD): 1.4 GMAC/s for a plain dot product, 3.1 for
 * four rows, 3.5 for 2×4; 3×4 (twelve accumulators) was 5 % slower end to end, and Float32Array storage
 * only 7 % faster while breaking the float64 gradient check. Every output sums in k order onto its own
 * value, so the blocking does not change a bit of the result.
 */
function addMatVec(
  m: Float64Array,
  mOff: number,
  rows: number,
  n: number,
  v: Float64Array,
  vOff: number,
  batch: number,
  out: Float64Array,
  outOff: number,
): void {
  let b = 0;
  for (; b + 1 < batch; b += 2) {
    const v0 = vOff + b * n;
    const v1 = v0 + n;
    const o0 = outOff + b * rows;
    const o1 = o0 + rows;
    let i = 0;
    for (; i + 3 < rows; i += 4) {
      let a00 = out[o0 + i]!;
      let a01 = out[o0 + i + 1]!;
      let a02 = out[o0 + i + 2]!;
      let a03 = out[o0 + i + 3]!;
      let a10 = out[o1 + i]!;
      let a11 = out[o1 + i + 1]!;
      let a12 = out[o1 + i + 2]!;
      let a13 = out[o1 + i + 3]!;
      const r0 = mOff + i * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let k = 0; k < n; k++) {
        const x0 = v[v0 + k]!;
        const x1 = v[v1 + k]!;
        const q0 = m[r0 + k]!;
        const q1 = m[r1 + k]!;
        const q2 = m[r2 + k]!;
        const q3 = m[r3 + k]!;
        a00 += q0 * x0;
        a01 += q1 * x0;
        a02 += q2 * x0;
        a03 += q3 * x0;
        a10 += q0 * x1;
        a11 += q1 * x1;
        a12 += q2 * x1;
        a13 += q3 * x1;
      }
      out[o0 + i] = a00;
      out[o0 + i + 1] = a01;
      out[o0 + i + 2] = a02;
      out[o0 + i + 3] = a03;
      out[o1 + i] = a10;
      out[o1 + i + 1] = a11;
      out[o1 + i + 2] = a12;
      out[o1 + i + 3] = a13;
    }
    for (; i < rows; i++) {
      const r = mOff + i * n;
      let a0 = out[o0 + i]!;
      let a1 = out[o1 + i]!;
      for (let k = 0; k < n; k++) {
        const q = m[r + k]!;
        a0 += q * v[v0 + k]!;
        a1 += q * v[v1 + k]!;
      }
      out[o0 + i] = a0;
      out[o1 + i] = a1;
    }
  }
  if (b < batch) {
    const v0 = vOff + b * n;
    const o0 = outOff + b * rows;
    for (let i = 0; i < rows; i++) {
      const r = mOff + i * n;
      let a = out[o0 + i]!;
      for (let k = 0; k < n; k++) a += m[r + k]! * v[v0 + k]!;
      out[o0 + i] = a;
    }
  }
}

/**
 * Inference forward pass (no dropout) for `batch` sequences of `steps` time steps.
 * `input` is [batch, steps, inputSize] row-major (the ONNX `input` layout); returns [batch, outputs].
 * The whole batch advances one step at a time so the recurrent matmul runs blocked across samples.
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
  const h = new Float64Array(batch * H);
  const c = new Float64Array(batch * H);
  const pre = new Float64Array(batch * G);
  for (let t = 0; t < steps; t++) {
    inputProjection(p, L, I, G, input, steps, t, batch, pre, 0);
    if (t > 0) addMatVec(p, L.r, G, H, h, 0, batch, pre, 0);
    for (let b = 0; b < batch; b++) {
      const ao = b * G;
      const so = b * H;
      for (let k = 0; k < H; k++) {
        const ig = sigmoid(pre[ao + k]!);
        const og = sigmoid(pre[ao + H + k]!);
        const fg = sigmoid(pre[ao + 2 * H + k]!);
        const cg = tanh(pre[ao + 3 * H + k]!);
        const cn = fg * c[so + k]! + ig * cg;
        c[so + k] = cn;
        h[so + k] = og * tanh(cn);
      }
    }
  }
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < O; o++) {
      let acc = p[L.denseBias + o]!;
      for (let k = 0; k < H; k++) acc += p[L.dense + o * H + k]! * h[b * H + k]!;
      out[b * O + o] = acc;
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
  readonly hs: Float64Array; // [(T+1)·B, H] hidden states, row block 0 = zeros
  readonly tcs: Float64Array; // [T·B, H] tanh(c)
  readonly dgs: Float64Array; // [4H, B] gate pre-activation gradients of one step, gate-major
  readonly dgsT: Float64Array; // [B, 4H] the same, sample-major (for Rᵀ·dg)
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
    this.dgs = new Float64Array(G * maxBatch);
    this.dgsT = new Float64Array(maxBatch * G);
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
 * Loss = Σ (ŷ − y)² / (batch · outputs), Keras' `mse` averaged over the batch; with `objective` `mae`,
 * Σ |ŷ − y| / (batch · outputs): its minimiser is the conditional median, which is what MAE scores (for a
 * load that jumps up now and then, the MSE-optimal mean drifts toward jumps that mostly do not come).
 */
export function lossAndGradient(
  model: LstmModel,
  ws: TrainingWorkspace,
  batch: number,
  grad: Float64Array,
  useMask: boolean,
  objective: "mse" | "mae" = "mse",
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
  const L = paramLayout(model.config);
  const p = model.params;
  const { x, y, mask, yhat, acts, cs, hs, tcs, dgs, dgsT, dh, dc, hDrop, rT } = ws;

  // R transposed, for dh_{t−1} = Rᵀ·dg as contiguous rows.
  for (let j = 0; j < G; j++) for (let k = 0; k < H; k++) rT[k * G + j] = p[L.r + j * H + k]!;
  cs.fill(0, 0, B * H);
  hs.fill(0, 0, B * H);

  // Forward, keeping what the backward pass needs.
  for (let t = 0; t < T; t++) {
    const pre = t * B * G;
    inputProjection(p, L, I, G, x, T, t, B, acts, pre);
    if (t > 0) addMatVec(p, L.r, G, H, hs, t * B * H, B, acts, pre);
    forwardGates(acts, cs, hs, tcs, t, B, H);
  }

  // Dense head and loss.
  const hLast = T * B * H;
  for (let i = 0; i < B * H; i++) hDrop[i] = useMask ? hs[hLast + i]! * mask[i]! : hs[hLast + i]!;
  grad.fill(0);
  let loss = 0;
  const l1 = objective === "mae";
  const scale = (l1 ? 1 : 2) / (B * O);
  // d loss / d ŷ per output without the scale: err (MSE) or sign(err) (MAE).
  const slope = (err: number) => (l1 ? (err > 0 ? 1 : err < 0 ? -1 : 0) : err);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) {
      let acc = p[L.denseBias + o]!;
      const dOff = L.dense + o * H;
      for (let k = 0; k < H; k++) acc += p[dOff + k]! * hDrop[b * H + k]!;
      yhat[b * O + o] = acc;
      const err = acc - y[b * O + o]!;
      loss += l1 ? Math.abs(err) : err * err;
      const dy = scale * slope(err);
      grad[L.denseBias + o]! += dy;
      for (let k = 0; k < H; k++) grad[dOff + k]! += dy * hDrop[b * H + k]!;
    }
  }
  loss /= B * O;
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < H; k++) {
      let acc = 0;
      for (let o = 0; o < O; o++) {
        acc += scale * slope(yhat[b * O + o]! - y[b * O + o]!) * p[L.dense + o * H + k]!;
      }
      dh[b * H + k] = useMask ? acc * mask[b * H + k]! : acc;
    }
  }
  dc.fill(0, 0, B * H);

  // Backward through time. Each step's weight gradients are accumulated while its gate gradients (one
  // [4H, B] block, 25 KB, and its sample-major copy for Rᵀ·dg) are still in L1, instead of keeping all of them ([4H, T·B], 1.5 MB, plus a
  // transposed copy of h) for one pass at the end: 3 MB less per workspace and a few percent faster.
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      const n = t * B + b;
      const ao = n * G;
      const so = n * H;
      const bo = b * H;
      const bg = b * G;
      for (let k = 0; k < H; k++) {
        const ig = acts[ao + k]!;
        const og = acts[ao + H + k]!;
        const fg = acts[ao + 2 * H + k]!;
        const cg = acts[ao + 3 * H + k]!;
        const tc = tcs[so + k]!;
        const dhk = dh[bo + k]!;
        const dck = dc[bo + k]! + dhk * og * (1 - tc * tc);
        dc[bo + k] = dck * fg;
        const dIn = dck * cg * ig * (1 - ig);
        const dOut = dhk * tc * og * (1 - og);
        const dForget = dck * cs[so + k]! * fg * (1 - fg);
        const dCell = dck * ig * (1 - cg * cg);
        dgs[k * B + b] = dIn;
        dgs[(H + k) * B + b] = dOut;
        dgs[(2 * H + k) * B + b] = dForget;
        dgs[(3 * H + k) * B + b] = dCell;
        dgsT[bg + k] = dIn;
        dgsT[bg + H + k] = dOut;
        dgsT[bg + 2 * H + k] = dForget;
        dgsT[bg + 3 * H + k] = dCell;
      }
    }
    accumulateWeightGradients(grad, L, I, H, dgs, B, hs, t * B * H, x, T, t);
    if (t > 0) {
      // dh_{t−1}[b] = Rᵀ dg[b]
      dh.fill(0, 0, B * H);
      addMatVec(rT, 0, H, G, dgsT, 0, B, dh, 0);
    }
  }
  return loss;
}

/**
 * One step's share of the weight gradients: dR += dGᵀ·h_{t−1}, dW += dGᵀ·x_t, db += Σ_b dG, with dG the
 * [4H, B] gate gradients in `dg` and h_{t−1} the rows of `hs` from `hOff` (zero at t = 0, so dR is skipped).
 * Its 2×4 blocks are addMatVec's, but each sums from zero and then adds to `grad` (not onto it), and that
 * order is what the seeded models are pinned to.
 */
function accumulateWeightGradients(
  grad: Float64Array,
  L: ParamLayout,
  I: number,
  H: number,
  dg: Float64Array,
  B: number,
  hs: Float64Array,
  hOff: number,
  x: Float64Array,
  T: number,
  t: number,
): void {
  const G = 4 * H;
  for (let j = 0; j < G; j += 4) {
    const g0 = j * B;
    const g1 = g0 + B;
    const g2 = g1 + B;
    const g3 = g2 + B;
    if (t > 0) {
      let k = 0;
      // addMatVec's 2×4 register block again, deliberately: this one sums over the batch of gate gradients, not
      // along a matrix row, so the two share the blocking but not the indexing.
      for (; k + 1 < H; k += 2) {
        let a00 = 0;
        let a01 = 0;
        let a02 = 0;
        let a03 = 0;
        let a10 = 0;
        let a11 = 0;
        let a12 = 0;
        let a13 = 0;
        for (let b = 0; b < B; b++) {
          const ho = hOff + b * H + k;
          const v0 = hs[ho]!;
          const v1 = hs[ho + 1]!;
          const d0 = dg[g0 + b]!;
          const d1 = dg[g1 + b]!;
          const d2 = dg[g2 + b]!;
          const d3 = dg[g3 + b]!;
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
        grad[r]! += a00;
        grad[r + H]! += a01;
        grad[r + 2 * H]! += a02;
        grad[r + 3 * H]! += a03;
        grad[r + 1]! += a10;
        grad[r + H + 1]! += a11;
        grad[r + 2 * H + 1]! += a12;
        grad[r + 3 * H + 1]! += a13;
      }
      if (k < H) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let b = 0; b < B; b++) {
          const v = hs[hOff + b * H + k]!;
          a0 += dg[g0 + b]! * v;
          a1 += dg[g1 + b]! * v;
          a2 += dg[g2 + b]! * v;
          a3 += dg[g3 + b]! * v;
        }
        const r = L.r + j * H + k;
        grad[r]! += a0;
        grad[r + H]! += a1;
        grad[r + 2 * H]! += a2;
        grad[r + 3 * H]! += a3;
      }
    }
    for (let i = 0; i < I; i++) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let b = 0; b < B; b++) {
        const xv = x[(b * T + t) * I + i]!;
        a0 += dg[g0 + b]! * xv;
        a1 += dg[g1 + b]! * xv;
        a2 += dg[g2 + b]! * xv;
        a3 += dg[g3 + b]! * xv;
      }
      grad[L.w + j * I + i]! += a0;
      grad[L.w + (j + 1) * I + i]! += a1;
      grad[L.w + (j + 2) * I + i]! += a2;
      grad[L.w + (j + 3) * I + i]! += a3;
    }
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let b = 0; b < B; b++) {
      s0 += dg[g0 + b]!;
      s1 += dg[g1 + b]!;
      s2 += dg[g2 + b]!;
      s3 += dg[g3 + b]!;
    }
    grad[L.b + j]! += s0;
    grad[L.b + j + 1]! += s1;
    grad[L.b + j + 2]! += s2;
    grad[L.b + j + 3]! += s3;
  }
}
