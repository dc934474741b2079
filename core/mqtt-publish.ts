/**
 * Splits the bytes an MQTT broker sends into control packets and decodes the PUBLISH ones; every other
 * packet is handed back whole, as bytes, for mqtt.js to parse.
 *
 * Why hand-written: at 10,000 messages/s, about half of the core's CPU per streaming message (~5 of
 * ~11 µs, bench ab with a CPU profile) went to mqtt.js's receive path: mqtt-packet building a packet object
 * through a buffer list, copying the payload, then mqtt.js's per-packet handler chain and callbacks. What
 * the bridge needs from a PUBLISH is five fields; this reads them straight from the socket's chunk, with the
 * payload a view into it (no copy) unless the packet was split across chunks.
 *
 * Formats (MQTT 3.1.1 §2.2, §3.3; MQTT 5.0 §2.1, §3.3): a fixed header (type and flags in the first byte,
 * then the remaining length as a variable byte integer of 1-4 bytes), then for PUBLISH the topic (2-byte
 * length + UTF-8), the packet identifier if QoS > 0, in MQTT 5 the properties (a variable byte integer
 * length, skipped: we announce no topic alias maximum, so the broker sends full topic names), the payload.
 */

/** next(): more bytes are needed; push the next chunk. */
export const needMore = 0;
/** next(): a PUBLISH was read; its fields are on the reader. */
export const publish = 1;
/** next(): another packet was read; `packet` holds its bytes (fixed header included). */
export const other = 2;
export type ReadResult = typeof needMore | typeof publish | typeof other;

/** The bytes are not MQTT: the connection cannot be read further (there is no resynchronising). */
export class MalformedPacket extends Error {
  override readonly name = "MalformedPacket";
}

const publishType = 3;
/** A fixed header is at most 5 bytes: the type byte and a 4-byte remaining length. */
const maxHeader = 5;
const empty = Buffer.alloc(0);

/**
 * A push parser: `push` a chunk once `next` returned `needMore`, then call `next` until it does again.
 * The fields of the last packet read are on the reader (no object per packet); a PUBLISH's `payload` is a
 * view into the chunk, valid as long as the caller keeps the chunk unchanged (socket chunks are fresh).
 */
export class PublishReader {
  topic = "";
  /** A Uint8Array rather than a Buffer: one object per message, and the validator's reads stay monomorphic. */
  payload: Uint8Array = empty;
  qos = 0;
  dup = false;
  retain = false;
  /** The packet identifier (QoS 1 and 2); 0 for QoS 0. */
  messageId = 0;
  /** The whole packet, when `next` returned `other`. */
  packet: Buffer = empty;

  private readonly v5: boolean;
  /** The chunk being read and how far. */
  private chunk: Buffer = empty;
  private pos = 0;
  /**
   * The chunk's ArrayBuffer and offset, read once per chunk: `Buffer.buffer` is a native getter that cost
   * more than the rest of a PUBLISH's decoding when read per message (3.5 % of the core's CPU in a profile).
   */
  private chunkMemory: ArrayBuffer = empty.buffer as ArrayBuffer;
  private chunkOffset = 0;
  /** A packet split across chunks: gathered here (allocated once its length is known) until complete. */
  private partial: Buffer | undefined;
  private filled = 0;
  /** The first bytes of a packet whose remaining length is cut (`partial` undefined, `filled` > 0). */
  private readonly headBuffer: Buffer = Buffer.allocUnsafe(maxHeader);

  constructor(protocolVersion: 4 | 5) {
    this.v5 = protocolVersion === 5;
  }

  /** Bytes held that do not make a whole packet yet (or were not read yet). */
  get pendingBytes(): number {
    return this.chunk.length - this.pos + this.filled;
  }

  push(chunk: Buffer): void {
    if (this.pos < this.chunk.length) {
      // Pushed before `next` consumed the last one: keep both, in order (not the hot path).
      this.chunk = Buffer.concat([this.chunk.subarray(this.pos), chunk]);
    } else {
      this.chunk = chunk;
    }
    this.pos = 0;
    this.chunkMemory = this.chunk.buffer as ArrayBuffer;
    this.chunkOffset = this.chunk.byteOffset;
  }

  /** Reads the next packet; throws MalformedPacket on bytes that are not MQTT. */
  next(): ReadResult {
    if (this.partial !== undefined || this.filled > 0) return this.continuePartial();
    const chunk = this.chunk;
    const start = this.pos;
    const available = chunk.length - start;
    if (available === 0) return needMore;
    const length = remainingLength(chunk, start + 1, chunk.length);
    if (length < 0) return this.startPartial(length);
    const header = 1 + varintBytes;
    const end = start + header + length;
    if (end > chunk.length) return this.startPartial(length);
    this.pos = end;
    return this.decode(chunk, this.chunkMemory, this.chunkOffset, start, header, end);
  }

  /** Keeps what is left of the chunk until the rest of its packet arrives. */
  private startPartial(length: number): ReadResult {
    const rest = this.chunk.subarray(this.pos);
    this.chunk = empty;
    this.pos = 0;
    if (length < 0) {
      // The remaining length itself is cut: hold the few header bytes (at most 4) in a small buffer.
      rest.copy(this.headBuffer);
      this.partial = undefined;
      this.filled = rest.length;
      return needMore;
    }
    this.partial = Buffer.allocUnsafe(1 + varintBytes + length);
    rest.copy(this.partial);
    this.filled = rest.length;
    return needMore;
  }

  private continuePartial(): ReadResult {
    const chunk = this.chunk;
    if (this.partial === undefined) {
      // Complete the header from the new chunk, byte by byte (at most 4 more).
      const head = this.headBuffer;
      while (this.pos < chunk.length) {
        head[this.filled++] = chunk[this.pos++]!;
        const length = remainingLength(head, 1, this.filled);
        if (length >= 0) {
          this.partial = Buffer.allocUnsafe(1 + varintBytes + length);
          head.copy(this.partial, 0, 0, this.filled);
          break;
        }
      }
      if (this.partial === undefined) return needMore;
    }
    const partial = this.partial;
    const take = Math.min(partial.length - this.filled, chunk.length - this.pos);
    chunk.copy(partial, this.filled, this.pos, this.pos + take);
    this.filled += take;
    this.pos += take;
    if (this.filled < partial.length) return needMore;
    this.partial = undefined;
    this.filled = 0;
    remainingLength(partial, 1, partial.length);
    return this.decode(
      partial,
      partial.buffer as ArrayBuffer,
      partial.byteOffset,
      0,
      1 + varintBytes,
      partial.length,
    );
  }

  /** `memory` and `offset`: `buf`'s ArrayBuffer and where `buf` starts in it. */
  private decode(
    buf: Buffer,
    memory: ArrayBuffer,
    offset: number,
    start: number,
    header: number,
    end: number,
  ): ReadResult {
    const first = buf[start]!;
    if (first >> 4 !== publishType) {
      this.packet = buf.subarray(start, end);
      return other;
    }
    const qos = (first >> 1) & 3;
    if (qos === 3) throw new MalformedPacket("PUBLISH with QoS 3");
    let pos = start + header;
    if (pos + 2 > end) throw new MalformedPacket("PUBLISH too short for its topic length");
    const topicEnd = pos + 2 + ((buf[pos]! << 8) | buf[pos + 1]!);
    if (topicEnd > end) throw new MalformedPacket("PUBLISH topic longer than the packet");
    this.topic = buf.toString("utf8", pos + 2, topicEnd);
    pos = topicEnd;
    if (qos > 0) {
      if (pos + 2 > end) throw new MalformedPacket("PUBLISH too short for its packet identifier");
      this.messageId = (buf[pos]! << 8) | buf[pos + 1]!;
      pos += 2;
    } else {
      this.messageId = 0;
    }
    if (this.v5) {
      const length = remainingLength(buf, pos, end);
      if (length < 0) throw new MalformedPacket("PUBLISH properties length cut or invalid");
      pos += varintBytes + length;
      if (pos > end) throw new MalformedPacket("PUBLISH properties longer than the packet");
    }
    this.qos = qos;
    this.dup = (first & 8) !== 0;
    this.retain = (first & 1) !== 0;
    this.payload = new Uint8Array(memory, offset + pos, end - pos);
    return publish;
  }
}

/** How many bytes the last complete `remainingLength` read (a module slot: no object per call). */
let varintBytes = 0;

/**
 * The variable byte integer at `from` (MQTT 3.1.1 §2.2.3, 5.0 §1.5.5), its size in `varintBytes`; -1 if
 * `to` cuts it. A fifth byte (continuation bit set on the fourth) is malformed. Non-minimal encodings are
 * read as mqtt-packet reads them.
 */
function remainingLength(buf: Buffer, from: number, to: number): number {
  let value = 0;
  let multiplier = 1;
  for (let i = from; i < from + 4; i++) {
    if (i >= to) return -1;
    const byte = buf[i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      varintBytes = i - from + 1;
      return value;
    }
    multiplier *= 128;
  }
  throw new MalformedPacket("variable byte integer longer than 4 bytes");
}
