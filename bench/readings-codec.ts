/**
 * CPU per reading of the readings log's codec (packages/logs/readings-codec.ts), binary against the JSON
 * it replaced, on the same records.
 *
 *   bun bench/readings-codec.ts [records=20000] [--out FILE.json]
 *
 * Records as the bridge builds them: A, one reading per record; B, a batch of 60 readings with a
 * watermark. `json` is what the codec wrote before (JSON.stringify of the record, decoded with JSON.parse
 * and the same shape checks, which the codec still applies to JSON records an older core logged). Each is
 * run 9 times after 3 warm-ups; the JSON output has ns per reading per run and the median. Process CPU
 * time (user + system, so GC threads count too), not wall clock.
 */
import { writeFileSync } from "node:fs";
import type { Reading, ReadingsRecord } from "@energy/contracts/records.ts";
import { readingsCodec } from "@energy/logs/readings-codec.ts";

const args = process.argv.slice(2);
const outFlag = args.indexOf("--out");
const outPath = outFlag >= 0 ? args.splice(outFlag, 2)[1] : undefined;
const recordsPerShape = Number(args[0] ?? 20_000);

const base = 1_780_000_000_000;
const makeRecord = (sensorId: number, n: number, watermark: boolean): ReadingsRecord => {
  const readings: Reading[] = [];
  for (let i = 0; i < n; i++)
    readings.push({
      sensorId,
      eventTimeMs: base + i * 1000 + (sensorId % 997),
      value: Math.round((200 + ((sensorId * 31 + i) % 9973) / 7) * 100) / 100,
      createdAtMs: base + n * 1000 + 40,
    });
  const record: ReadingsRecord = { sensorId, readings };
  if (watermark) record.watermarkMs = base + n * 1000;
  return record;
};
const shapes = {
  A: Array.from({ length: recordsPerShape }, (_, i) => makeRecord((i % 10_000) + 1, 1, false)),
  B: Array.from({ length: recordsPerShape / 20 }, (_, i) => makeRecord((i % 10_000) + 1, 60, true)),
};

const jsonEncoder = new TextEncoder();
const codecs = {
  binary: readingsCodec,
  json: {
    encode: (r: ReadingsRecord) => jsonEncoder.encode(JSON.stringify(r)),
    // The codec's own JSON path: records that do not start with its binary magic byte.
    decode: readingsCodec.decode,
  },
};

function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1_000;
}

let sink = 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, unknown> = {};
for (const [shape, records] of Object.entries(shapes)) {
  const readings = records.reduce((n, r) => n + r.readings.length, 0);
  for (const [name, codec] of Object.entries(codecs)) {
    const run = () => {
      const started = cpuNs();
      let bytes = 0;
      for (const r of records) {
        const encoded = codec.encode(r);
        bytes += encoded.byteLength;
        sink += codec.decode(encoded).readings.length;
      }
      return { ns: (cpuNs() - started) / readings, bytes: bytes / readings };
    };
    for (let i = 0; i < 3; i++) run();
    const runs = Array.from({ length: 9 }, run);
    results[`${shape}/${name}`] = {
      nsPerReading: runs.map((r) => Math.round(r.ns)),
      median: Math.round(median(runs.map((r) => r.ns))),
      bytesPerReading: Math.round(runs[0]!.bytes * 10) / 10,
    };
  }
}
const report = {
  recordsPerShape,
  measure: "process CPU time (user + system) of encode + decode per reading, ns",
  bun: Bun.version,
  results,
  sink: sink > 0,
};
const json = JSON.stringify(report, null, 2);
if (outPath) writeFileSync(outPath, `${json}\n`);
console.log(json);
