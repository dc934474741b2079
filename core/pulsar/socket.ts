/**
 * The socket to Pulsar's WebSocket API: opening it with a deadline and a typed failure (the upgrade's
 * status: 404 = namespace or topic missing, 401/403 = auth, 409/500 = broker-side refusal such as an
 * Exclusive subscription already taken), our own RFC 6455 client framing that writes a tick's frames at
 * once (`FramedSocket`, see `Transport` for why), and the payload encodings the producer and consumer
 * share on it: base64, and the packed-message format (many records in one message).
 *
 * @example
 * const ws = await openSocket("ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/t", "open producer", 10_000);
 */
import type { Socket } from "bun";
import { PipelineError } from "../../lib/errors.ts";
import { pulsarConnectionError, pulsarHttpError, pulsarTimeoutError } from "./errors.ts";

const upgradeStatusPattern = /Expected 101 status code: (\d{3})/;

/** What the WebSocket proxy means by each refusal (it sends no body we can read). */
const upgradeReasons: Record<number, string> = {
  400: "invalid query parameters",
  401: "authentication failed",
  403: "not authorized on this topic",
  404: "tenant, namespace or topic does not exist",
  409: "busy: another consumer holds this Exclusive subscription, or a producer with this name exists",
  500: "the broker failed to create the producer or consumer (see the broker log)",
};

/**
 * How we talk WebSocket. `framed` (default): our own RFC 6455 client framing over `Bun.connect`, which
 * writes every frame sent in one tick with a single `write`. `websocket`: Bun's global `WebSocket`, which
 * writes each frame on its own. Why `framed`: with one TCP segment per message the broker's Jetty wakes up,
 * reads and dispatches once per message, and that per-read overhead was most of the broker's CPU per
 * message — measured 31-141 µs (by load) with `websocket` vs 19-28 µs with `framed` per unbatched message,
 * and 1.3-6× the msgs/s (bench/PULSAR.md). `websocket` stays as a fallback and for the before/after.
 */
export type Transport = "framed" | "websocket";

/** Resolves with the open socket, or rejects with a PipelineError naming what was being opened. */
export function openSocket(
  url: string,
  doing: string,
  timeoutMs: number,
  transport: Transport = "framed",
): Promise<PulsarSocket> {
  return transport === "framed"
    ? FramedSocket.open(url, doing, timeoutMs)
    : openWebSocket(url, doing, timeoutMs);
}

/** Bun's `WebSocket`: a refused upgrade shows only in its error message, so the status is read back from it. */
function openWebSocket(url: string, doing: string, timeoutMs: number): Promise<PulsarSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let settled = false;
    let errorText = "";
    const settle = (error: PipelineError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("error", onError);
      ws.removeEventListener("close", onClose);
      if (error) {
        try {
          ws.close();
        } catch {
          // already closed
        }
        reject(error);
      } else {
        resolve(ws as unknown as PulsarSocket);
      }
    };
    const onOpen = () => settle(undefined);
    const onError = (event: Event) => {
      errorText = (event as ErrorEvent).message ?? "";
    };
    const onClose = () => {
      const status = upgradeStatusPattern.exec(errorText)?.[1];
      settle(
        status
          ? pulsarHttpError(Number(status), upgradeReasons[Number(status)] ?? "", doing)
          : pulsarConnectionError(url, doing, new Error(errorText || "socket closed during handshake")),
      );
    };
    const timer = setTimeout(() => settle(pulsarTimeoutError(doing, timeoutMs)), timeoutMs);
    ws.addEventListener("open", onOpen);
    ws.addEventListener("error", onError);
    ws.addEventListener("close", onClose);
  });
}

/** Base64 of bytes, as the WebSocket API carries payloads. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Bytes of a base64 payload from the WebSocket API. */
export function fromBase64(text: string): Uint8Array {
  const buf = Buffer.from(text, "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Message property that marks a packed message: one Pulsar message holding many records, written by
 * `PulsarProducer` with `packing` and split back into records by `PulsarConsumer`.
 *
 * Why we pack at all: the WebSocket API takes exactly one message per frame, and each frame costs the
 * broker's WebSocket proxy a JSON parse, a base64 decode, a send through its internal Java client and a
 * JSON ack: measured in bench/PULSAR.md, that per-frame cost, not Bun, bounds our producer. Pulsar's own
 * batching (the binary protocol's batch entries) cannot be built through the WebSocket API, so we carry
 * the batch in the payload instead. Only our consumer understands it: use packing on topics that only our
 * code reads (a Java or Python consumer would see one opaque message).
 */
export const packedProperty = "pulsar-ts-packed";
export const packedVersion = "1";

/** One record inside a packed message. */
export interface PackedRecord {
  payload: Uint8Array;
  /**
   * The record's own key, when a pack holds records of many keys (the readings log packs per partition);
   * absent, the record has the packed message's key.
   */
  key?: string;
  /** Epoch ms. */
  eventTime?: number;
  properties?: Record<string, string>;
}

const hasEventTime = 1;
const hasProperties = 2;
const hasKey = 4;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * Packed message layout (version 1, little-endian): u32 record count, then per record u8 flags
 * (1 = event time, 2 = properties, 4 = key), u32 payload length, payload, [f64 event time ms],
 * [u32 length, UTF-8 JSON of the properties], [u32 length, UTF-8 key]. Flag 4 was added later; packs
 * without it read as before.
 *
 * @example
 * decodePacked(encodePacked([{ payload: bytes, eventTime: 1_700_000_000_000 }]))[0].eventTime // 1_700_000_000_000
 */
export function encodePacked(records: readonly PackedRecord[]): Uint8Array {
  const props = records.map((r) => (r.properties ? utf8.encode(JSON.stringify(r.properties)) : undefined));
  const keys = records.map((r) => (r.key === undefined ? undefined : utf8.encode(r.key)));
  let size = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    size += 5 + r.payload.byteLength + (r.eventTime === undefined ? 0 : 8);
    const p = props[i];
    if (p) size += 4 + p.byteLength;
    const k = keys[i];
    if (k) size += 4 + k.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, records.length, true);
  let at = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const p = props[i];
    const k = keys[i];
    view.setUint8(
      at,
      (r.eventTime === undefined ? 0 : hasEventTime) | (p ? hasProperties : 0) | (k ? hasKey : 0),
    );
    view.setUint32(at + 1, r.payload.byteLength, true);
    out.set(r.payload, at + 5);
    at += 5 + r.payload.byteLength;
    if (r.eventTime !== undefined) {
      view.setFloat64(at, r.eventTime, true);
      at += 8;
    }
    if (p) {
      view.setUint32(at, p.byteLength, true);
      out.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    if (k) {
      view.setUint32(at, k.byteLength, true);
      out.set(k, at + 4);
      at += 4 + k.byteLength;
    }
  }
  return out;
}

/** The records of a packed message; a `validation` PipelineError when the bytes are not one. */
export function decodePacked(bytes: Uint8Array): PackedRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const truncated = (at: number) =>
    new PipelineError("validation", `packed message of ${bytes.byteLength} bytes is truncated at byte ${at}`);
  if (bytes.byteLength < 4) throw truncated(0);
  const count = view.getUint32(0, true);
  const records: PackedRecord[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 5 > bytes.byteLength) throw truncated(at);
    const flags = view.getUint8(at);
    const length = view.getUint32(at + 1, true);
    at += 5;
    if (at + length > bytes.byteLength) throw truncated(at);
    const record: PackedRecord = { payload: bytes.subarray(at, at + length) };
    at += length;
    if (flags & hasEventTime) {
      if (at + 8 > bytes.byteLength) throw truncated(at);
      record.eventTime = view.getFloat64(at, true);
      at += 8;
    }
    if (flags & hasProperties) {
      if (at + 4 > bytes.byteLength) throw truncated(at);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.byteLength) throw truncated(at);
      try {
        record.properties = JSON.parse(utf8Decoder.decode(bytes.subarray(at + 4, at + 4 + n)));
      } catch (cause) {
        throw new PipelineError("validation", `packed record ${i} has unreadable properties`, { cause });
      }
      at += 4 + n;
    }
    if (flags & hasKey) {
      if (at + 4 > bytes.byteLength) throw truncated(at);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.byteLength) throw truncated(at);
      record.key = utf8Decoder.decode(bytes.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    records.push(record);
  }
  if (at !== bytes.byteLength) {
    throw new PipelineError(
      "validation",
      `packed message has ${bytes.byteLength - at} bytes after its ${count} records`,
    );
  }
  return records;
}

export interface PulsarSocket {
  /** `WebSocket.CONNECTING` / `OPEN` / `CLOSING` / `CLOSED` (0-3), as on the WebSocket API. */
  readonly readyState: number;
  /** Queues a text frame; frames sent in one tick go out in one write. Ignored unless open. */
  send(text: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: string }) => void): void;
  addEventListener(type: "close", listener: () => void): void;
}

const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const empty = new Uint8Array(0);
/** Continuation, text, binary, close, ping, pong (RFC 6455 §5.2). */
const knownOpcodes = new Set([0x0, 0x1, 0x2, 0x8, 0x9, 0xa]);
/** Larger incoming frames are taken as a corrupt stream: the proxy's own frame limit is 1 MiB by default. */
const maxFrameBytes = 64 * 1024 * 1024;
/** Flush at once past this many queued bytes instead of waiting for the end of the tick. */
const flushBytes = 256 * 1024;

/** Masking keys (RFC 6455 §5.3: a fresh unpredictable key per frame), drawn from a refilled random pool. */
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
function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.byteLength;
  const header = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + n);
  frame[0] = 0x80 | opcode;
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

/** The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return new Bun.CryptoHasher("sha1").update(key + guid).digest("base64");
}

/** Index of the blank line ending an HTTP head (`\r\n\r\n`), or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.byteLength; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) return i - 3;
  }
  return -1;
}

/**
 * A WebSocket client (RFC 6455: masked text frames out, fragmented/ping/close handled in) on `Bun.connect`
 * whose `send` queues the frame and writes everything queued in the current tick with one `write` (or at
 * once past 256 KiB). See `Transport` for the measured reason. No extensions (no permessage-deflate), no
 * subprotocols: Pulsar's WebSocket API uses neither.
 *
 * @example
 * const socket = await FramedSocket.open("ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/t", "open producer", 10_000);
 * socket.addEventListener("message", (event) => console.log(event.data));
 * socket.send('{"payload":"aGk=","context":"1"}');
 */
export class FramedSocket implements PulsarSocket {
  readyState = 0;
  private socket: Socket<undefined> | undefined;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private flushScheduled = false;
  /** Bytes the kernel did not take yet; later writes append here to keep order. */
  private backlog: Uint8Array | undefined;
  private inbox: Uint8Array = empty;
  private fragments: Uint8Array[] = [];
  private readonly messageListeners: Array<(event: { data: string }) => void> = [];
  /**
   * Messages that arrived before anyone listened: the consumer's proxy starts delivering as soon as the
   * upgrade is done, and those frames can share a TCP read with the 101 response, before `open` has even
   * resolved. Dropping them would leave them delivered-but-never-seen (found by a connection-drop test).
   */
  private early: Array<{ data: string }> = [];
  private earlyScheduled = false;
  private readonly closeListeners: Array<() => void> = [];
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private closeEmitted = false;

  /** Connects and upgrades; rejects with a typed PipelineError (status-mapped, connection, timeout). */
  static open(url: string, doing: string, timeoutMs: number): Promise<FramedSocket> {
    const u = new URL(url);
    const tls = u.protocol === "wss:";
    const port = Number(u.port || (tls ? 443 : 80));
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    const s = new FramedSocket();
    return new Promise<FramedSocket>((resolve, reject) => {
      let settled = false;
      let head: Uint8Array = empty;
      const fail = (error: PipelineError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.readyState = 3;
        s.socket?.end();
        reject(error);
      };
      const timer = setTimeout(() => fail(pulsarTimeoutError(doing, timeoutMs)), timeoutMs);
      const onHandshake = (chunk: Uint8Array) => {
        head = concat([head, chunk], head.byteLength + chunk.byteLength);
        const end = headEnd(head);
        if (end < 0) return;
        const text = decoder.decode(head.subarray(0, end));
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
        if (status !== 101) {
          const body = decoder.decode(head.subarray(end + 4, end + 304));
          fail(pulsarHttpError(status, upgradeReasons[status] ?? body, doing));
          return;
        }
        if (/\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1] !== acceptKey(key)) {
          fail(
            pulsarConnectionError(
              url,
              doing,
              new Error("wrong Sec-WebSocket-Accept in the upgrade response"),
            ),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        s.readyState = 1;
        s.upgraded = true;
        // bytes after the head are already frames
        if (head.byteLength > end + 4) s.onData(head.slice(end + 4));
        resolve(s);
      };
      Bun.connect<undefined>({
        hostname: u.hostname,
        port,
        tls,
        socket: {
          open(socket) {
            s.socket = socket;
            socket.write(
              `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
            );
          },
          data(_socket, chunk) {
            if (s.upgraded) s.onData(chunk);
            else onHandshake(chunk);
          },
          drain() {
            s.onDrain();
          },
          close() {
            fail(pulsarConnectionError(url, doing, new Error("socket closed during handshake")));
            s.onClosed();
          },
          error(_socket, error) {
            fail(pulsarConnectionError(url, doing, error));
            s.onClosed(); // idempotent: Bun may or may not call close() after an error
          },
          connectError(_socket, error) {
            fail(pulsarConnectionError(url, doing, error));
          },
        },
      }).catch((error: unknown) => fail(pulsarConnectionError(url, doing, error)));
    });
  }

  private upgraded = false;

  addEventListener(type: "message", listener: (event: { data: string }) => void): void;
  addEventListener(type: "close", listener: () => void): void;
  addEventListener(
    type: "message" | "close",
    listener: ((event: { data: string }) => void) | (() => void),
  ): void {
    if (type === "message") {
      this.messageListeners.push(listener as (event: { data: string }) => void);
      if (this.early.length > 0 && !this.earlyScheduled) {
        this.earlyScheduled = true;
        // after the caller finished attaching (its other listeners, its state); frames read meanwhile queue
        // behind, so order holds
        queueMicrotask(() => {
          for (let i = 0; i < this.early.length; i++) {
            for (const l of this.messageListeners) l(this.early[i]!);
          }
          this.early = [];
          this.earlyScheduled = false;
        });
      }
    } else this.closeListeners.push(listener as () => void);
  }

  send(text: string): void {
    if (this.readyState !== 1) return;
    this.enqueue(encodeFrame(0x1, encoder.encode(text)));
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState !== 1) {
      if (this.readyState === 0) this.socket?.end();
      return;
    }
    const r = encoder.encode(reason.slice(0, 120));
    const payload = new Uint8Array(2 + r.byteLength);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(r, 2);
    this.enqueue(encodeFrame(0x8, payload));
    this.flush();
    this.readyState = 2;
    // the server answers with its close frame and closes; do not wait for ever if it does not
    this.closeTimer = setTimeout(() => this.socket?.end(), 1000);
    this.closeTimer.unref?.();
  }

  private enqueue(frame: Uint8Array): void {
    this.queue.push(frame);
    this.queued += frame.byteLength;
    if (this.queued >= flushBytes) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0 || !this.socket) return;
    const data = concat(this.queue, this.queued);
    this.queue = [];
    this.queued = 0;
    if (this.backlog) {
      this.backlog = concat([this.backlog, data], this.backlog.byteLength + data.byteLength);
      return;
    }
    const written = this.socket.write(data);
    if (written < data.byteLength) this.backlog = data.subarray(Math.max(0, written));
  }

  private onDrain(): void {
    if (!this.backlog || !this.socket) return;
    const data = this.backlog;
    this.backlog = undefined;
    const written = this.socket.write(data);
    if (written < data.byteLength) this.backlog = data.subarray(Math.max(0, written));
  }

  private onData(chunk: Uint8Array): void {
    const buf =
      this.inbox.byteLength === 0
        ? chunk
        : concat([this.inbox, chunk], this.inbox.byteLength + chunk.byteLength);
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
      if ((b0 & 0x70) !== 0 || !knownOpcodes.has(b0 & 0x0f) || length > maxFrameBytes) {
        // reserved bits, unknown opcode or an absurd length: the stream is not what we think it is. Waiting
        // for more bytes could stall for ever; dropping the connection makes the client reconnect instead.
        this.inbox = empty;
        this.readyState = 2;
        this.socket?.end();
        return;
      }
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
      this.onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
    }
    // keep only the unparsed tail, copied: the chunk's buffer may be reused by the runtime
    this.inbox = at >= buf.byteLength ? empty : buf.slice(at);
  }

  private onFrame(fin: boolean, opcode: number, payload: Uint8Array): void {
    if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
      if (!fin) {
        this.fragments.push(payload.slice());
        return;
      }
      let whole = payload;
      if (this.fragments.length > 0) {
        this.fragments.push(payload);
        whole = concat(
          this.fragments,
          this.fragments.reduce((n, f) => n + f.byteLength, 0),
        );
        this.fragments = [];
      }
      const event = { data: decoder.decode(whole) };
      if (this.messageListeners.length === 0 || this.earlyScheduled) this.early.push(event);
      else for (const listener of this.messageListeners) listener(event);
    } else if (opcode === 0x8) {
      if (this.readyState === 1) {
        this.enqueue(encodeFrame(0x8, payload.subarray(0, 2)));
        this.flush();
      }
      this.readyState = 2;
      this.socket?.end();
    } else if (opcode === 0x9) {
      this.enqueue(encodeFrame(0xa, payload));
    }
  }

  private onClosed(): void {
    clearTimeout(this.closeTimer);
    this.readyState = 3;
    if (this.closeEmitted || !this.upgraded) return;
    this.closeEmitted = true;
    for (const listener of this.closeListeners) listener();
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
