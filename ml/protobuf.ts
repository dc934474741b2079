/**
 * A minimal protocol-buffers writer: varints, fixed32 and length-delimited fields — all that an ONNX
 * ModelProto needs. Kept rather than a dependency (protobufjs, pbf or @bufbuild/protobuf's BinaryWriter would
 * do it): write-only, four wire forms of a frozen format in ~80 lines, and onnx.test.ts runs the graphs it
 * exports in onnxruntime, which checks the encoding. Rules: https://protobuf.dev/programming-guides/encoding/
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/**
 * Appends fields to a growing buffer; nested messages are written by a callback into a child writer.
 *
 * @example
 * const w = new ProtoWriter();
 * w.int64(1, 8).string(2, "energy-pipeline");
 * const bytes = w.finish();
 */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private static readonly encoder = new TextEncoder();

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private rawVarint(value: number | bigint): void {
    // int64 fields: negative values are their 64-bit two's complement (10 bytes), per the spec.
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint((field << 3) | wire);
  }

  /** int32/int64/enum/bool field. */
  int64(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, ProtoWriter.encoder.encode(value));
  }

  /** Packed repeated int64 (proto3's default encoding for repeated scalars). */
  packedInt64(field: number, values: ReadonlyArray<number>): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.bytes(field, inner.finish());
  }

  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
