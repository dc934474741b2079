/**
 * An in-process core (core/service.ts) on an in-memory embedded database and the real Mosquitto, with a
 * publisher on its topic prefix: the setup of the end-to-end tests that do not need a core process.
 *
 * @example
 * const { database, core, publisher } = await startInProcessCore(prefix, { shareGroup: undefined });
 */

import { openDatabase } from "@energy/platform/db/client.ts";
import { createRegistry } from "@energy/platform/metrics.ts";
import { silent } from "@energy/testing/fixtures.ts";
import { mosquittoUrl } from "@energy/testing/servers.ts";
import mqtt from "mqtt";
import { type CoreOptions, startCore } from "../service.ts";

/** Lateness 2 s and idle timeout 1.5 s, so a test's last minute closes by itself and soon. */
export async function startInProcessCore(
  prefix: string,
  options: Pick<CoreOptions, "shareGroup"> & Partial<CoreOptions>,
) {
  const database = await openDatabase({ embeddedDir: "memory://" });
  const core = await startCore({
    mqttUrl: mosquittoUrl,
    topicPrefix: prefix,
    allowedLatenessMs: 2_000,
    idleTimeoutMs: 1_500,
    database,
    registry: createRegistry(),
    logger: silent,
    ...options,
  });
  const publisher = await mqtt.connectAsync(mosquittoUrl.href, { clientId: `${prefix}-pub` });
  return { database, core, publisher };
}
