/**
 * WebAssembly kernels for lstm.ts's training pass: the three matrix products (f64x2 SIMD), the rest of the
 * weight gradients, and the backward step through the cell.
 *
 * Why: the matrix products were two thirds of a training step, and under Bun they ran as scalar JavaScript
 * at ≈3.5 GMAC/s, bound by the bounds check and index arithmetic of every typed-array load. Here two samples,
 * units or gate rows share one f64x2 register and loads are unchecked: 8–10 GMAC/s measured for the same
 * shapes (B 32, H 25). Each output element is still summed in the same order as the JavaScript kernels, with
 * separate multiply and add (WebAssembly SIMD has no fused multiply-add), so both paths give bit-identical
 * results (tested): which one runs never changes a trained model.
 *
 * All pointers are byte offsets into the instance's memory; matrices are row-major float64.
 */
import { assembleModule, type WasmFunction } from "./wasm.ts";

/** dst = mem[base + idx + off .. +16) as one vector. */
const load = (dst: string, base: string, idx: string, off: number) => `
local.get ${base}
local.get ${idx}
i32.add
v128.load offset=${off}
local.set ${dst}`;

/** mem[base + idx + off .. +16) = vector. */
const storeVector = (vector: string, base: string, idx: string, off: number) => `
local.get ${base}
local.get ${idx}
i32.add
local.get ${vector}
v128.store offset=${off}`;

/** dst = splat(mem[base + idx]). */
const splat = (dst: string, base: string, idx: string) => `
local.get ${base}
local.get ${idx}
i32.add
v128.load64_splat
local.set ${dst}`;

/** acc += a · b (vectors; separate multiply and add, as in JavaScript). */
const mulAdd = (acc: string, a: string, b: string) => `
local.get ${acc}
local.get ${a}
local.get ${b}
f64x2.mul
f64x2.add
local.set ${acc}`;

/** acc += splat(mem[base + idx]) · vector */
const splatMulAdd = (acc: string, base: string, idx: string, vector: string) => `
local.get ${acc}
local.get ${base}
local.get ${idx}
i32.add
v128.load64_splat
local.get ${vector}
f64x2.mul
f64x2.add
local.set ${acc}`;

/** mem[pa + idx + off] = acc[0]; mem[pb + idx + off] = acc[1] */
const storePair = (acc: string, pa: string, pb: string, idx: string, off: number) => `
local.get ${pa}
local.get ${idx}
i32.add
local.get ${acc}
f64x2.extract_lane 0
f64.store offset=${off}
local.get ${pb}
local.get ${idx}
i32.add
local.get ${acc}
f64x2.extract_lane 1
f64.store offset=${off}`;

/** a = b + c (i32 locals) */
const add = (a: string, b: string, c: string) => `
local.get ${b}
local.get ${c}
i32.add
local.set ${a}`;

/**
 * pre[b, j] += Σ_k Rᵀ[k, j] · h[b, k] for samples b, b+1 and gate rows j..j+7, then j..j+3 (four or two
 * vectors of adjacent rows per sample; Rᵀ's rows make them one load each); only the even part of the batch (the caller does
 * an odd last sample). Each element is summed over k in order from its input projection, like addRecurrent.
 */
const addRecurrent: WasmFunction = {
  name: "addRecurrent",
  params: ["rT", "H", "h", "B", "pre"],
  locals: {
    b: "i32",
    j8: "i32",
    k8: "i32",
    H8: "i32",
    G8: "i32",
    hp0: "i32",
    hp1: "i32",
    ap0: "i32",
    ap1: "i32",
    rp: "i32",
    a0: "v128",
    a1: "v128",
    a2: "v128",
    a3: "v128",
    c0: "v128",
    c1: "v128",
    c2: "v128",
    c3: "v128",
    h0: "v128",
    h1: "v128",
    r0: "v128",
    r1: "v128",
    r2: "v128",
    r3: "v128",
  },
  body: `
local.get H
i32.const 3
i32.shl
local.tee H8
i32.const 2
i32.shl
local.set G8
block
loop
  local.get b
  i32.const 1
  i32.add
  local.get B
  i32.ge_s
  br_if 1
  local.get h
  local.get b
  local.get H8
  i32.mul
  i32.add
  local.tee hp0
  local.get H8
  i32.add
  local.set hp1
  local.get pre
  local.get b
  local.get G8
  i32.mul
  i32.add
  local.tee ap0
  local.get G8
  i32.add
  local.set ap1
  i32.const 0
  local.set j8
  ;; eight gate rows (four vectors) per sample while they last, then four
  block
  loop
    local.get j8
    i32.const 56
    i32.add
    local.get G8
    i32.ge_s
    br_if 1
    ${load("a0", "ap0", "j8", 0)}
    ${load("a1", "ap0", "j8", 16)}
    ${load("a2", "ap0", "j8", 32)}
    ${load("a3", "ap0", "j8", 48)}
    ${load("c0", "ap1", "j8", 0)}
    ${load("c1", "ap1", "j8", 16)}
    ${load("c2", "ap1", "j8", 32)}
    ${load("c3", "ap1", "j8", 48)}
    ${add("rp", "rT", "j8")}
    i32.const 0
    local.set k8
    loop
      ${splat("h0", "hp0", "k8")}
      ${splat("h1", "hp1", "k8")}
      local.get rp
      v128.load offset=0
      local.set r0
      local.get rp
      v128.load offset=16
      local.set r1
      local.get rp
      v128.load offset=32
      local.set r2
      local.get rp
      v128.load offset=48
      local.set r3
      ${mulAdd("a0", "r0", "h0")}
      ${mulAdd("a1", "r1", "h0")}
      ${mulAdd("a2", "r2", "h0")}
      ${mulAdd("a3", "r3", "h0")}
      ${mulAdd("c0", "r0", "h1")}
      ${mulAdd("c1", "r1", "h1")}
      ${mulAdd("c2", "r2", "h1")}
      ${mulAdd("c3", "r3", "h1")}
      ${add("rp", "rp", "G8")}
      local.get k8
      i32.const 8
      i32.add
      local.tee k8
      local.get H8
      i32.lt_s
      br_if 0
    end
    ${storeVector("a0", "ap0", "j8", 0)}
    ${storeVector("a1", "ap0", "j8", 16)}
    ${storeVector("a2", "ap0", "j8", 32)}
    ${storeVector("a3", "ap0", "j8", 48)}
    ${storeVector("c0", "ap1", "j8", 0)}
    ${storeVector("c1", "ap1", "j8", 16)}
    ${storeVector("c2", "ap1", "j8", 32)}
    ${storeVector("c3", "ap1", "j8", 48)}
    local.get j8
    i32.const 64
    i32.add
    local.set j8
    br 0
  end
  end
  block
  loop
    local.get j8
    local.get G8
    i32.ge_s
    br_if 1
    ${load("a0", "ap0", "j8", 0)}
    ${load("a1", "ap0", "j8", 16)}
    ${load("c0", "ap1", "j8", 0)}
    ${load("c1", "ap1", "j8", 16)}
    ${add("rp", "rT", "j8")}
    i32.const 0
    local.set k8
    loop
      ${splat("h0", "hp0", "k8")}
      ${splat("h1", "hp1", "k8")}
      local.get rp
      v128.load offset=0
      local.set r0
      local.get rp
      v128.load offset=16
      local.set r1
      ${mulAdd("a0", "r0", "h0")}
      ${mulAdd("a1", "r1", "h0")}
      ${mulAdd("c0", "r0", "h1")}
      ${mulAdd("c1", "r1", "h1")}
      ${add("rp", "rp", "G8")}
      local.get k8
      i32.const 8
      i32.add
      local.tee k8
      local.get H8
      i32.lt_s
      br_if 0
    end
    ${storeVector("a0", "ap0", "j8", 0)}
    ${storeVector("a1", "ap0", "j8", 16)}
    ${storeVector("c0", "ap1", "j8", 0)}
    ${storeVector("c1", "ap1", "j8", 16)}
    local.get j8
    i32.const 32
    i32.add
    local.set j8
    br 0
  end
  end
  local.get b
  i32.const 2
  i32.add
  local.set b
  br 0
end
end`,
};

/**
 * dh[b, k] = Σ_j R[j, k] · dg[j, b] with dg gate-major [4H, B], for samples b, b+1: eight units at a time
 * (four vectors of adjacent units from R's rows, each times a sample's splatted gradient), then the
 * remaining units one by one with the two samples in the lanes (Rᵀ splatted); even part of the batch only.
 * Each element summed over j in order, as backpropHidden does.
 */
const backpropHidden: WasmFunction = {
  name: "backpropHidden",
  params: ["rT", "H", "dg", "B", "dh", "R"],
  locals: {
    b: "i32",
    k: "i32",
    ko: "i32",
    kq: "i32",
    j8: "i32",
    dp: "i32",
    dgb: "i32",
    H8: "i32",
    G8: "i32",
    B8: "i32",
    o0: "i32",
    o1: "i32",
    rp: "i32",
    a0: "v128",
    u0: "v128",
    u1: "v128",
    u2: "v128",
    u3: "v128",
    w0: "v128",
    w1: "v128",
    w2: "v128",
    w3: "v128",
    r0: "v128",
    r1: "v128",
    r2: "v128",
    r3: "v128",
    s0: "v128",
    s1: "v128",
    dv: "v128",
    zero: "v128",
  },
  body: `
local.get H
i32.const 3
i32.shl
local.tee H8
i32.const 2
i32.shl
local.set G8
local.get B
i32.const 3
i32.shl
local.set B8
block
loop
  local.get b
  i32.const 1
  i32.add
  local.get B
  i32.ge_s
  br_if 1
  local.get dh
  local.get b
  local.get H8
  i32.mul
  i32.add
  local.tee o0
  local.get H8
  i32.add
  local.set o1
  local.get dg
  local.get b
  i32.const 3
  i32.shl
  i32.add
  local.set dgb
  i32.const 0
  local.set k
  local.get rT
  local.set kq
  block
  loop
    local.get k
    i32.const 7
    i32.add
    local.get H
    i32.ge_s
    br_if 1
    local.get k
    i32.const 3
    i32.shl
    local.set ko
    ${add("rp", "R", "ko")}
    local.get zero
    local.set u0
    local.get zero
    local.set u1
    local.get zero
    local.set u2
    local.get zero
    local.set u3
    local.get zero
    local.set w0
    local.get zero
    local.set w1
    local.get zero
    local.set w2
    local.get zero
    local.set w3
    local.get dgb
    local.set dp
    i32.const 0
    local.set j8
    loop
      local.get rp
      v128.load offset=0
      local.set r0
      local.get rp
      v128.load offset=16
      local.set r1
      local.get rp
      v128.load offset=32
      local.set r2
      local.get rp
      v128.load offset=48
      local.set r3
      local.get dp
      v128.load64_splat offset=0
      local.set s0
      local.get dp
      v128.load64_splat offset=8
      local.set s1
      ${mulAdd("u0", "r0", "s0")}
      ${mulAdd("u1", "r1", "s0")}
      ${mulAdd("u2", "r2", "s0")}
      ${mulAdd("u3", "r3", "s0")}
      ${mulAdd("w0", "r0", "s1")}
      ${mulAdd("w1", "r1", "s1")}
      ${mulAdd("w2", "r2", "s1")}
      ${mulAdd("w3", "r3", "s1")}
      ${add("dp", "dp", "B8")}
      ${add("rp", "rp", "H8")}
      local.get j8
      i32.const 8
      i32.add
      local.tee j8
      local.get G8
      i32.lt_s
      br_if 0
    end
    ${storeVector("u0", "o0", "ko", 0)}
    ${storeVector("u1", "o0", "ko", 16)}
    ${storeVector("u2", "o0", "ko", 32)}
    ${storeVector("u3", "o0", "ko", 48)}
    ${storeVector("w0", "o1", "ko", 0)}
    ${storeVector("w1", "o1", "ko", 16)}
    ${storeVector("w2", "o1", "ko", 32)}
    ${storeVector("w3", "o1", "ko", 48)}
    local.get kq
    local.get G8
    i32.const 3
    i32.shl
    i32.add
    local.set kq
    local.get k
    i32.const 8
    i32.add
    local.set k
    br 0
  end
  end
  block
  loop
    local.get k
    local.get H
    i32.ge_s
    br_if 1
    local.get zero
    local.set a0
    local.get dgb
    local.set dp
    i32.const 0
    local.set j8
    loop
      local.get dp
      v128.load offset=0
      local.set dv
      ${splatMulAdd("a0", "kq", "j8", "dv")}
      ${add("dp", "dp", "B8")}
      local.get j8
      i32.const 8
      i32.add
      local.tee j8
      local.get G8
      i32.lt_s
      br_if 0
    end
    local.get k
    i32.const 3
    i32.shl
    local.set ko
    ${storePair("a0", "o0", "o1", "ko", 0)}
    ${add("kq", "kq", "G8")}
    local.get k
    i32.const 1
    i32.add
    local.set k
    br 0
  end
  end
  local.get b
  i32.const 2
  i32.add
  local.set b
  br 0
end
end`,
};

/**
 * gradR[j, k] += Σ_b dg[j, b] · h[b, k] for units k, k+1 in the lanes (adjacent in h's rows), four gate
 * rows × four units (two vectors) at a time, then a pair; only the even part of the units (the caller does an odd last unit, dW and db). Each
 * element summed over b in order from zero, then added to the gradient, as accumulateWeightGradients does.
 */
const weightGradientR: WasmFunction = {
  name: "weightGradientR",
  params: ["gR", "H", "dg", "B", "hs"],
  locals: {
    j: "i32",
    k8: "i32",
    b8: "i32",
    hp: "i32",
    H8: "i32",
    B8: "i32",
    G: "i32",
    row: "i32",
    p: "i32",
    g0: "i32",
    g1: "i32",
    g2: "i32",
    g3: "i32",
    a0: "v128",
    a1: "v128",
    a2: "v128",
    a3: "v128",
    c0: "v128",
    c1: "v128",
    c2: "v128",
    c3: "v128",
    hv: "v128",
    hw: "v128",
    dv: "v128",
    zero: "v128",
  },
  body: `
local.get H
i32.const 3
i32.shl
local.set H8
local.get B
i32.const 3
i32.shl
local.set B8
local.get H
i32.const 2
i32.shl
local.set G
local.get gR
local.set row
local.get dg
local.set g0
loop
  ${add("g1", "g0", "B8")}
  ${add("g2", "g1", "B8")}
  ${add("g3", "g2", "B8")}
  i32.const 0
  local.set k8
  ;; four units (two vectors) at a time while they last
  block
  loop
    local.get k8
    i32.const 24
    i32.add
    local.get H8
    i32.ge_s
    br_if 1
    local.get zero
    local.set a0
    local.get zero
    local.set a1
    local.get zero
    local.set a2
    local.get zero
    local.set a3
    local.get zero
    local.set c0
    local.get zero
    local.set c1
    local.get zero
    local.set c2
    local.get zero
    local.set c3
    ${add("hp", "hs", "k8")}
    i32.const 0
    local.set b8
    loop
      local.get hp
      v128.load offset=0
      local.set hv
      local.get hp
      v128.load offset=16
      local.set hw
      local.get g0
      local.get b8
      i32.add
      v128.load64_splat
      local.set dv
      local.get a0
      local.get dv
      local.get hv
      f64x2.mul
      f64x2.add
      local.set a0
      local.get c0
      local.get dv
      local.get hw
      f64x2.mul
      f64x2.add
      local.set c0
      local.get g1
      local.get b8
      i32.add
      v128.load64_splat
      local.set dv
      local.get a1
      local.get dv
      local.get hv
      f64x2.mul
      f64x2.add
      local.set a1
      local.get c1
      local.get dv
      local.get hw
      f64x2.mul
      f64x2.add
      local.set c1
      local.get g2
      local.get b8
      i32.add
      v128.load64_splat
      local.set dv
      local.get a2
      local.get dv
      local.get hv
      f64x2.mul
      f64x2.add
      local.set a2
      local.get c2
      local.get dv
      local.get hw
      f64x2.mul
      f64x2.add
      local.set c2
      local.get g3
      local.get b8
      i32.add
      v128.load64_splat
      local.set dv
      local.get a3
      local.get dv
      local.get hv
      f64x2.mul
      f64x2.add
      local.set a3
      local.get c3
      local.get dv
      local.get hw
      f64x2.mul
      f64x2.add
      local.set c3
      ${add("hp", "hp", "H8")}
      local.get b8
      i32.const 8
      i32.add
      local.tee b8
      local.get B8
      i32.lt_s
      br_if 0
    end
    ${add("p", "row", "k8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a0
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a1
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a2
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a3
    f64x2.add
    v128.store offset=0
    ${add("p", "row", "k8")}
    local.get p
    local.get p
    v128.load offset=16
    local.get c0
    f64x2.add
    v128.store offset=16
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=16
    local.get c1
    f64x2.add
    v128.store offset=16
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=16
    local.get c2
    f64x2.add
    v128.store offset=16
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=16
    local.get c3
    f64x2.add
    v128.store offset=16
    local.get k8
    i32.const 32
    i32.add
    local.set k8
    br 0
  end
  end
  ;; then a pair
  block
  loop
    local.get k8
    i32.const 8
    i32.add
    local.get H8
    i32.ge_s
    br_if 1
    local.get zero
    local.set a0
    local.get zero
    local.set a1
    local.get zero
    local.set a2
    local.get zero
    local.set a3
    ${add("hp", "hs", "k8")}
    i32.const 0
    local.set b8
    loop
      local.get hp
      v128.load offset=0
      local.set hv
      ${splatMulAdd("a0", "g0", "b8", "hv")}
      ${splatMulAdd("a1", "g1", "b8", "hv")}
      ${splatMulAdd("a2", "g2", "b8", "hv")}
      ${splatMulAdd("a3", "g3", "b8", "hv")}
      ${add("hp", "hp", "H8")}
      local.get b8
      i32.const 8
      i32.add
      local.tee b8
      local.get B8
      i32.lt_s
      br_if 0
    end
    ${add("p", "row", "k8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a0
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a1
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a2
    f64x2.add
    v128.store offset=0
    ${add("p", "p", "H8")}
    local.get p
    local.get p
    v128.load offset=0
    local.get a3
    f64x2.add
    v128.store offset=0
    local.get k8
    i32.const 16
    i32.add
    local.set k8
    br 0
  end
  end
  local.get row
  local.get H8
  i32.const 2
  i32.shl
  i32.add
  local.set row
  local.get g3
  local.get B8
  i32.add
  local.set g0
  local.get j
  i32.const 4
  i32.add
  local.tee j
  local.get G
  i32.lt_s
  br_if 0
end`,
};

/** v = a · b (vectors) */
const mul = (v: string, a: string, b: string) => `
local.get ${a}
local.get ${b}
f64x2.mul
local.set ${v}`;

/** v = 1 − a · b, or 1 − a when b is omitted */
const oneMinus = (v: string, a: string, b?: string) => `
local.get one
local.get ${a}
${b ? `local.get ${b}\nf64x2.mul` : ""}
f64x2.sub
local.set ${v}`;

/** mem[dk + gate·HB8] = v[0]; mem[dk + B8 + gate·HB8] = v[1] (gate-major dG, units k and k+1). */
const storeGate = (v: string, gate: number) => `
local.get dk
local.get HB8
i32.const ${gate}
i32.mul
i32.add
local.tee q
local.get ${v}
f64x2.extract_lane 0
f64.store offset=0
local.get q
local.get B8
i32.add
local.get ${v}
f64x2.extract_lane 1
f64.store offset=0`;

/**
 * One step of the backward pass through the cell, units in pairs (the caller does an odd last unit):
 * dc ← (dc + dh·o·(1 − tanh²c))·f and the four gate pre-activation gradients into dG [4H, B]. Same
 * formulas, operand order and rounding as the JavaScript loop in lossAndGradient.
 */
const backwardGates: WasmFunction = {
  name: "backwardGates",
  params: ["acts", "tcs", "cPrev", "dh", "dc", "dg", "H", "B"],
  locals: {
    b: "i32",
    k8: "i32",
    H8: "i32",
    G8: "i32",
    B8: "i32",
    HB8: "i32",
    ao: "i32",
    so: "i32",
    dk: "i32",
    p: "i32",
    q: "i32",
    one: "v128",
    ig: "v128",
    og: "v128",
    fg: "v128",
    cg: "v128",
    tc: "v128",
    dhk: "v128",
    dck: "v128",
    u: "v128",
    w: "v128",
  },
  body: `
f64.const 1
f64x2.splat
local.set one
local.get H
i32.const 3
i32.shl
local.tee H8
i32.const 2
i32.shl
local.set G8
local.get B
i32.const 3
i32.shl
local.set B8
local.get H
local.get B8
i32.mul
local.set HB8
block
loop
  local.get b
  local.get B
  i32.ge_s
  br_if 1
  local.get acts
  local.get b
  local.get G8
  i32.mul
  i32.add
  local.set ao
  local.get b
  local.get H8
  i32.mul
  local.set so
  i32.const 0
  local.set k8
  block
  loop
    local.get k8
    i32.const 8
    i32.add
    local.get H8
    i32.ge_s
    br_if 1
    ${add("p", "ao", "k8")}
    local.get p
    v128.load offset=0
    local.set ig
    ${add("p", "p", "H8")}
    local.get p
    v128.load offset=0
    local.set og
    ${add("p", "p", "H8")}
    local.get p
    v128.load offset=0
    local.set fg
    ${add("p", "p", "H8")}
    local.get p
    v128.load offset=0
    local.set cg
    ${add("p", "so", "k8")}
    local.get tcs
    local.get p
    i32.add
    v128.load offset=0
    local.set tc
    local.get dh
    local.get p
    i32.add
    v128.load offset=0
    local.set dhk
    ;; dck = dc + dhk·og·(1 − tc·tc)
    ${mul("u", "dhk", "og")}
    ${oneMinus("w", "tc", "tc")}
    local.get dc
    local.get p
    i32.add
    v128.load offset=0
    local.get u
    local.get w
    f64x2.mul
    f64x2.add
    local.set dck
    ;; dc = dck·fg
    local.get dc
    local.get p
    i32.add
    local.get dck
    local.get fg
    f64x2.mul
    v128.store offset=0
    ;; dk = dg + k·B8 + b·8
    local.get dg
    local.get k8
    local.get B
    i32.mul
    i32.add
    local.get b
    i32.const 3
    i32.shl
    i32.add
    local.set dk
    ;; dI = dck·cg·ig·(1 − ig)
    ${mul("u", "dck", "cg")}
    ${mul("u", "u", "ig")}
    ${oneMinus("w", "ig")}
    ${mul("u", "u", "w")}
    ${storeGate("u", 0)}
    ;; dO = dhk·tc·og·(1 − og)
    ${mul("u", "dhk", "tc")}
    ${mul("u", "u", "og")}
    ${oneMinus("w", "og")}
    ${mul("u", "u", "w")}
    ${storeGate("u", 1)}
    ;; dF = dck·c_{t−1}·fg·(1 − fg)
    local.get dck
    local.get cPrev
    local.get p
    i32.add
    v128.load offset=0
    f64x2.mul
    local.set u
    ${mul("u", "u", "fg")}
    ${oneMinus("w", "fg")}
    ${mul("u", "u", "w")}
    ${storeGate("u", 2)}
    ;; dC = dck·ig·(1 − cg·cg)
    ${mul("u", "dck", "ig")}
    ${oneMinus("w", "cg", "cg")}
    ${mul("u", "u", "w")}
    ${storeGate("u", 3)}
    local.get k8
    i32.const 16
    i32.add
    local.set k8
    br 0
  end
  end
  local.get b
  i32.const 1
  i32.add
  local.set b
  br 0
end
end`,
};

/**
 * The rest of one step's weight gradients for a one-feature input (I = 1), one gate row at a time: db += Σ_b
 * dG, dW += Σ_b dG·x_t, and, when `withR` is 1 (t > 0 with an odd H), the last unit's column of dR, which
 * weightGradientR leaves out. Scalar, each sum over b in order from zero, as accumulateWeightGradients does.
 */
const weightGradientRest: WasmFunction = {
  name: "weightGradientRest",
  params: ["gR", "gW", "gB", "H", "dg", "B", "hLast", "x", "xStride", "withR"],
  locals: {
    j: "i32",
    G: "i32",
    H8: "i32",
    b8: "i32",
    B8: "i32",
    g: "i32",
    hp: "i32",
    xp: "i32",
    d: "f64",
    accB: "f64",
    accW: "f64",
    accR: "f64",
  },
  body: `
local.get H
i32.const 2
i32.shl
local.set G
local.get H
i32.const 3
i32.shl
local.set H8
local.get B
i32.const 3
i32.shl
local.set B8
local.get dg
local.set g
loop
  f64.const 0
  local.set accB
  f64.const 0
  local.set accW
  f64.const 0
  local.set accR
  local.get hLast
  local.set hp
  local.get x
  local.set xp
  i32.const 0
  local.set b8
  loop
    local.get g
    local.get b8
    i32.add
    f64.load offset=0
    local.set d
    local.get accB
    local.get d
    f64.add
    local.set accB
    local.get accW
    local.get d
    local.get xp
    f64.load offset=0
    f64.mul
    f64.add
    local.set accW
    local.get accR
    local.get d
    local.get hp
    f64.load offset=0
    f64.mul
    f64.add
    local.set accR
    ${add("hp", "hp", "H8")}
    ${add("xp", "xp", "xStride")}
    local.get b8
    i32.const 8
    i32.add
    local.tee b8
    local.get B8
    i32.lt_s
    br_if 0
  end
  local.get gB
  local.get gB
  f64.load offset=0
  local.get accB
  f64.add
  f64.store offset=0
  local.get gW
  local.get gW
  f64.load offset=0
  local.get accW
  f64.add
  f64.store offset=0
  block
    local.get withR
    i32.eqz
    br_if 0
    local.get gR
    local.get gR
    f64.load offset=0
    local.get accR
    f64.add
    f64.store offset=0
  end
  local.get gB
  i32.const 8
  i32.add
  local.set gB
  local.get gW
  i32.const 8
  i32.add
  local.set gW
  ${add("gR", "gR", "H8")}
  ${add("g", "g", "B8")}
  local.get j
  i32.const 1
  i32.add
  local.tee j
  local.get G
  i32.lt_s
  br_if 0
end`,
};

export interface LstmKernels {
  /** float64 view of the instance's memory; kernel pointers are byte offsets into it (index × 8). */
  readonly memory: Float64Array;
  addRecurrent(rT: number, H: number, h: number, B: number, pre: number): void;
  backpropHidden(rT: number, H: number, dg: number, B: number, dh: number, R: number): void;
  weightGradientR(gR: number, H: number, dg: number, B: number, hs: number): void;
  weightGradientRest(
    gR: number,
    gW: number,
    gB: number,
    H: number,
    dg: number,
    B: number,
    hLast: number,
    x: number,
    xStride: number,
    withR: number,
  ): void;
  backwardGates(
    acts: number,
    tcs: number,
    cPrev: number,
    dh: number,
    dc: number,
    dg: number,
    H: number,
    B: number,
  ): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable (the caller then stays in JavaScript). */
function lstmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = assembleModule([
      addRecurrent,
      backpropHidden,
      weightGradientR,
      weightGradientRest,
      backwardGates,
    ]);
    compiled =
      typeof WebAssembly === "object" && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/** An instance with its own memory of at least `doubles` float64 values, or null without SIMD support. */
export function createLstmKernels(doubles: number): LstmKernels | null {
  const module = lstmModule();
  if (!module) return null;
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil((doubles * 8) / 65536)) });
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Omit<
    LstmKernels,
    "memory"
  >;
  return {
    memory: new Float64Array(memory.buffer),
    addRecurrent: exports.addRecurrent,
    backpropHidden: exports.backpropHidden,
    weightGradientR: exports.weightGradientR,
    weightGradientRest: exports.weightGradientRest,
    backwardGates: exports.backwardGates,
  };
}
