import { expect, test } from "bun:test";
import { acceptKey, encodeFrame, opcode, readFrames } from "./ws-frames.ts";

type Read = { fin: boolean; op: number; payload: number[] };
const collect = (buf: Uint8Array): { at: number; frames: Read[] } => {
  const frames: Read[] = [];
  const at = readFrames(buf, (fin, op, payload) => frames.push({ fin, op, payload: [...payload] }));
  return { at, frames };
};

test("Sec-WebSocket-Accept matches RFC 6455's worked example (§1.3)", () => {
  expect(acceptKey("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

test("encoded frames read back (unmasked) at every length encoding: 7-bit, 16-bit and 64-bit", () => {
  for (const n of [0, 1, 125, 126, 65_535, 65_536]) {
    const payload = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
    const frame = encodeFrame(opcode.binary, payload);
    expect(frame.byteLength).toBe((n < 126 ? 2 : n < 65_536 ? 4 : 10) + 4 + n);
    expect(frame[1]! & 0x80).toBe(0x80); // a client masks every frame
    const { at, frames } = collect(frame);
    expect(at).toBe(frame.byteLength);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.fin).toBe(true);
    expect(frames[0]!.op).toBe(opcode.binary);
    expect(frames[0]!.payload).toEqual([...payload]);
  }
});

test("a partial frame is left unread; a stream that is not frames is -1", () => {
  const a = encodeFrame(opcode.text, new TextEncoder().encode("one"));
  const b = encodeFrame(opcode.text, new TextEncoder().encode("two"));
  const c = encodeFrame(opcode.text, new Uint8Array(300));
  const stream = new Uint8Array([...a, ...b, ...c.subarray(0, 20)]);
  const { at, frames } = collect(stream);
  expect(at).toBe(a.byteLength + b.byteLength);
  expect(frames.map((f) => new TextDecoder().decode(new Uint8Array(f.payload)))).toEqual(["one", "two"]);
  // an unmasked server frame with a reserved bit set, and one with an unknown opcode
  expect(readFrames(new Uint8Array([0xc1, 0x00]), () => {})).toBe(-1);
  expect(readFrames(new Uint8Array([0x83, 0x00]), () => {})).toBe(-1);
});
