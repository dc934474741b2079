/**
 * SLOW (about 15 s) and DISRUPTIVE: restarts the broker with `scripts/pulsar.sh stop && start` while a
 * producer and a consumer are connected, and checks that both reconnect and that no message is lost.
 * Opt-in with PULSAR_RESTART_TEST=1 (.ci/run sets it): in a plain `bun test` on a shared dev machine it
 * would bounce the Pulsar that everyone else's tests are using. It also needs the Pulsar at PULSAR_URL
 * to be the one scripts/pulsar.sh manages (its `status` says running).
 */
import { describe, expect, test } from "bun:test";
import { pulsarForTests, uniqueTopic } from "@energy/testing/pulsar.ts";
import { announceSkip } from "@energy/testing/servers.ts";
import { PulsarConsumer } from "./consumer.ts";
import { PulsarProducer } from "./producer.ts";

const pulsar = await pulsarForTests();
const script = `${import.meta.dir}/../../scripts/pulsar.sh`;
const optedIn = process.env.PULSAR_RESTART_TEST === "1";
const managed = optedIn && pulsar !== undefined && Bun.spawnSync(["bash", script, "status"]).exitCode === 0;
if (!optedIn)
  announceSkip("Pulsar broker-restart test", "set PULSAR_RESTART_TEST=1 to run it (it restarts Pulsar)");
else if (pulsar && !managed) {
  const message = "the Pulsar at PULSAR_URL is not managed by scripts/pulsar.sh";
  if (process.env.CI) throw new Error(`CI: broker-restart test: ${message}`);
  announceSkip("Pulsar broker-restart test", message);
}
const enabled = managed;

async function run(command: string): Promise<void> {
  const proc = Bun.spawn(["bash", script, command], { stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) throw new Error(`scripts/pulsar.sh ${command} failed`);
}

describe.skipIf(!enabled)(
  "reconnect after a broker restart (slow; only with PULSAR_RESTART_TEST=1, set by CI when it owns the broker)",
  () => {
    test(
      "producer re-sends un-acked messages and consumer resubscribes: nothing lost",
      async () => {
        const url = pulsar!.url;
        const topic = uniqueTopic("restart");
        const consumer = await PulsarConsumer.subscribe({
          url,
          topic,
          subscription: "restart",
          initialPosition: "Earliest",
        });
        const producer = await PulsarProducer.create({ url, topic, sendTimeoutMs: 90_000 });
        const total = 60;
        const sends: Promise<string>[] = [];
        for (let i = 0; i < 20; i++) sends.push(producer.send(`r${i}`, { key: `k${i % 3}` }));
        await Promise.all(sends);

        const restart = (async () => {
          await run("stop");
          await run("start");
        })();
        for (let i = 20; i < total; i++) {
          sends.push(producer.send(`r${i}`, { key: `k${i % 3}` }));
          await Bun.sleep(100);
        }
        await restart;
        await Promise.all(sends);
        expect(producer.reconnects).toBeGreaterThanOrEqual(1);

        const seen = new Set<string>();
        while (seen.size < total) {
          const message = await consumer.receive(60_000);
          seen.add(new TextDecoder().decode(message.payload));
          consumer.ack(message);
        }
        expect(seen.size).toBe(total);
        expect(consumer.reconnects).toBeGreaterThanOrEqual(1);
        await producer.close();
        await consumer.close();
        await pulsar!.admin.deleteTopic(topic);
      },
      { timeout: 180_000 },
    );
  },
);
