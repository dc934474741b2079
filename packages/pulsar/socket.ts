/**
 * The socket to Pulsar's WebSocket API: a WebSocket client on `Bun.connect` (`FramedSocket`) that opens
 * with a deadline and a typed failure (the upgrade's status: 404 = namespace or topic missing, 401/403 =
 * auth, 409/500 = broker-side refusal such as an Exclusive subscription already taken) and writes every
 * frame sent in one tick with a single `write`. Frame encoding and decoding are in ws-frames.ts.
 *
 * Why not Bun's global `WebSocket`: it writes each frame with its own `write`, so each message reached the
 * broker as its own TCP segment and the broker's Jetty woke up, read and dispatched once per message. That
 * per-read overhead was most of the broker's CPU per message: measured 31-141 µs (by load) with Bun's
 * `WebSocket` vs 19-28 µs with this socket per unbatched message, and 1.3-6× the msgs/s (bench/PULSAR.md).
 *
 * @example
 * const ws = await FramedSocket.open("ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/t", "open producer", 10_000);
 */

import type { PipelineError } from "@energy/contracts/errors.ts";
import type { Socket } from "bun";
import { pulsarConnectionError, pulsarHttpError, pulsarTimeoutError } from "./errors.ts";
import { acceptKey, encodeFrame, opcode, readFrames } from "./ws-frames.ts";

/** What the WebSocket proxy means by each refusal: it answers them without an explanatory body. */
const upgradeReasons: Record<number, string> = {
  400: "invalid query parameters",
  401: "authentication failed",
  403: "not authorized on this topic",
  404: "tenant, namespace or topic does not exist",
  409: "busy: another consumer holds this Exclusive subscription, or a producer with this name exists",
  500: "the broker failed to create the producer or consumer (see the broker log)",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const empty = new Uint8Array(0);
/** Flush at once past this many queued bytes instead of waiting for the end of the tick. */
const flushBytes = 256 * 1024;

/**
 * A WebSocket client (RFC 6455: masked text frames out, fragmented/ping/close handled in) on `Bun.connect`
 * whose `send` queues the frame and writes everything queued in the current tick with one `write` (or at
 * once past 256 KiB); see the module doc for the measured reason. No extensions, no subprotocols: Pulsar's
 * WebSocket API uses neither.
 *
 * @example
 * const socket = await FramedSocket.open("ws://127.0.0.1:8080/ws/v2/producer/persistent/public/default/t", "open producer", 10_000);
 * socket.addEventListener("message", (event) => console.log(event.data));
 * socket.send('{"payload":"aGk=","context":"1"}');
 */
export class FramedSocket {
  /** `WebSocket.CONNECTING` / `OPEN` / `CLOSING` / `CLOSED` (0-3), as on the WebSocket API. */
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
        // the blank line ending the HTTP head
        const end = Buffer.from(head.buffer, head.byteOffset, head.byteLength).indexOf("\r\n\r\n");
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
    this.enqueue(encodeFrame(opcode.text, encoder.encode(text)));
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
    this.enqueue(encodeFrame(opcode.close, payload));
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
    const at = readFrames(buf, this.frameHandler);
    if (at < 0) {
      // not what we think it is: waiting for more bytes could stall for ever; dropping the connection makes
      // the client reconnect instead
      this.inbox = empty;
      this.readyState = 2;
      this.socket?.end();
      return;
    }
    // keep only the unparsed tail (Bun hands each read its own buffer, so a view of it stays valid)
    this.inbox = at >= buf.byteLength ? empty : buf.slice(at);
  }

  private readonly frameHandler = (fin: boolean, op: number, payload: Uint8Array) =>
    this.onFrame(fin, op, payload);

  private onFrame(fin: boolean, op: number, payload: Uint8Array): void {
    if (op === opcode.text || op === opcode.binary || op === opcode.continuation) {
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
    } else if (op === opcode.close) {
      if (this.readyState === 1) {
        this.enqueue(encodeFrame(opcode.close, payload.subarray(0, 2)));
        this.flush();
      }
      this.readyState = 2;
      this.socket?.end();
    } else if (op === opcode.ping) {
      this.enqueue(encodeFrame(opcode.pong, payload));
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

/**
 * `parts` as one buffer: the part itself when there is only one (a tick with one frame, a read with one
 * chunk), else `Buffer.concat`. Measured (median µs per call): one 160 B part 0.004 as is vs 0.036 through
 * `Buffer.concat`; 10 × 160 B 0.15 with `Buffer.concat` vs 1.45 with a zero-filled `Uint8Array` + `set` loop.
 */
function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}
