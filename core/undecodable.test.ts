/**
 * Records on the core's readings topic that its codec cannot decode (a foreign producer, an older core):
 * the windower's subscription dead-letters them in the core's `dead_letters` table as `undecodable`, counts
 * them in `core_invalid_messages_total`, and stays connected (the contract, packages/testing/log-contract.ts,
 * checks that the records around them are delivered). The core does not read its windows topic (the window
 * store writes from the windower): garbage there is the forecaster's to dead-letter (ml/forecaster/windows-log.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadLetters } from "@energy/contracts/db/schema.ts";
import type { Database } from "@energy/platform/db/client.ts";
import { PulsarProducer } from "@energy/pulsar/producer.ts";
import { runId } from "@energy/testing/fixtures.ts";
import { pulsarForTests } from "@energy/testing/pulsar.ts";
import { mosquittoUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { until } from "@energy/testing/until.ts";
import { like } from "drizzle-orm";
import type { MqttClient } from "mqtt";
import type { Core } from "./service.ts";
import { startInProcessCore } from "./testing/in-process-core.ts";

const skip = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);
const pulsar = await pulsarForTests();

describe.skipIf(skip || !pulsar)("undecodable records on the core's Pulsar topics", () => {
  // A namespace of its own per run: the readings and windows topics start empty.
  const ns = `energy-test/undecodable-${runId()}`;
  let database: Database;
  let core: Core;
  let publisher: MqttClient;

  beforeAll(async () => {
    await pulsar!.admin.ensureNamespace(ns);
    ({ database, core, publisher } = await startInProcessCore(`test-undecodable-${runId()}`, {
      shareGroup: undefined,
      pulsarUrl: new URL(pulsar!.url),
      pulsarNamespace: ns,
      pulsarPartitions: 2,
    }));
  }, 60_000);

  afterAll(async () => {
    await publisher?.endAsync();
    await core?.stop();
    await database?.close();
  });

  test("each is a dead letter with its bytes, counted, and the consumers stay connected", async () => {
    const garbage = { readings: "not a readings record", windows: "not an Avro window" };
    // Garbage on the windows topic too: the core must not trip over it (it has no consumer there).
    for (const [topic, payload] of Object.entries(garbage)) {
      const producer = await PulsarProducer.create({
        url: pulsar!.url,
        topic: `persistent://${ns}/${topic}`,
      });
      await producer.send(payload, { key: "7" });
      await producer.close();
    }
    const stored = () =>
      database.db
        .select()
        .from(deadLetters)
        .where(like(deadLetters.source, "log/%"))
        .orderBy(deadLetters.source);
    await until("a dead letter", async () => (await stored()).length >= 1, 20_000);
    await Bun.sleep(300); // room for a wrong second letter
    const letters = await stored();
    expect(letters.map((l) => [l.source, l.reason])).toEqual([["log/readings/windower", "undecodable"]]);
    expect(letters.map((l) => new TextDecoder().decode(l.raw))).toEqual([garbage.readings]);
    const invalid = await core.metrics.invalid.get();
    expect(invalid.values.find((v) => v.labels.reason === "undecodable")?.value).toBe(1);
    expect(core.checks["readingsLog consumer windower"]!()).toBe(true);
    expect(core.checks["windowsLog producer"]!()).toBe(true);
  }, 40_000);
});
