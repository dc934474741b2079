/**
 * A minimal WebAssembly assembler: functions written as one instruction per line (the text format's flat
 * form, `local.get $x` without the `$`) become a module importing `env.memory` and exporting each function.
 *
 * It exists for the LSTM's SIMD kernels (lstm-wasm.ts): JavaScriptCore's JIT emits scalar code with a bounds
 * check per typed-array access, while WebAssembly gets unchecked loads (guard pages) and f64x2 SIMD. No
 * package offers a text-to-binary assembler without native or large dependencies, and these kernels need a
 * few dozen opcodes, so the encoder is written here (WebAssembly core spec 2.0, §5 binary format).
 */
import { PipelineError } from "../lib/errors.ts";

export type WasmType = "i32" | "f64" | "v128";

export interface WasmFunction {
  name: string;
  /** i32 parameters, in order. */
  params: readonly string[];
  locals: Readonly<Record<string, WasmType>>;
  /** One instruction per line; `;;` starts a comment. Memory ops take `offset=N`, lane ops a lane index. */
  body: string;
}

const opcodes: Record<string, readonly number[]> = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: [0x0c],
  br_if: [0x0d],
  "local.get": [0x20],
  "local.set": [0x21],
  "local.tee": [0x22],
  "i32.const": [0x41],
  "i32.add": [0x6a],
  "i32.sub": [0x6b],
  "i32.mul": [0x6c],
  "i32.shl": [0x74],
  "i32.lt_s": [0x48],
  "i32.gt_s": [0x4a],
  "i32.ge_s": [0x4e],
  "f64.load": [0x2b],
  "f64.store": [0x39],
  "f64.const": [0x44],
  "f64.add": [0xa0],
  "f64.mul": [0xa2],
  "i32.eqz": [0x45],
  "v128.load": [0xfd, 0x00],
  "v128.load64_splat": [0xfd, 0x0a],
  "v128.store": [0xfd, 0x0b],
  "f64x2.extract_lane": [0xfd, 0x21],
  "f64x2.replace_lane": [0xfd, 0x22],
  "f64x2.splat": [0xfd, 0x14],
  "f64x2.add": [0xfd, 0xf0, 0x01],
  "f64x2.sub": [0xfd, 0xf1, 0x01],
  "f64x2.mul": [0xfd, 0xf2, 0x01],
};
/** log2 of the natural alignment of each memory access. */
const memoryAlign: Record<string, number> = {
  "f64.load": 3,
  "f64.store": 3,
  "v128.load": 4,
  "v128.store": 4,
  "v128.load64_splat": 3,
};
const valueType: Record<WasmType, number> = { i32: 0x7f, f64: 0x7c, v128: 0x7b };

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(byte & 0x40)) || (v === -1 && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function encodeFunction(f: WasmFunction): number[] {
  const index = new Map<string, number>();
  for (const [i, p] of f.params.entries()) index.set(p, i);
  const locals = Object.keys(f.locals);
  for (const [i, l] of locals.entries()) index.set(l, f.params.length + i);
  const code = [...uleb(locals.length)];
  for (const l of locals) code.push(1, valueType[f.locals[l]!]);
  for (const [n, raw] of f.body.split("\n").entries()) {
    const line = raw.replace(/;;.*/, "").trim();
    if (!line) continue;
    const [op = "", ...args] = line.split(/\s+/);
    const where = `wasm function ${f.name} line ${n + 1} "${line}"`;
    const bytes = opcodes[op];
    if (!bytes) throw new PipelineError("internal", `${where}: unknown instruction`);
    code.push(...bytes);
    if (op.startsWith("local.")) {
      const i = index.get(args[0] ?? "");
      if (i === undefined) throw new PipelineError("internal", `${where}: unknown local`);
      code.push(...uleb(i));
    } else if (op === "i32.const") {
      code.push(...sleb(Number(args[0])));
    } else if (op === "f64.const") {
      code.push(...new Uint8Array(new Float64Array([Number(args[0])]).buffer));
    } else if (op === "br" || op === "br_if") {
      code.push(...uleb(Number(args[0])));
    } else if (op in memoryAlign) {
      const offset = Number(args.find((a) => a.startsWith("offset="))?.slice(7) ?? 0);
      code.push(...uleb(memoryAlign[op]!), ...uleb(offset));
    } else if (op.endsWith("_lane")) {
      code.push(Number(args[0]));
    }
  }
  code.push(0x0b);
  return [...uleb(code.length), ...code];
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => {
  const bytes = new TextEncoder().encode(s);
  return [...uleb(bytes.length), ...bytes];
};

/** The module's bytes: memory imported as `env.memory`, every function exported under its name. */
export function assembleModule(functions: readonly WasmFunction[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params.map(() => 0x7f), 0]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [...uleb(types.length), ...types.flat()]),
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 0x01]),
    ...section(3, [...uleb(functions.length), ...functions.map((_, i) => i)]),
    ...section(7, [...uleb(functions.length), ...functions.flatMap((f, i) => [...name(f.name), 0x00, i])]),
    ...section(10, [...uleb(functions.length), ...functions.flatMap(encodeFunction)]),
  ]);
}
