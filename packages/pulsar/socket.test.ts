import { afterAll, describe, expect, test } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";
import { parseProducerAck } from "./producer.ts";
import { FramedSocket } from "./socket.ts";

describe("FramedSocket against Bun's WebSocket server", () => {
  const server = Bun.serve<string>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      if (new URL(req.url).pathname === "/missing") return new Response("no such topic", { status: 404 });
      const data = new URL(req.url).pathname === "/greet" ? "greet" : "";
      return srv.upgrade(req, { data }) ? undefined : new Response("upgrade failed", { status: 400 });
    },
    websocket: {
      open(ws) {
        // like Pulsar's consumer proxy: deliver as soon as the upgrade is done
        if (ws.data === "greet") ws.send("hello");
      },
      message(ws, message) {
        const text = String(message);
        if (text === "big") ws.send("x".repeat(100_000));
        else if (text === "bye") ws.close(1000, "server done");
        else ws.send(`echo:${text}`);
      },
    },
  });
  const base = `ws://127.0.0.1:${server.port}`;
  afterAll(() => server.stop(true));

  test("frames sent in one tick arrive in order, and so do their answers", async () => {
    const socket = await FramedSocket.open(`${base}/ok`, "open test socket", 5_000);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const got: string[] = [];
    const done = new Promise<void>((resolve) =>
      socket.addEventListener("message", (event) => {
        got.push(event.data);
        if (got.length === 2000) resolve();
      }),
    );
    for (let i = 0; i < 2000; i++) socket.send(`m${i}-${"é".repeat(i % 70)}`);
    await done;
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => `echo:m${i}-${"é".repeat(i % 70)}`));
    socket.close();
  });

  test("messages that arrive before a listener is attached are kept and delivered in order", async () => {
    const socket = await FramedSocket.open(`${base}/greet`, "open test socket", 5_000);
    await Bun.sleep(50); // "hello" has been read by now, with nobody listening
    const got: string[] = [];
    const done = new Promise<void>((resolve) =>
      socket.addEventListener("message", (event) => {
        got.push(event.data);
        if (got.length === 2) resolve();
      }),
    );
    socket.send("after");
    await done;
    expect(got).toEqual(["hello", "echo:after"]);
    socket.close();
  });

  test("a 100 kB message (64-bit length) comes through whole; a server close fires close once", async () => {
    const socket = await FramedSocket.open(`${base}/ok`, "open test socket", 5_000);
    const big = new Promise<string>((resolve) => socket.addEventListener("message", (e) => resolve(e.data)));
    socket.send("big");
    expect(await big).toBe("x".repeat(100_000));
    let closes = 0;
    const closed = new Promise<void>((resolve) =>
      socket.addEventListener("close", () => {
        closes++;
        resolve();
      }),
    );
    socket.send("bye");
    await closed;
    await Bun.sleep(50);
    expect(closes).toBe(1);
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    socket.send("ignored after close"); // no throw, like a closed WebSocket
  });

  test("a refused upgrade is a PipelineError with the status's code; a dead port is a connection error", async () => {
    const missing = await FramedSocket.open(`${base}/missing`, "open producer", 5_000).catch((e) => e);
    expect(missing).toBeInstanceOf(PipelineError);
    expect((missing as PipelineError).code).toBe("not-found");
    expect((missing as PipelineError).message).toContain("404");
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = dead.port;
    dead.stop(true);
    const refused = await FramedSocket.open(`ws://127.0.0.1:${port}/x`, "open producer", 5_000).catch(
      (e) => e,
    );
    expect((refused as PipelineError).code).toBe("connection");
  });
});

describe("producer ack frames", () => {
  test("the usual ok ack is read without JSON.parse, with the same result", () => {
    const text = '{"result":"ok","messageId":"COIKEAAwAA==","context":"7","errorCode":0,"schemaVersion":0}';
    expect(parseProducerAck(text)).toEqual({ result: "ok", messageId: "COIKEAAwAA==", context: "7" });
    const parsed = JSON.parse(text);
    expect(parseProducerAck(text)?.messageId).toBe(parsed.messageId);
  });

  test("errors, other field orders and garbage take the JSON.parse path", () => {
    const error = '{"result":"send-error:3","errorMsg":"Topic terminated","context":"9"}';
    expect(parseProducerAck(error)).toEqual({
      result: "send-error:3",
      errorMsg: "Topic terminated",
      context: "9",
    });
    const reordered = '{"messageId":"AA==","result":"ok","context":"1"}';
    expect(parseProducerAck(reordered)).toEqual({ messageId: "AA==", result: "ok", context: "1" });
    const noContext = parseProducerAck('{"result":"ok","messageId":"AA==","errorCode":0}');
    expect(noContext).toMatchObject({ result: "ok", messageId: "AA==" });
    expect(noContext?.context).toBeUndefined();
    expect(parseProducerAck("not json")).toBeUndefined();
  });
});
