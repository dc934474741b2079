/**
 * CPU per received PUBLISH: core/mqtt-publish.ts's reader against what it replaces, on the same bytes.
 *
 *   bun bench/mqtt-publish.ts [messages=200000] [--out FILE.json]
 *
 * The stream is what the core receives under bench ab: MQTT 5 QoS 1 PUBLISHes on `sensors/<id>/reading`
 * with a streaming reading as the edge encodes it, cut into 64 KiB chunks as a socket delivers them.
 * - `reader`: PublishReader, fields read and the payload taken, as the bridge does.
 * - `mqttPacket`: mqtt-packet's parser alone (the packet objects mqtt.js works from).
 * - `mqttJs`: mqtt.js 5.16.0's whole receive path, a client fed by an in-memory stream, messages taken
 *   through `handleMessage` with the PUBACK deferred as core/bridge.ts did before the reader.
 * Each is run 9 times after 3 warm-ups; the JSON has ns/message per run and the median. Process CPU time
 * (user + system, so the runtime's GC threads count too), not wall clock: on a shared machine the wall
 * clock mostly measures the run queue. Compare the ratios; absolute numbers move with the machine.
 */
import { writeFileSync } from "node:fs";
import { Duplex } from "node:stream";
import { needMore, PublishReader, publish } from "@energy/core/mqtt-publish.ts";
import { MqttClient } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";

const args = process.argv.slice(2);
const outFlag = args.indexOf("--out");
const outPath = outFlag >= 0 ? args.splice(outFlag, 2)[1] : undefined;
const messages = Number(args[0] ?? 200_000);
const version = { protocolVersion: 5 } as const;

const packets: Buffer[] = [];
for (let i = 0; i < messages; i++) {
  const id = (i % 10_000) + 1;
  const payload = `{"ts":${1_780_000_000_000 + i * 100},"value":${(200 + (i % 997) / 7).toFixed(3)}}`;
  packets.push(
    mqttPacket.generate(
      {
        cmd: "publish",
        topic: `sensors/${id}/reading`,
        payload: Buffer.from(payload),
        qos: 1,
        dup: false,
        retain: false,
        messageId: (i % 65_535) + 1,
      } as Packet,
      version,
    ),
  );
}
const stream = Buffer.concat(packets);
const chunks: Buffer[] = [];
for (let at = 0; at < stream.length; at += 65_536) chunks.push(Buffer.from(stream.subarray(at, at + 65_536)));

let sink = 0;

function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1_000;
}

function runReader(): number {
  const reader = new PublishReader(5);
  let n = 0;
  const started = cpuNs();
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let kind = reader.next(); kind !== needMore; kind = reader.next()) {
      if (kind === publish) {
        sink += reader.topic.length + reader.payload.byteLength + reader.messageId + reader.qos;
        n++;
      }
    }
  }
  if (n !== messages) throw new Error(`reader read ${n} of ${messages}`);
  return cpuNs() - started;
}

function runMqttPacket(): number {
  const parser = mqttPacket.parser(version);
  let n = 0;
  parser.on("packet", (p: Packet) => {
    if (p.cmd === "publish") {
      sink += p.topic.length + (p.payload as Buffer).byteLength + (p.messageId ?? 0) + p.qos;
      n++;
    }
  });
  const started = cpuNs();
  for (const chunk of chunks) parser.parse(chunk);
  if (n !== messages) throw new Error(`mqtt-packet read ${n} of ${messages}`);
  return cpuNs() - started;
}

const deferred = new Error("PUBACK deferred");
async function runMqttJs(): Promise<number> {
  let fed: (() => void) | undefined;
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });
  const client = new MqttClient(() => socket as never, {
    protocolVersion: 5,
    protocol: "mqtt",
    keepalive: 0,
    reconnectPeriod: 0,
    log: () => {},
  });
  let n = 0;
  const done = new Promise<void>((resolve) => {
    fed = resolve;
  });
  client.handleMessage = (packet, callback) => {
    sink += packet.topic.length + (packet.payload as Buffer).byteLength + (packet.messageId ?? 0);
    if (++n === messages) fed?.();
    callback(deferred);
  };
  socket.push(
    mqttPacket.generate({ cmd: "connack", sessionPresent: false, reasonCode: 0 } as Packet, version),
  );
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  const started = cpuNs();
  for (const chunk of chunks) socket.push(chunk);
  await done;
  const elapsed = cpuNs() - started;
  client.end(true);
  return elapsed;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perMessage = (ns: number) => Math.round((ns / messages) * 10) / 10;

const results: Record<string, { nsPerMessage: number[]; median: number }> = {};
for (const [name, run] of [
  ["reader", runReader],
  ["mqttPacket", runMqttPacket],
  ["mqttJs", runMqttJs],
] as const) {
  for (let i = 0; i < 3; i++) await run();
  const runs: number[] = [];
  for (let i = 0; i < 9; i++) runs.push(perMessage(await run()));
  results[name] = { nsPerMessage: runs, median: median(runs) };
}
const report = {
  messages,
  measure: "process CPU time (user + system) per message, ns",
  bytesPerMessage: Math.round(stream.length / messages),
  bun: Bun.version,
  results,
  speedupVsMqttJs: Math.round((results.mqttJs!.median / results.reader!.median) * 10) / 10,
  sink: sink > 0,
};
const json = JSON.stringify(report, null, 2);
if (outPath) writeFileSync(outPath, `${json}\n`);
console.log(json);
