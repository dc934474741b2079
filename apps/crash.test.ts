/**
 * Crash test (issue 4): the core runs as a child process (`bun apps/core.ts`) against the real Mosquitto,
 * Pulsar and PostgreSQL, is killed with SIGKILL while a window is open (some of its readings already in the
 * Pulsar readings topic, others on their way from MQTT), and a new core takes over the same MQTT session,
 * Pulsar subscriptions and database. The windows it leaves in PostgreSQL must equal those the pure
 * `TumblingWindower` computes from the same readings: nothing lost, nothing counted twice, no duplicate row.
 *
 * What makes that hold: the bridge acknowledges an MQTT message only once its readings are in Pulsar, on a
 * persistent session (fixed client id), so Mosquitto redelivers what the dead core had taken and queues what
 * is published while no core runs; the windower acks a readings record only after its window is in the
 * windows topic, so Pulsar redelivers the open window's records; window rows are upserts.
 */
import { describe, expect, test } from "bun:test";
import type { Reading } from "@energy/contracts/records.ts";
import { comparableRow, coreProcessBed, metric } from "@energy/core/testing/core-process.ts";
import { SensorBatcher } from "@energy/edge/batcher.ts";
import { pulsarForTests } from "@energy/testing/pulsar.ts";
import { mosquittoUrl, postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { until } from "@energy/testing/until.ts";

const skipMqtt = await skipUnlessReachable("Mosquitto", mosquittoUrl, 1883);
const skipPostgres = await skipUnlessReachable("PostgreSQL", postgresUrl, 5432);
const pulsar = await pulsarForTests();

// The workload: ten sensors stream one reading per second (architecture A), sensor 5 sends 10-second
// complete batches (B), three minutes of event time in December 2025. Sensor 2 misses some seconds, so
// windows hold imputed slots.
const t0 = Date.UTC(2025, 11, 8, 0, 0, 0) / 1000;
const seconds = 180;
const streamingSensors = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11];
const batchSensor = 5;
const batchSeconds = 10;
const latenessS = 5;
const idleTimeoutS = 3;

const value = (sensorId: number, s: number) => 400 + sensorId * 100 + ((s * 37 + sensorId * 11) % 101) / 10;
const present = (sensorId: number, s: number) => !(sensorId === 2 && s % 17 === 5);

interface Outgoing {
  topic: string;
  body: string;
  /** The readings it carries, as the core parses them. */
  readings: Reading[];
}

/** The MQTT messages of event second `s`, in publishing order (a batch goes out at its interval's end). */
function messagesAt(prefix: string, s: number, createdAtMs: number): Outgoing[] {
  const out: Outgoing[] = [];
  for (const sensorId of streamingSensors) {
    if (!present(sensorId, s)) continue;
    const body = {
      sensor_id: sensorId,
      sensor_energy_value: value(sensorId, s),
      sensor_timestamp: t0 + s,
      message_creation_time: createdAtMs,
    };
    out.push({
      topic: `${prefix}/${sensorId}/reading`,
      body: JSON.stringify(body),
      readings: [{ sensorId, eventTimeMs: (t0 + s) * 1000, value: value(sensorId, s), createdAtMs }],
    });
  }
  if ((s + 1) % batchSeconds === 0) {
    // The edge's own batcher builds the batch, as a smart sensor would; a fresh one per interval keeps this
    // function pure (messagesBefore replays it).
    const batcher = new SensorBatcher(batchSensor, { intervalMs: batchSeconds * 1000 });
    for (let b = s + 1 - batchSeconds; b <= s; b++)
      batcher.add(
        { sensorId: batchSensor, eventTimeMs: (t0 + b) * 1000, value: value(batchSensor, b), createdAtMs },
        createdAtMs,
      );
    for (const body of batcher.flushDue((t0 + s + 1) * 1000, createdAtMs)) {
      out.push({
        topic: `${prefix}/${batchSensor}/batch`,
        body: JSON.stringify(body),
        readings: body.readings.map(([t, v]) => ({
          sensorId: batchSensor,
          eventTimeMs: t * 1000,
          value: v,
          createdAtMs,
        })),
      });
    }
  }
  return out;
}

describe.skipIf(skipMqtt || skipPostgres || !pulsar)(
  "core crash (SIGKILL mid-window) on real servers",
  () => {
    const bed = coreProcessBed({
      name: "crash",
      pulsar: pulsar!,
      cores: ["crash"],
      partitions: 2,
      latenessS,
      idleTimeoutS,
    });
    const { prefix } = bed;
    const clientId = bed.clientIds[0]!;

    test("windows after a SIGKILL and restart equal the reference: 0 readings lost, 0 duplicate rows", async () => {
      const startedAt = Date.now();
      const sent: Reading[] = [];
      let messagesSent = 0;
      const publish = async (messages: Outgoing[]) => {
        await Promise.all(messages.map((m) => bed.publisher.publishAsync(m.topic, m.body, { qos: 1 })));
        for (const m of messages) sent.push(...m.readings);
        messagesSent += messages.length;
      };
      const messagesBefore = (s: number) => {
        let n = 0;
        for (let i = 0; i < s; i++) n += messagesAt(prefix, i, 0).length;
        return n;
      };

      // 1. The first core; minute 0 and most of minute 1, paced so the core keeps up (and no sensor looks idle).
      const first = await bed.start(clientId);
      for (let s = 0; s < 100; s++) {
        await publish(messagesAt(prefix, s, Date.now()));
        await Bun.sleep(15);
      }
      // Minute 0 is closed and published (its watermark passed), minute 1 open with readings up to second 80
      // at least in the readings topic.
      const sensors = streamingSensors.length + 1;
      await until(
        "minute 0's windows published and minute 1's readings bridged",
        async () =>
          (await metric(first.opsUrl, "pulsar_client_messages_published_total", { topic: "windows" })) >=
            sensors &&
          (await metric(first.opsUrl, "pulsar_client_messages_published_total", { topic: "readings" })) >=
            messagesBefore(80),
        2_000,
        first.log,
      );
      const windowsBeforeKill = await metric(first.opsUrl, "pulsar_client_messages_published_total", {
        topic: "windows",
      });
      const readingsBridgedBeforeKill = await metric(first.opsUrl, "pulsar_client_messages_published_total", {
        topic: "readings",
      });
      expect(windowsBeforeKill).toBe(sensors); // minute 1 is open: nothing of it emitted

      // 2. The kill. The core keeps bridging a paced stream, is frozen (SIGSTOP) in the middle of it with
      // whatever it holds between MQTT and Pulsar (the bridge publishes every 20 ms), receives more while
      // frozen (the broker hands them to its socket: in flight, never acknowledged), then gets SIGKILL.
      for (let s = 100; s < 112; s++) {
        await publish(messagesAt(prefix, s, Date.now()));
        await Bun.sleep(10);
      }
      first.proc.kill("SIGSTOP");
      let sentToFrozenCore = 0;
      for (let s = 112; s < 120; s++) {
        const messages = messagesAt(prefix, s, Date.now());
        await publish(messages);
        sentToFrozenCore += messages.length;
      }
      await Bun.sleep(200);
      first.proc.kill("SIGKILL");
      await first.proc.exited;

      // 3. While no core runs: the broker queues these for the persistent session.
      for (let s = 120; s < seconds; s++) await publish(messagesAt(prefix, s, Date.now()));

      // 4. A new core on the same session, subscriptions and database finishes the job.
      const second = await bed.start(clientId);
      const reference = bed.reference(sent);
      const minutes = seconds / 60;
      expect(reference).toHaveLength(sensors * minutes);
      const distinctReadings = sent.length;

      await until(
        `all ${reference.length} windows stored`,
        async () => {
          const [row] =
            await bed.db`select count(*)::int as n, coalesce(sum(count), 0)::int as readings from windows`;
          return row!.n === reference.length && row!.readings === distinctReadings;
        },
        30_000,
        second.log,
      );
      // The redelivered records of minute 1 came back from Pulsar to the new core's windower.
      const readingsReceivedAfterRestart = await metric(
        second.opsUrl,
        "pulsar_client_messages_received_total",
        { topic: "readings" },
      );
      const ready = (await (await fetch(`${second.opsUrl}/ready`)).json()) as {
        dependencies: Record<string, string>;
      };
      second.proc.kill("SIGTERM");
      expect(await second.proc.exited).toBe(0);
      const redelivered = Number(/MQTT bridge stopped \{"redelivered":(\d+)\}/.exec(second.log())?.[1] ?? -1);

      const rows = await bed.expectStored(reference);
      const stored = rows.map(comparableRow);
      // No reading came back as "late" (a window emitted twice with different content) or was refused.
      const [letters] = await bed.db`select count(*)::int as n from dead_letters`;
      expect(letters!.n).toBe(0);
      const storedReadings = stored.reduce((n, w) => n + w.count, 0);
      expect(storedReadings).toBe(distinctReadings);

      // Minute 1's streaming records bridged before the kill were not acked (their windows were open):
      // Pulsar redelivered them, so the new core received at least every streaming record from second 60 on.
      // (Sensor 5's minute 1 may have closed before the kill: its complete batch at 119 s promises it.)
      let streamingFrom60 = 0;
      for (let s = 60; s < seconds; s++)
        streamingFrom60 += messagesAt(prefix, s, 0).filter((m) => m.topic.endsWith("/reading")).length;
      expect(readingsReceivedAfterRestart).toBeGreaterThanOrEqual(streamingFrom60);
      // The broker redelivered what the killed core had taken without acknowledging it: at least all it was
      // sent while frozen, plus what it held between MQTT and Pulsar at the kill.
      expect(redelivered).toBeGreaterThanOrEqual(sentToFrozenCore);
      // /ready names each Pulsar producer and consumer.
      expect(ready.dependencies).toMatchObject({
        "readingsLog producer": "up",
        "readingsLog consumer windower": "up",
        "windowsLog producer": "up",
      });
      // The window store writes from the windower (core/window-store.ts): no consumer of its own.
      expect(Object.keys(ready.dependencies)).not.toContain("windowsLog consumer window-store");

      const absorbed = rows.reduce((n, r) => n + (r.duplicates as number), 0);
      console.log(
        JSON.stringify({
          crashTestMs: Date.now() - startedAt,
          messagesSent,
          readings: distinctReadings,
          windowsCompared: stored.length,
          readingsBridgedBeforeKill,
          sentToFrozenCore,
          // Read by the core before the freeze but not acknowledged (in its buffer, or in Pulsar awaiting the
          // PUBACK): timing-dependent, usually 0 here; core/bridge.test.ts pins that case down.
          takenNotAckedAtKill: redelivered - sentToFrozenCore,
          mqttRedeliveredToNewCore: redelivered,
          readingsRecordsReceivedAfterRestart: readingsReceivedAfterRestart,
          redeliveredCopiesAbsorbed: absorbed,
        }),
      );
    }, 60_000);
  },
);
