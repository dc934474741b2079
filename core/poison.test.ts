/**
 * Every poison message of issue 11, published through the real Mosquitto to a running core: none may stop
 * it, block storage, or make the next good readings late. Each is rejected with a typed reason and
 * dead-lettered (bounded), and the valid readings that follow are stored in their windows.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadLetters, windows } from "@energy/contracts/db/schema.ts";
import type { Database } from "@energy/platform/db/client.ts";
import { mosquittoUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { like } from "drizzle-orm";
import type { MqttClient } from "mqtt";
import type { Core } from "./service.ts";
import { startInProcessCore } from "./testing/in-process-core.ts";

const skip = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);

describe.skipIf(skip)("poison messages through the real Mosquitto", () => {
  const prefix = `test-poison-${process.pid}-${Date.now().toString(36)}`;
  let database: Database;
  let core: Core;
  let publisher: MqttClient;

  beforeAll(async () => {
    ({ database, core, publisher } = await startInProcessCore(prefix, { shareGroup: undefined }));
  }, 60_000);

  afterAll(async () => {
    await publisher?.endAsync();
    await core?.stop();
    await database?.close();
  });

  test("each is a typed dead letter, the core stays up, and the next valid readings are stored, none late", async () => {
    const nowS = Math.floor(Date.now() / 1000);
    // A whole minute ten minutes ago: in the event-time window, closed by the idle timeout.
    const t0 = Math.floor((nowS - 600) / 60) * 60;
    const send = (level: string, kind: string, body: string | Uint8Array) =>
      publisher.publishAsync(`${prefix}/${level}/${kind}`, Buffer.from(body), { qos: 1 });
    const batch = (id: number, extra: Record<string, unknown>) =>
      JSON.stringify({
        sensor_id: id,
        interval_start: t0 - 60,
        interval_end: t0,
        message_creation_time: Date.now(),
        readings: [],
        ...extra,
      });

    // 1. An epoch-seconds timestamp of 1e13 (RangeError: Invalid Date ended the core), alone and in a batch.
    await send("101", "reading", '{"sensor_id":101,"sensor_energy_value":5,"sensor_timestamp":1e13}');
    await send("101", "batch", batch(101, { readings: [[1e13, 5]] }));
    // 2. A sensor id beyond the integer column (blocked every later window).
    await send(
      "3000000000",
      "reading",
      JSON.stringify({ sensor_id: 3_000_000_000, sensor_energy_value: 5, sensor_timestamp: t0 }),
    );
    // 3. One NUL byte (its dead letter's detail held U+0000, which stopped dead-letter storage).
    await send("102", "reading", new Uint8Array([0]));
    // 4. A complete batch promising interval_end 1e300 or three hours ahead (made every later reading late).
    await send("103", "batch", batch(103, { complete: true, interval_end: 1e300 }));
    await send("103", "batch", batch(103, { complete: true, interval_end: nowS + 3 * 3_600 }));
    // 5. Implausible values, aliasing topic ids, an oversized payload.
    for (const v of [-50_000, 1e300])
      await send(
        "104",
        "reading",
        JSON.stringify({ sensor_id: 104, sensor_energy_value: v, sensor_timestamp: t0 }),
      );
    for (const level of ["1e3", "0x10", " 7 ", ""])
      await send(
        level,
        "reading",
        JSON.stringify({ sensor_id: 1000, sensor_energy_value: 1, sensor_timestamp: t0 }),
      );
    await send("105", "reading", new Uint8Array(300_000).fill(0x41));

    // The good readings that follow: sensors 101 and 103 stream the whole minute.
    for (let s = 0; s < 60; s++)
      for (const id of [101, 103])
        await send(
          String(id),
          "reading",
          JSON.stringify({
            sensor_id: id,
            sensor_energy_value: 700 + s,
            sensor_timestamp: t0 + s,
            message_creation_time: Date.now(),
          }),
        );

    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await core.metrics.windowsStored.get()).values[0]?.value !== 2)
      await Bun.sleep(100);
    await Bun.sleep(1_200); // one more dead-letter flush

    const rows = await database.db.select().from(windows).orderBy(windows.sensorId);
    expect(rows.map((r) => [r.sensorId, r.windowStart.getTime() / 1000, r.count])).toEqual([
      [101, t0, 60],
      [103, t0, 60],
    ]);
    expect((await core.metrics.late.get()).values[0]?.value ?? 0).toBe(0);
    expect(await core.checks.mqtt!()).toBe(true);
    expect(await core.checks.windowStore!()).toBe(true);
    expect(await core.checks.deadLetterStore!()).toBe(true);

    const letters = await database.db
      .select()
      .from(deadLetters)
      .where(like(deadLetters.source, `${prefix}/%`));
    const reasons = letters.map((l) => l.reason).sort();
    expect(reasons).toEqual(
      [
        "timestamp_out_of_range", // 1e13
        "timestamp_out_of_range", // 1e13 batch entry
        "bad_sensor_id", // 3000000000 is beyond the integer column
        "not_json", // NUL
        "timestamp_out_of_range", // interval_end 1e300
        "timestamp_out_of_range", // interval_end 3 h ahead
        "out_of_range", // -50,000 W
        "out_of_range", // 1e300 W
        "bad_sensor_id", // 1e3
        "bad_sensor_id", // 0x10
        "bad_sensor_id", // " 7 "
        "bad_sensor_id", // empty level
        "too_large",
      ].sort(),
    );
    const nul = letters.find((l) => l.reason === "not_json")!;
    expect(new Uint8Array(nul.raw)).toEqual(new Uint8Array([0]));
    const big = letters.find((l) => l.reason === "too_large")!;
    expect(big.raw.byteLength).toBe(4_096);
    expect(big.detail).toMatch(/300000 bytes, sha256 [0-9a-f]{64}/);
  }, 60_000);
});
