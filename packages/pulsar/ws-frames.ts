/**
 * RFC 6455 framing for a WebSocket client: encoding masked frames, reading the server's frames out of a
 * byte stream, and the handshake's accept key. Pure functions over bytes; the connection that uses them
 * is `FramedSocket` in socket.ts, which says why we frame by hand rather than use Bun's `WebSocket`.
 * No extensions (no permessage-deflate): Pulsar's WebSocket API uses none.
 *
 * @example
 * const frame = encodeFrame(opcode.text, new TextEncoder().encode("hi")); // 2 + 4 (mask) + 2 bytes
 */

/** Frame opcodes (RFC 6455 §5.2). */
export const opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

const knownOpcodes = new Set<number>(Object.values(opcode));
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Larger incoming frames are taken as a corrupt stream: the proxy's own frame limit is 1 MiB by default. */
const maxFrameBytes = 64 * 1024 * 1024;

/**
 * Masking keys (RFC 6455 §5.3: a fresh unpredictable key per frame), drawn from a refilled random pool:
 * one `getRandomValues` per 4,096 frames instead of one per frame.
 */
const maskPool = new Uint8Array(16 * 1024);
let maskAt = maskPool.length;
function nextMask(): number {
  if (maskAt + 4 > maskPool.length) {
    crypto.getRandomValues(maskPool);
    maskAt = 0;
  }
  maskAt += 4;
  return maskAt - 4;
}

/** One client frame (FIN set), masked. */
export function encodeFrame(op: number, payload: Uint8Array): Uint8Array {
  const n = payload.byteLength;
  const header = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + n);
  frame[0] = 0x80 | op;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65_536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  const m = nextMask();
  const k0 = maskPool[m]!;
  const k1 = maskPool[m + 1]!;
  const k2 = maskPool[m + 2]!;
  const k3 = maskPool[m + 3]!;
  frame[header] = k0;
  frame[header + 1] = k1;
  frame[header + 2] = k2;
  frame[header + 3] = k3;
  const at = header + 4;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    frame[at + i] = payload[i]! ^ k0;
    frame[at + i + 1] = payload[i + 1]! ^ k1;
    frame[at + i + 2] = payload[i + 2]! ^ k2;
    frame[at + i + 3] = payload[i + 3]! ^ k3;
  }
  for (; i < n; i++) frame[at + i] = payload[i]! ^ maskPool[m + (i & 3)]!;
  return frame;
}

/**
 * Calls `onFrame` for every whole frame in `buf`, in order, and returns how many bytes they took (a
 * trailing partial frame is left for the caller to complete with the next read), or -1 when the stream is
 * not WebSocket frames (reserved bits, an unknown opcode, an absurd length). Payloads are views into `buf`.
 */
export function readFrames(
  buf: Uint8Array,
  onFrame: (fin: boolean, op: number, payload: Uint8Array) => void,
): number {
  let at = 0;
  while (buf.byteLength - at >= 2) {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buf.byteLength - at < 4) break;
      length = (buf[at + 2]! << 8) | buf[at + 3]!;
      header = 4;
    } else if (length === 127) {
      if (buf.byteLength - at < 10) break;
      length = Number(new DataView(buf.buffer, buf.byteOffset + at + 2, 8).getBigUint64(0));
      header = 10;
    }
    if ((b0 & 0x70) !== 0 || !knownOpcodes.has(b0 & 0x0f) || length > maxFrameBytes) return -1;
    const masked = (b1 & 0x80) !== 0;
    if (masked) header += 4;
    if (buf.byteLength - at < header + length) break;
    let payload = buf.subarray(at + header, at + header + length);
    if (masked) {
      // servers must not mask (RFC 6455 §5.1), but unmask rather than misread
      const k = buf.subarray(at + header - 4, at + header);
      payload = payload.map((byte, i) => byte ^ k[i & 3]!);
    }
    at += header + length;
    onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
  }
  return at;
}

/** The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return new Bun.CryptoHasher("sha1").update(key + guid).digest("base64");
}
