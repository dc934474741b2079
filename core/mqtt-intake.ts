/**
 * Takes the PUBLISH packets off an mqtt.js client's connection before mqtt.js parses them, and hands every
 * other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT, …) to mqtt.js unchanged, so the connection, the
 * subscription, keepalive, reconnects and TLS stay mqtt.js's. Why: mqtt.js's receive path was about half of
 * the core's CPU per message (core/mqtt-publish.ts).
 *
 * The seam, in the pinned mqtt.js 5.16.0 (`build/lib/client.js`, `connect()`): for each connection it calls
 * its stream builder (`mqtt://` TCP, `mqtts://` TLS, …) and pipes the stream into its packet parser,
 * `this.stream.pipe(writable)`. We wrap the builder (the client is made with `manualConnect`, so this is
 * before the first connection) and give each new stream a `pipe` that reads the bytes ourselves and writes
 * only the non-PUBLISH packets, whole, to mqtt.js's parser. The stream itself stays mqtt.js's: its writes,
 * `end`, `destroy`, and its `close` / `error` events are untouched. core/mqtt-intake.test.ts checks the seam
 * still exists, so an mqtt.js upgrade that moves it fails a test rather than silently parsing twice.
 */
import type { MqttClient } from "mqtt";
import { needMore, PublishReader, publish } from "./mqtt-publish.ts";

/**
 * Called for each PUBLISH: `payload` is a view into the socket's chunk. `connection` numbers the client's
 * connections (1, 2, …): a PUBACK belongs on the connection its PUBLISH came on. Returns whether to go on
 * reading; false pauses the connection until `resume()`.
 */
export type OnPublish = (
  topic: string,
  payload: Uint8Array,
  qos: number,
  dup: boolean,
  messageId: number,
  connection: number,
) => boolean;

export interface PublishIntake {
  /** The connection now in use (numbered as `OnPublish` numbers them); 0 before the first. */
  connection(): number;
  /** Goes on reading after `OnPublish` returned false (a no-op otherwise). */
  resume(): void;
}

export interface InterceptOptions {
  onPublish: OnPublish;
  /** The bytes were not MQTT (or taking a PUBLISH threw): the connection is closed, mqtt.js reconnects. */
  onBroken: (error: unknown) => void;
}

type Stream = MqttClient["stream"];
type Builder = (client: MqttClient) => Stream;
/** A writable as mqtt.js makes it; `write` returning false asks us to wait for "drain". */
type Sink = NodeJS.WritableStream;

/** Must be called before `client.connect()` on a client made with `manualConnect: true`. */
export function interceptPublishes(client: MqttClient, options: InterceptOptions): PublishIntake {
  const internals = client as unknown as { streamBuilder?: Builder };
  const build = internals.streamBuilder;
  if (typeof build !== "function")
    throw new Error("mqtt.js has no streamBuilder to wrap (an upgrade moved it?): cannot intercept PUBLISH");
  let connection = 0;
  let current: Tap | undefined;
  internals.streamBuilder = (c) => {
    const stream = build(c);
    current = new Tap(stream, ++connection, client.options.protocolVersion === 5 ? 5 : 4, options);
    return stream;
  };
  return {
    connection: () => connection,
    resume: () => current?.resume(),
  };
}

/** One connection's read path: socket chunks → PUBLISHes to the bridge, the rest to mqtt.js. */
class Tap {
  private readonly reader: PublishReader;
  private sink: Sink | undefined;
  /** The bridge asked us to stop (its buffer is full). */
  private held = false;
  /** mqtt.js's parser asked us to wait for "drain". */
  private blocked = false;
  private broken = false;

  constructor(
    private readonly stream: Stream,
    private readonly connection: number,
    protocolVersion: 4 | 5,
    private readonly options: InterceptOptions,
  ) {
    this.reader = new PublishReader(protocolVersion);
    // mqtt.js calls this once, right after building the stream (client.js `connect()`).
    (stream as { pipe: unknown }).pipe = <T extends Sink>(sink: T): T => {
      this.attach(sink);
      return sink;
    };
  }

  private attach(sink: Sink): void {
    this.sink = sink;
    sink.on("drain", () => {
      this.blocked = false;
      this.resume();
    });
    this.stream.on("data", (chunk: Buffer) => {
      this.reader.push(chunk);
      this.read();
    });
    // As pipe() would: mqtt.js's parser ends when the connection does.
    this.stream.on("end", () => sink.end());
  }

  resume(): void {
    if (this.broken || this.sink === undefined) return;
    this.held = false;
    this.read();
    if (!this.held && !this.blocked) this.stream.resume();
  }

  private read(): void {
    const reader = this.reader;
    const onPublish = this.options.onPublish;
    try {
      while (!this.held && !this.blocked && !this.broken) {
        const kind = reader.next();
        if (kind === needMore) return;
        if (kind === publish) {
          if (
            !onPublish(
              reader.topic,
              reader.payload,
              reader.qos,
              reader.dup,
              reader.messageId,
              this.connection,
            )
          ) {
            this.held = true;
            this.stream.pause();
          }
        } else if (!this.sink!.write(reader.packet)) {
          this.blocked = true;
          this.stream.pause();
        }
      }
    } catch (error) {
      // No resynchronising inside a byte stream: drop the connection; mqtt.js reconnects (and with a
      // persistent session the broker redelivers what was not acknowledged).
      this.broken = true;
      this.stream.destroy();
      this.options.onBroken(error);
    }
  }
}
