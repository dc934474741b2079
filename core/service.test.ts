/**
 * The core end to end against the real Mosquitto (CI's machine runs it on 127.0.0.1:1883): MQTT in, windows
 * and dead letters out in PostgreSQL (embedded PGlite here; lib/db tests cover the server).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadLetters, windows } from "@energy/contracts/db/schema.ts";
import type { Database } from "@energy/platform/db/client.ts";
import { pulsarForTests } from "@energy/testing/pulsar.ts";
import { mosquittoUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { eq } from "drizzle-orm";
import type { MqttClient } from "mqtt";
import type { Core, CoreOptions } from "./service.ts";
import { startInProcessCore } from "./testing/in-process-core.ts";

const skip = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);
const pulsar = await pulsarForTests();

coreContract("in-process logs", skip, async () => ({}));
coreContract("Pulsar logs (Avro windows)", skip || !pulsar, async () => {
  // A namespace of its own per run: the readings and windows topics start empty.
  const ns = `energy-test/core-${Date.now().toString(36)}`;
  await pulsar!.admin.ensureNamespace(ns);
  return { pulsarUrl: new URL(pulsar!.url), pulsarNamespace: ns, pulsarPartitions: 2 };
});

function coreContract(
  name: string,
  skipIt: boolean,
  logOptions: () => Promise<Pick<CoreOptions, "pulsarUrl" | "pulsarNamespace" | "pulsarPartitions">>,
) {
  describe.skipIf(skipIt)(`core against the real Mosquitto, ${name}`, () => {
    // A prefix of our own: the machine's broker is shared with other tests and tools.
    const prefix = `test-core-${process.pid}-${Date.now()}`;
    let database: Database;
    let core: Core;
    let publisher: MqttClient;

    beforeAll(async () => {
      ({ database, core, publisher } = await startInProcessCore(prefix, {
        shareGroup: `core-${process.pid}`,
        ...(await logOptions()),
      }));
      // PGlite takes seconds to start on a loaded machine (7.8 s measured with other jobs running).
    }, 30_000);

    afterAll(async () => {
      await publisher?.endAsync();
      await database?.close();
    });

    test("streaming and batch messages become the same windows; bad ones become dead letters", async () => {
      const t0 = Date.UTC(2025, 11, 8, 0, 0, 0) / 1000;
      const value = (s: number) => 700 + (s % 7) * 1.5;
      // Sensor 1 streams (A) two minutes; sensor 2 sends the same readings as two batches (B).
      for (let s = 0; s < 120; s++) {
        if (s === 13) continue; // a missing second, imputed in the window
        const body = {
          sensor_id: 1,
          sensor_energy_value: value(s),
          sensor_timestamp: t0 + s,
          message_creation_time: Date.now(),
        };
        await publisher.publishAsync(`${prefix}/1/reading`, JSON.stringify(body), { qos: 1 });
      }
      for (const m of [0, 1]) {
        const readings: [number, number][] = [];
        for (let s = m * 60; s < m * 60 + 60; s++) if (s !== 13) readings.push([t0 + s, value(s)]);
        const batch = {
          sensor_id: 2,
          interval_start: t0 + m * 60,
          interval_end: t0 + m * 60 + 60,
          message_creation_time: Date.now(),
          readings,
          complete: true,
        };
        await publisher.publishAsync(`${prefix}/2/batch`, JSON.stringify(batch), { qos: 1 });
      }
      await publisher.publishAsync(`${prefix}/3/reading`, "{not json", { qos: 1 });
      await publisher.publishAsync(
        `${prefix}/3/reading`,
        JSON.stringify({ sensor_id: 3, sensor_energy_value: "x" }),
        {
          qos: 1,
        },
      );
      // Wait until all four windows are stored (through the Pulsar topics in the Pulsar variant), then stop.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await core.metrics.windowsStored.get()).values[0]?.value !== 4) {
        await Bun.sleep(100);
      }
      await core.stop();

      const rows = await database.db.select().from(windows).orderBy(windows.sensorId, windows.windowStart);
      expect(rows.map((r) => [r.sensorId, r.windowStart.getTime() / 1000, r.count])).toEqual([
        [1, t0, 59],
        [1, t0 + 60, 60],
        [2, t0, 59],
        [2, t0 + 60, 60],
      ]);
      const strip = (r: (typeof rows)[number]) => [
        r.windowStart.getTime(),
        r.sum,
        r.mean,
        r.min,
        r.max,
        r.slots,
        r.imputed,
      ];
      expect(strip(rows[0]!)).toEqual(strip(rows[2]!));
      expect(strip(rows[1]!)).toEqual(strip(rows[3]!));
      expect(rows[0]!.imputed[13]).toBe(true);
      expect(rows[0]!.imputedCount).toBe(1);

      const letters = await database.db
        .select()
        .from(deadLetters)
        .where(eq(deadLetters.source, `${prefix}/3/reading`));
      expect(letters.map((l) => l.reason).sort()).toEqual(["bad_value", "not_json"]);
      expect(new TextDecoder().decode(letters.find((l) => l.reason === "not_json")!.raw)).toBe("{not json");
      const invalid = await core.metrics.invalid.get();
      expect(invalid.values.reduce((n, v) => n + v.value, 0)).toBe(2);
    });
  });
}
